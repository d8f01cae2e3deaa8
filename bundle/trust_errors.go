package bundle

import "errors"

// ErrKeyNeeded is wrapped when a bundle is signed and no public key was
// given to check its signature, nor leave to skip the check
// (AllowUnsigned).
var ErrKeyNeeded = errors.New("its public key is needed to check the signature")
