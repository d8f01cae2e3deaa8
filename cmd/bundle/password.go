package main

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"strings"

	"golang.org/x/term"
)

// password is the private key's password: from BUNDLE_PASSWORD, else
// COSIGN_PASSWORD (what cosign reads, so keys shared with cosign need
// nothing new), else asked on the terminal (twice when confirm), else the
// first line of standard input when it is not a terminal (as cosign takes
// a piped password). Never from an argument: arguments show in ps.
func password(con *console, confirm bool) ([]byte, error) {
	pw, err := readPassword(confirm, con)
	if err == nil && confirm && len(pw) == 0 {
		fmt.Fprintln(con.stderr, "bundle: warning: the private key is not protected by a password; anyone who copies the file can sign")
	}
	return pw, err
}

func readPassword(confirm bool, con *console) ([]byte, error) {
	for _, env := range []string{"BUNDLE_PASSWORD", "COSIGN_PASSWORD"} {
		if pw, ok := con.lookupEnv(env); ok {
			return []byte(pw), nil
		}
	}
	fd := int(con.stdin.Fd())
	if !term.IsTerminal(fd) {
		return passwordLine(con.stdin)
	}
	ask := func(prompt string) ([]byte, error) {
		fmt.Fprint(con.stderr, prompt)
		defer fmt.Fprintln(con.stderr)
		return term.ReadPassword(fd)
	}
	pw, err := ask("Password for the private key: ")
	if err != nil || !confirm {
		return pw, err
	}
	again, err := ask("Password again: ")
	if err == nil && string(again) != string(pw) {
		err = errors.New("the passwords differ")
	}
	return pw, err
}

// passwordLine reads the password from the first line of r (without its
// line ending).
func passwordLine(r io.Reader) ([]byte, error) {
	line, err := bufio.NewReader(io.LimitReader(r, 64<<10)).ReadString('\n')
	if err != nil && !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("read the password from standard input: %w", err)
	}
	if err != nil && line == "" {
		return nil, errors.New("no password: set BUNDLE_PASSWORD (or COSIGN_PASSWORD), pipe it on standard input, or run on a terminal to be asked")
	}
	return []byte(strings.TrimRight(line, "\r\n")), nil
}
