// Command kms-signer packs an OCI layout into volumes signed by a key that
// never leaves a key management service, to show how a KMS plugs into
// bundle.Pack through the sign.Signer interface.
//
//	kms-signer KEYREF LAYOUT_DIR OUT_DIR
//
// KEYREF is a sigstore KMS reference: awskms://…, gcpkms://…,
// azurekms://…, hashivault://…, or sigstore's test provider fakekms://
// (an in-memory key, which the tests use). The KMS does the signing; the
// public key it reports is written to OUT_DIR/bundle.pub, for verify and
// unpack.
//
// Cloud SDKs stay out of the bundle module: sigstore's kms package finds
// providers registered by an import, so a site's own build adds one line to
// a module of its own (not this one), e.g.
//
//	import _ "github.com/sigstore/sigstore/pkg/signature/kms/aws" // module github.com/sigstore/sigstore/pkg/signature/kms/aws
//
// or installs sigstore's KMS plugin binary (sigstore-kms-NAME on PATH,
// for a KEYREF NAME://…), which needs no import at all. This example
// imports only the fake provider, which is part of sigstore's main module.
package main

import (
	"bytes"
	"context"
	"crypto"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"os"
	"path/filepath"

	"github.com/airgap-bundle/bundle/bundle"
	"github.com/airgap-bundle/bundle/oci"
	"github.com/airgap-bundle/bundle/sign"
	"github.com/sigstore/sigstore/pkg/signature/kms"
	_ "github.com/sigstore/sigstore/pkg/signature/kms/fake" // fakekms://, for the tests
	"github.com/sigstore/sigstore/pkg/signature/options"
)

func main() {
	if len(os.Args) != 4 {
		fmt.Fprintln(os.Stderr, "usage: kms-signer KEYREF LAYOUT_DIR OUT_DIR")
		os.Exit(2)
	}
	if err := run(context.Background(), os.Args[1], os.Args[2], os.Args[3]); err != nil {
		fmt.Fprintln(os.Stderr, "kms-signer:", err)
		os.Exit(1)
	}
}

// kmsSigner is a sign.Signer over a sigstore KMS SignerVerifier: the KMS
// hashes or receives the digest and signs; the public key comes from it.
type kmsSigner struct {
	sv       kms.SignerVerifier
	pub      crypto.PublicKey
	verifier *sign.Verifier
}

var _ sign.Signer = (*kmsSigner)(nil)

func newKMSSigner(ctx context.Context, ref string) (*kmsSigner, error) {
	// SHA-256 is the hash of ecdsa-p256-sha256 and rsa-pkcs1v15-sha256
	// (SPEC 10.2); a P-384 key would need SHA-384.
	sv, err := kms.Get(ctx, ref, crypto.SHA256)
	if err != nil {
		return nil, fmt.Errorf("KMS key %s: %w", ref, err)
	}
	pub, err := sv.PublicKey(options.WithContext(ctx))
	if err != nil {
		return nil, fmt.Errorf("KMS key %s: public key: %w", ref, err)
	}
	v, err := sign.NewVerifier(pub)
	if err != nil {
		return nil, fmt.Errorf("KMS key %s: %w", ref, err)
	}
	return &kmsSigner{sv: sv, pub: pub, verifier: v}, nil
}

// Sign asks the KMS to sign the message (sigstore's signers return ECDSA
// signatures in DER, as SPEC 10.2 wants). ctx reaches the network call.
func (s *kmsSigner) Sign(ctx context.Context, message []byte) ([]byte, error) {
	return s.sv.SignMessage(bytes.NewReader(message), options.WithContext(ctx))
}

func (s *kmsSigner) KeyID() string            { return s.verifier.KeyID() }
func (s *kmsSigner) Algorithm() string        { return s.verifier.Algorithm() }
func (s *kmsSigner) Public() crypto.PublicKey { return s.pub }

func run(ctx context.Context, ref, layoutDir, outDir string) error {
	signer, err := newKMSSigner(ctx, ref)
	if err != nil {
		return err
	}
	layout, err := oci.Open(layoutDir)
	if err != nil {
		return err
	}
	defer layout.Close()
	// Pack checks the KMS's signature with Public before it writes the
	// volumes: a key the KMS reports wrongly fails here, not on the far
	// side.
	x, err := bundle.Pack(ctx, []bundle.Source{&bundle.LayoutSource{Layout: layout}}, &bundle.DirSink{Dir: outDir}, bundle.PackOptions{Signer: signer, Packer: "kms-signer example"})
	if err != nil {
		return err
	}
	der, err := x509.MarshalPKIXPublicKey(signer.Public())
	if err != nil {
		return err
	}
	pub := pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})
	if err := os.WriteFile(filepath.Join(outDir, "bundle.pub"), pub, 0o644); err != nil {
		return err
	}
	fmt.Printf("packed bundle %s, signed in the KMS by %s (%s), into %s\n", x.BundleID, signer.KeyID(), signer.Algorithm(), outDir)
	return nil
}
