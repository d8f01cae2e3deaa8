package sign

import (
	"context"
	"errors"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// LoadSignerFileAsync gives what LoadSignerFile gives, the same key or
// the same error word for word, through Wait and through the Signer
// methods.
func TestLoadSignerFileAsync(t *testing.T) {
	t.Parallel()
	missing := filepath.Join(t.TempDir(), "missing.key")
	for _, c := range []struct {
		name     string
		path     string
		password string
		wantErr  error // nil: opens
	}{
		{name: "right password", path: sigstoreHelloFile, password: "hello"},
		{name: "wrong password", path: sigstoreHelloFile, password: "nope", wantErr: ErrWrongPassword},
		{name: "no such file", path: missing, wantErr: errors.New("does not exist")},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			want, wantErr := LoadSignerFile(c.path, []byte(c.password))
			pw := []byte(c.password)
			p := LoadSignerFileAsync(c.path, pw)
			clear(pw) // the caller's copy: the goroutine has its own
			s, err := p.Wait(context.Background())
			if c.wantErr != nil {
				if err == nil || wantErr == nil || err.Error() != wantErr.Error() {
					t.Fatalf("Wait: %v, want %v", err, wantErr)
				}
				if errors.Is(c.wantErr, ErrWrongPassword) && !errors.Is(err, ErrWrongPassword) {
					t.Errorf("error %v is not ErrWrongPassword", err)
				}
				if s != nil {
					t.Errorf("Wait gave a signer (%T) with its error", s)
				}
				if _, err := p.Sign(context.Background(), []byte("m")); err == nil || err.Error() != wantErr.Error() {
					t.Errorf("Sign: %v, want %v", err, wantErr)
				}
				if p.KeyID() != "" || p.Algorithm() != "" || p.Public() != nil {
					t.Errorf("a signer that failed to open names key %q (%q)", p.KeyID(), p.Algorithm())
				}
				return
			}
			if err != nil {
				t.Fatalf("Wait: %v", err)
			}
			if s.KeyID() != want.KeyID() || p.KeyID() != want.KeyID() || p.Algorithm() != want.Algorithm() {
				t.Errorf("key %s (%s), want %s (%s)", p.KeyID(), p.Algorithm(), want.KeyID(), want.Algorithm())
			}
			sig, err := p.Sign(context.Background(), []byte("message"))
			if err != nil {
				t.Fatal(err)
			}
			v, err := NewVerifier(p.Public())
			if err != nil {
				t.Fatal(err)
			}
			if err := want.Verifier().Verify([]byte("message"), sig); err != nil || v.KeyID() != want.KeyID() {
				t.Errorf("signature does not verify with the key's public key: %v", err)
			}
		})
	}
}

// The key is opened once, however many wait for it and through whichever
// method; a waiter whose context ends stops waiting, and the opening goes
// on for the others.
func TestPendingSignerOpensOnce(t *testing.T) {
	key, err := LoadSignerFile(sigstoreHelloFile, []byte("hello"))
	if err != nil {
		t.Fatal(err)
	}
	gate := make(chan struct{})
	var opens atomic.Int32
	old := loadSignerFile
	loadSignerFile = func(string, []byte) (*KeySigner, error) {
		opens.Add(1)
		<-gate
		return key, nil
	}
	p := LoadSignerFileAsync("k.key", []byte("pw"))
	loadSignerFile = old // LoadSignerFileAsync took it before it returned

	if _, ok, _ := p.Ready(); ok {
		t.Fatal("ready before the key is open")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	if s, err := p.Wait(ctx); !errors.Is(err, context.DeadlineExceeded) || s != nil {
		t.Fatalf("Wait with a context that ends: %v, %v", s, err)
	}

	const waiters = 16
	var wg sync.WaitGroup
	got := make([]Signer, waiters)
	ids := make([]string, waiters)
	for i := range waiters {
		wg.Add(1)
		go func() {
			defer wg.Done()
			switch i % 3 {
			case 0:
				got[i], _ = p.Wait(context.Background())
			case 1:
				ids[i] = p.KeyID()
			case 2:
				if _, err := p.Sign(context.Background(), []byte("m")); err != nil {
					t.Error(err)
				}
			}
		}()
	}
	time.Sleep(10 * time.Millisecond)
	close(gate)
	wg.Wait()
	select {
	case <-p.Done():
	default:
		t.Fatal("Done not closed after the waiters returned")
	}
	for i := range waiters {
		if i%3 == 0 && got[i] != Signer(key) {
			t.Errorf("waiter %d got %v, want the key", i, got[i])
		}
		if i%3 == 1 && ids[i] != key.KeyID() {
			t.Errorf("waiter %d got key ID %q", i, ids[i])
		}
	}
	if n := opens.Load(); n != 1 {
		t.Errorf("the key was opened %d times, want 1", n)
	}
}

// WithCancel cancels its context, with the opening's error as the cause,
// as soon as opening fails; an opening that succeeds cancels nothing.
func TestPendingSignerWithCancel(t *testing.T) {
	t.Parallel()
	keyErr := errors.New("private key k.key: wrong password: check the password")
	for _, c := range []struct {
		name string
		err  error
	}{
		{name: "fails", err: keyErr},
		{name: "opens"},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			gate := make(chan struct{})
			p := Async(func() (Signer, error) {
				<-gate
				if c.err != nil {
					return nil, c.err
				}
				return LoadSignerFile(sigstoreHelloFile, []byte("hello"))
			})
			ctx, cancel := p.WithCancel(context.Background())
			defer cancel()
			if ctx.Err() != nil {
				t.Fatal("cancelled before the key opened")
			}
			close(gate)
			<-p.Done()
			if c.err == nil {
				time.Sleep(10 * time.Millisecond)
				if ctx.Err() != nil {
					t.Fatalf("cancelled by a key that opened: %v", context.Cause(ctx))
				}
				return
			}
			select {
			case <-ctx.Done():
			case <-time.After(10 * time.Second):
				t.Fatal("not cancelled after the key failed to open")
			}
			if cause := context.Cause(ctx); cause != keyErr {
				t.Errorf("cause %v, want %v", cause, keyErr)
			}
		})
	}
}
