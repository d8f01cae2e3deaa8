package sign

import (
	"context"
	"crypto"
	"errors"
	"slices"
)

// PendingSigner is a Signer still being opened in the background: a key
// file being decrypted (LoadSignerFileAsync: the scrypt of the cosign
// format takes a core for a few tenths of a second and 64 MiB), or any
// other Signer that takes time to reach (Async). Its methods wait for it.
//
// Pack knows it: it reads the sources and plans the bundle meanwhile, and
// with a FileSink writes the blobs too, and it fails at once, with the
// error opening the key gave, when opening fails (see bundle.PackOptions).
// A PendingSigner is safe for concurrent use; the signer is opened once,
// however many wait for it.
type PendingSigner struct {
	done   chan struct{}
	signer Signer // set before done is closed
	err    error
}

var _ Signer = (*PendingSigner)(nil)

// loadSignerFile is LoadSignerFile; tests count its calls.
var loadSignerFile = LoadSignerFile

// LoadSignerFileAsync starts LoadSignerFile(path, password) in a goroutine
// and returns at once: the signer it returns is what LoadSignerFile
// returns, and its error the same error, word for word, once the key is
// opened. password is copied (the caller may clear its own copy).
func LoadSignerFileAsync(path string, password []byte) *PendingSigner {
	if password != nil {
		password = slices.Clone(password)
	}
	load := loadSignerFile
	return Async(func() (Signer, error) {
		s, err := load(path, password)
		if err != nil {
			return nil, err // not a nil *KeySigner in an interface
		}
		return s, nil
	})
}

// Async runs open in a goroutine, once, and returns a PendingSigner for
// the Signer it returns. A nil Signer without an error is an error.
func Async(open func() (Signer, error)) *PendingSigner {
	p := &PendingSigner{done: make(chan struct{})}
	go func() {
		defer close(p.done)
		p.signer, p.err = open()
		if p.err == nil && p.signer == nil {
			p.err = errNoSigner
		}
	}()
	return p
}

var errNoSigner = errors.New("opening the signer returned no signer and no error")

// Done is closed once the signer is open, or opening it failed.
func (p *PendingSigner) Done() <-chan struct{} { return p.done }

// Wait waits until the signer is open and returns it, or the error opening
// it gave; or ctx's error, when ctx ends first (opening goes on: a later
// Wait gets its result).
func (p *PendingSigner) Wait(ctx context.Context) (Signer, error) {
	select {
	case <-p.done:
		return p.signer, p.err
	default:
	}
	select {
	case <-p.done:
		return p.signer, p.err
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// Ready returns the signer when it is open, without waiting: ok is false
// while it is being opened, and err is the error opening it gave.
func (p *PendingSigner) Ready() (s Signer, ok bool, err error) {
	select {
	case <-p.done:
		return p.signer, true, p.err
	default:
		return nil, false, nil
	}
}

// WithCancel returns a copy of ctx that is cancelled, with the error
// opening the signer gave as its cause (context.Cause), as soon as opening
// fails: work started meanwhile (reading sources for a pack) stops at once
// instead of running on to a pack that cannot be signed. The caller calls
// cancel when done, which ends the watching too.
func (p *PendingSigner) WithCancel(ctx context.Context) (context.Context, context.CancelFunc) {
	ctx, cancel := context.WithCancelCause(ctx)
	go func() {
		if _, err := p.Wait(ctx); err != nil && ctx.Err() == nil {
			cancel(err)
		}
	}()
	return ctx, func() { cancel(context.Canceled) }
}

// Sign waits for the signer (or ctx) and signs with it.
func (p *PendingSigner) Sign(ctx context.Context, message []byte) ([]byte, error) {
	s, err := p.Wait(ctx)
	if err != nil {
		return nil, err
	}
	return s.Sign(ctx, message)
}

// KeyID waits for the signer and returns its key ID; "" when opening it
// failed (Wait returns the error).
func (p *PendingSigner) KeyID() string {
	if s, err := p.Wait(context.Background()); err == nil {
		return s.KeyID()
	}
	return ""
}

// Algorithm waits for the signer and returns its algorithm; "" when
// opening it failed.
func (p *PendingSigner) Algorithm() string {
	if s, err := p.Wait(context.Background()); err == nil {
		return s.Algorithm()
	}
	return ""
}

// Public waits for the signer and returns its public key; nil when
// opening it failed.
func (p *PendingSigner) Public() crypto.PublicKey {
	if s, err := p.Wait(context.Background()); err == nil {
		return s.Public()
	}
	return nil
}
