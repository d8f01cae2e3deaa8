//go:build pkcs11

package main

import (
	"errors"

	"github.com/airgap-bundle/bundle/sign"
)

func init() { openTokenSigner = openPKCS11 }

// openPKCS11 opens the token key a pkcs11: URI names. The module comes
// from the URI's module-path or BUNDLE_PKCS11_MODULE, the PIN from
// BUNDLE_PKCS11_PIN or the terminal: never from an argument.
func openPKCS11(con *console, uri string) (signerCloser, error) {
	cfg, err := sign.ParsePKCS11URI(uri)
	if err != nil {
		return nil, usageError{err}
	}
	if cfg.Module == "" {
		cfg.Module = con.getenv("BUNDLE_PKCS11_MODULE")
	}
	if cfg.Module == "" {
		return nil, usageError{errors.New("no PKCS#11 module: give module-path=PATH in the URI or set BUNDLE_PKCS11_MODULE")}
	}
	pin, ok := con.lookupEnv("BUNDLE_PKCS11_PIN")
	if !ok {
		b, err := password(con, false)
		if err != nil {
			return nil, err
		}
		pin = string(b)
	}
	cfg.PIN = pin
	return sign.OpenPKCS11Signer(cfg)
}
