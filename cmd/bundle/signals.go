package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"syscall"
)

// interruptSignals stop a command: Ctrl-C, a kill, and a closed terminal
// (SIGHUP), which would otherwise end the process where it stands,
// without the cleanup every command does when its context is canceled.
var interruptSignals = []os.Signal{os.Interrupt, syscall.SIGTERM, syscall.SIGHUP}

// interrupted is the cause of the context's cancellation by a signal.
type interrupted struct{ sig os.Signal }

func (e interrupted) Error() string { return "interrupted by " + signalName(e.sig) }

func signalName(s os.Signal) string {
	switch s {
	case os.Interrupt:
		return "SIGINT"
	case syscall.SIGTERM:
		return "SIGTERM"
	case syscall.SIGHUP:
		return "SIGHUP"
	}
	return s.String()
}

// signalContext returns a context canceled, with an interrupted cause, by
// the first of interruptSignals; the command then cleans up and exits with
// exitError. A second signal ends the process at once, as if unhandled:
// what the command leaves then is what a kill leaves, which every command
// is made to survive (README: Commands).
func signalContext() (context.Context, func()) {
	ctx, cancel := context.WithCancelCause(context.Background())
	// A signal ignored when the process started stays ignored: under
	// nohup, a closed terminal must not stop the command (Notify would
	// install a handler for it).
	var sigs []os.Signal
	for _, s := range interruptSignals {
		if !signal.Ignored(s) {
			sigs = append(sigs, s)
		}
	}
	ch := make(chan os.Signal, 1)
	signal.Notify(ch, sigs...)
	done := make(chan struct{})
	go func() {
		select {
		case s := <-ch:
			cancel(interrupted{s})
			signal.Reset(sigs...)
		case <-done:
		}
	}()
	return ctx, func() {
		signal.Stop(ch)
		close(done)
		cancel(nil)
	}
}

// explainInterrupt names the signal in the error of a command it stopped,
// instead of "context canceled".
func explainInterrupt(ctx context.Context, err error) error {
	var sig interrupted
	if err == nil || !errors.Is(err, context.Canceled) || !errors.As(context.Cause(ctx), &sig) || errors.As(err, &sig) {
		return err
	}
	return fmt.Errorf("%w (%w)", sig, err)
}

// packInterrupted is the error of a pack stopped by a signal: the output
// directory is as it was (issue 14 asks that this be said).
func packInterrupted(ctx context.Context, err error, dir string) error {
	var sig interrupted
	if err == nil || !errors.Is(err, context.Canceled) || !errors.As(context.Cause(ctx), &sig) {
		return err
	}
	return fmt.Errorf("%w: nothing was written to %s (%w)", sig, dir, err)
}
