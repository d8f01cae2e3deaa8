package main

import (
	"context"
	"io"
	"os"
	"sync"
)

// Main is the command's main, for main_test's TestMain: the test binary,
// run through a link named bundle, is the command (see there).
func Main() { main() }

// Run runs the command line args in this process, as main would in its
// own but without main's memory limit and signal handling: standard input
// from /dev/null, standard output and error both to out (one write at a
// time, as to a file), and the variables in env (the command's own:
// BUNDLE_PASSWORD, SOURCE_DATE_EPOCH, …) over the process's. It returns the
// exit status.
func Run(args []string, env map[string]string, out io.Writer) int {
	stdin, err := os.Open(os.DevNull)
	if err != nil {
		panic(err)
	}
	defer stdin.Close()
	w := &lockedWriter{w: out}
	return run(context.Background(), args, &console{
		stdin:  stdin,
		stdout: w,
		stderr: w,
		lookupEnv: func(name string) (string, bool) {
			if v, ok := env[name]; ok {
				return v, true
			}
			return os.LookupEnv(name)
		},
	})
}

// ConsoleVariables are the variables the command reads through its console
// (Run's env); the library reads others from the process.
var ConsoleVariables = []string{"BUNDLE_PASSWORD", "COSIGN_PASSWORD", "SOURCE_DATE_EPOCH", "BUNDLE_PKCS11_MODULE", "BUNDLE_PKCS11_PIN"}

// lockedWriter writes to w one Write at a time: the progress callback and
// the command's own lines may write at once.
type lockedWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}
