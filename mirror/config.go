package mirror

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
)

const registriesConfHeader = `# containers-registries.conf(5) drop-in for CRI-O and podman, written by
# the airgap bundle tool. Install it in /etc/containers/registries.conf.d/.
# Pulls by digest from each source repository below try the mirror first.
# Pulls by tag still go to the source: a tag in the mirror may be older.
`

// RegistriesConf renders a containers-registries.conf(5) (version 2)
// drop-in with, for each entry, a [[registry]] table for the source and a
// [[registry.mirror]] for its mirror, marked insecure when m.Insecure.
// Entries are not checked; WriteConfig checks them.
func (m Mapping) RegistriesConf(entries []Entry) []byte {
	var b bytes.Buffer
	b.WriteString(registriesConfHeader)
	for _, e := range entries {
		fmt.Fprintf(&b, "\n[[registry]]\nprefix = %s\nlocation = %s\nmirror-by-digest-only = true\n\n[[registry.mirror]]\nlocation = %s\n",
			tomlString(e.Source), tomlString(e.Source), tomlString(e.Mirror))
		if m.Insecure {
			b.WriteString("insecure = true\n")
		}
	}
	return b.Bytes()
}

// tomlString quotes s as a TOML basic string. strconv.Quote will not do:
// TOML has no \x, \a or \v escapes.
func tomlString(s string) string {
	var b strings.Builder
	b.WriteByte('"')
	for _, r := range s {
		switch r {
		case '"':
			b.WriteString(`\"`)
		case '\\':
			b.WriteString(`\\`)
		case '\b':
			b.WriteString(`\b`)
		case '\t':
			b.WriteString(`\t`)
		case '\n':
			b.WriteString(`\n`)
		case '\f':
			b.WriteString(`\f`)
		case '\r':
			b.WriteString(`\r`)
		default:
			// TOML forbids the other control characters in basic strings.
			// An invalid UTF-8 byte comes out of range as U+FFFD and is
			// written as such, keeping the file valid UTF-8 as TOML requires.
			if r < 0x20 || r == 0x7f {
				fmt.Fprintf(&b, `\u%04X`, r)
			} else {
				b.WriteRune(r)
			}
		}
	}
	b.WriteByte('"')
	return b.String()
}

const idmsHeader = `# OpenShift ImageDigestMirrorSet written by the airgap bundle tool.
# Apply it with: oc apply -f <this file>. Pulls by digest from each source
# repository below try the mirror first.
`

// ImageDigestMirrorSet renders an OpenShift config.openshift.io/v1
// ImageDigestMirrorSet named name with one imageDigestMirrors item per
// entry. name must be a Kubernetes object name (a DNS-1123 subdomain) and
// every source and mirror a registry host followed by a repository, as the
// CRD's validation requires; otherwise the cluster would reject the object
// only once applied.
func ImageDigestMirrorSet(name string, entries []Entry) ([]byte, error) {
	if err := checkObjectName(name); err != nil {
		return nil, err
	}
	for _, e := range entries {
		if err := checkEntry(e); err != nil {
			return nil, err
		}
	}
	var b bytes.Buffer
	b.WriteString(idmsHeader)
	fmt.Fprintf(&b, "apiVersion: config.openshift.io/v1\nkind: ImageDigestMirrorSet\nmetadata:\n  name: %s\nspec:\n  imageDigestMirrors:", yamlString(name))
	if len(entries) == 0 {
		b.WriteString(" []\n")
	} else {
		b.WriteString("\n")
	}
	for _, e := range entries {
		fmt.Fprintf(&b, "  - source: %s\n    mirrors:\n    - %s\n", yamlString(e.Source), yamlString(e.Mirror))
	}
	return b.Bytes(), nil
}

// yamlString double-quotes s for YAML. Quoting matters even for valid
// names: plain 123, true or null would be read as a number, a boolean or
// null. strconv.Quote's escapes (\" \\ \a \b \f \n \r \t \v \xNN \uNNNN
// \UNNNNNNNN) are all YAML double-quoted escapes with the same meaning for
// valid UTF-8, which is all that gets here: inputs are checked first.
func yamlString(s string) string {
	return strconv.Quote(s)
}

// dns1123SubdomainRE is the Kubernetes rule for object names.
var dns1123SubdomainRE = regexp.MustCompile(`^[a-z0-9](?:[-a-z0-9]*[a-z0-9])?(?:\.[a-z0-9](?:[-a-z0-9]*[a-z0-9])?)*$`)

func checkObjectName(name string) error {
	if len(name) > 253 || !dns1123SubdomainRE.MatchString(name) {
		return fmt.Errorf("config name %q is not a valid Kubernetes object name: use at most 253 lowercase letters, digits, - and ., starting and ending with a letter or digit, e.g. airgap-mirror", name)
	}
	return nil
}

// checkEntry checks that both sides of e are host[:port]/repository, with
// neither tag nor digest.
func checkEntry(e Entry) error {
	for _, s := range []struct{ what, v string }{{"source", e.Source}, {"mirror", e.Mirror}} {
		n, err := ParseName(s.v)
		if err != nil {
			return fmt.Errorf("mirror entry for %q: %s: %w", e.Source, s.what, err)
		}
		if n.Registry == "" || n.Tag != "" || n.Digest != "" {
			return fmt.Errorf("mirror entry for %q: %s %q is not host[:port]/repository without tag or digest", e.Source, s.what, s.v)
		}
	}
	return nil
}

// WriteConfig writes the registries.conf drop-in as dir/name.conf and the
// ImageDigestMirrorSet as dir/name-idms.yaml, creating dir if missing, and
// returns the paths written. name is checked as for ImageDigestMirrorSet
// (which also keeps it a plain file name) and entries as there, before
// anything is written. Each file is replaced atomically, so a client
// reading the directory never sees half a file. On error the paths already
// written are returned with it.
func (m Mapping) WriteConfig(dir, name string, entries []Entry) ([]string, error) {
	idms, err := ImageDigestMirrorSet(name, entries)
	if err != nil {
		return nil, err
	}
	files := []struct {
		path string
		data []byte
	}{
		{filepath.Join(dir, name+".conf"), m.RegistriesConf(entries)},
		{filepath.Join(dir, name+"-idms.yaml"), idms},
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("create mirror config directory: %w", err)
	}
	var written []string
	for _, f := range files {
		if err := writeFileAtomic(f.path, f.data); err != nil {
			return written, err
		}
		written = append(written, f.path)
	}
	return written, nil
}

// writeFileAtomic writes data to a temporary file beside path and renames
// it over path: a rename within a directory is atomic.
func writeFileAtomic(path string, data []byte) error {
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	tmp := f.Name()
	_, err = f.Write(data)
	if err == nil {
		// CreateTemp makes the file 0600; these files are system
		// configuration that runtimes and other users read.
		err = f.Chmod(0o644)
	}
	if err == nil {
		// Without it, a crash soon after the rename can leave an empty file.
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err != nil {
		os.Remove(tmp)
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}
