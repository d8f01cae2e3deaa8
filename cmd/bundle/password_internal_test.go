package main

import (
	"io"
	"os"
	"strings"
	"testing"
)

// TestReadPassword: where readPassword takes the password from, in order:
// BUNDLE_PASSWORD (even empty), COSIGN_PASSWORD, the first line of a
// standard input that is not a terminal. TestPasswordSources runs the
// command with these through a key's decryption.
func TestReadPassword(t *testing.T) {
	for _, tc := range []struct {
		name    string
		env     map[string]string
		stdin   string
		want    string
		wantErr string
	}{
		{name: "BUNDLE_PASSWORD first", env: map[string]string{"BUNDLE_PASSWORD": "b", "COSIGN_PASSWORD": "c"}, stdin: "s\n", want: "b"},
		{name: "BUNDLE_PASSWORD empty", env: map[string]string{"BUNDLE_PASSWORD": "", "COSIGN_PASSWORD": "c"}, stdin: "s\n", want: ""},
		{name: "COSIGN_PASSWORD", env: map[string]string{"COSIGN_PASSWORD": "c"}, stdin: "s\n", want: "c"},
		{name: "stdin", stdin: "s p\nsecond line\n", want: "s p"},
		{name: "stdin without a newline", stdin: "s", want: "s"},
		{name: "stdin CRLF", stdin: "s\r\n", want: "s"},
		{name: "stdin empty line", stdin: "\n", want: ""},
		{name: "stdin empty", stdin: "", wantErr: "COSIGN_PASSWORD"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			in, err := os.CreateTemp(t.TempDir(), "stdin")
			if err != nil {
				t.Fatal(err)
			}
			defer in.Close()
			if _, err := in.WriteString(tc.stdin); err != nil {
				t.Fatal(err)
			}
			if _, err := in.Seek(0, 0); err != nil {
				t.Fatal(err)
			}
			pw, err := readPassword(false, &console{stdin: in, stderr: io.Discard, lookupEnv: func(k string) (string, bool) { v, ok := tc.env[k]; return v, ok }})
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("readPassword: %q, %v; want an error saying %q", pw, err, tc.wantErr)
				}
				return
			}
			if err != nil || string(pw) != tc.want {
				t.Fatalf("readPassword: %q, %v; want %q", pw, err, tc.want)
			}
		})
	}
}
