package imageset

import (
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

const name = "imageset.yaml"

func pos(line int) Pos { return Pos{File: name, Line: line} }

func ptr[T any](v T) *T { return &v }

// render gives a File as indented JSON, regular expressions as their text,
// so that two Files compare as text.
func render(t *testing.T, f *File) string {
	t.Helper()
	b, err := json.MarshalIndent(f, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

const ocMirrorFile = `kind: ImageSetConfiguration
apiVersion: mirror.openshift.io/v2alpha1
archiveSize: 4
mirror:
  platform:
    architectures:
      - amd64
      - arm64
    channels:
      - name: stable-4.18
        minVersion: 4.18.1
        maxVersion: 4.18.10
        shortestPath: true
      - name: 4-scos-stable
        type: okd
        full: true
    graph: true
  operators:
    - catalog: registry.redhat.io/redhat/redhat-operator-index:v4.18
      targetCatalog: my-org/redhat-operator-index
      targetTag: v4.18-filtered
      packages:
        - name: aws-load-balancer-operator
          defaultChannel: stable-v1
          channels:
            - name: stable-v1
              minVersion: 1.1.0
              maxVersion: "1.2"
        - name: 3scale-operator
          minVersion: v0.10.0
        - name: node-observability-operator
          bundles:
            - name: node-observability-operator.v0.2.0
            - name: node-observability-operator.v0.2.1
    - catalog: registry.redhat.io/redhat/certified-operator-index:v4.18
      full: true
      skipDependencies: false
      packages:
        - name: gpu-operator-certified
          channels:
            - name: v24.9
  additionalImages:
    - name: registry.redhat.io/ubi9/ubi:latest
    - name: quay.io/openshift/origin-must-gather@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef
  blockedImages:
    - name: registry.redhat.io/ubi8/ubi-minimal
    - name: /-debug(:|@)/
    - name: ^quay\.io/.*/alpine
`

const imageSetFile = `apiVersion: airgap-bundle.github.io/v1alpha1
kind: ImageSet
mirror:
  platforms:
    - linux/amd64
    - linux/arm64/v8
  registries:
    - registry: registry.opensuse.org
      repositories: (^kubic|^opensuse/([^/]+)$)
      tags: ^(latest|[0-9.]+)$
      newest: 3
    - registry: Index.Docker.IO
      prefix: /library/
      tags: ^1\.2[0-9]-alpine$
      minimize: true
  additionalImages:
    - name: nginx:1.27
  blockedImages:
    - name: nginx
`

// As openSUSE's mirror-registry writes it (mirror-registry's
// skopeo-sync configuration), plus the keys skopeo's manual shows.
const skopeoFile = `registry.opensuse.org:
  images:
    opensuse/tumbleweed: []
    opensuse/leap:
      - "15.6"
      - latest
    kubic/kured:
      - sha256:0000000000000000000000000000000011111111111111111111111111111111
  images-by-tag-regex:
    kubic/coredns: ^1\.1[0-9]\.[0-9]+$
  tls-verify: true
registry.example.com:5000/team:
  images-by-semver:
    alpine: ">= 3.12.0"
  credentials:
    username: john
    password: this is a secret
  cert-dir: /home/john/certs
  tls-verify: false
docker.io:
  images:
    busybox:
`

func TestParse(t *testing.T) {
	tests := []struct {
		name, data string
		want       *File
	}{{
		name: "oc-mirror",
		data: ocMirrorFile,
		want: &File{
			Path: name,
			Kind: KindOCMirror,
			Releases: &Releases{
				Architectures: []string{"amd64", "arm64"},
				Channels: []Channel{
					{Name: "stable-4.18", Type: "ocp", MinVersion: "4.18.1", MaxVersion: "4.18.10", ShortestPath: true, Pos: pos(10)},
					{Name: "4-scos-stable", Type: "okd", Full: true, Pos: pos(14)},
				},
				Graph: true,
				Pos:   pos(6),
			},
			Operators: []Operator{{
				Catalog:       "registry.redhat.io/redhat/redhat-operator-index:v4.18",
				TargetCatalog: "my-org/redhat-operator-index",
				TargetTag:     "v4.18-filtered",
				Packages: []Package{
					{Name: "aws-load-balancer-operator", DefaultChannel: "stable-v1", Channels: []PackageChannel{{Name: "stable-v1", MinVersion: "1.1.0", MaxVersion: "1.2", Pos: pos(26)}}, Pos: pos(23)},
					{Name: "3scale-operator", MinVersion: "v0.10.0", Pos: pos(29)},
					{Name: "node-observability-operator", Bundles: []string{"node-observability-operator.v0.2.0", "node-observability-operator.v0.2.1"}, Pos: pos(31)},
				},
				Pos: pos(19),
			}, {
				Catalog:  "registry.redhat.io/redhat/certified-operator-index:v4.18",
				Full:     true,
				Packages: []Package{{Name: "gpu-operator-certified", Channels: []PackageChannel{{Name: "v24.9", Pos: pos(41)}}, Pos: pos(39)}},
				Pos:      pos(35),
			}},
			AdditionalImages: []Image{
				{Name: "registry.redhat.io/ubi9/ubi:latest", Pos: pos(43)},
				{Name: "quay.io/openshift/origin-must-gather@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef", Pos: pos(44)},
			},
			BlockedImages: []Blocked{
				{Name: "registry.redhat.io/ubi8/ubi-minimal", Reference: "registry.redhat.io/ubi8/ubi-minimal", Pos: pos(46)},
				{Name: "/-debug(:|@)/", Pattern: regexp.MustCompile(`-debug(:|@)`), Pos: pos(47)},
				{Name: `^quay\.io/.*/alpine`, Pattern: regexp.MustCompile(`^quay\.io/.*/alpine`), Pos: pos(48)},
			},
			Notices: []string{
				"imageset.yaml:3: archiveSize: ignored: bundle cuts its media by its own --volume-size, not by archiveSize",
				"imageset.yaml:17: mirror.platform.graph: the graph-data image (which oc-mirror builds from the update graph's data, for an update service on the far side) is not carried; the releases are",
				"imageset.yaml:37: mirror.operators[1].skipDependencies: not acted on here: it can only make the resolver carry fewer images, never miss one the file asks for",
				`imageset.yaml:46: mirror.blockedImages[0].name: "registry.redhat.io/ubi8/ubi-minimal" is read as an image reference and blocks the repository registry.redhat.io/ubi8/ubi-minimal; oc-mirror matches it as an unanchored regular expression, which may block more: write /registry\.redhat\.io/ubi8/ubi-minimal/ for that`,
			},
		},
	}, {
		name: "ImageSet",
		data: imageSetFile,
		want: &File{
			Path:      name,
			Kind:      KindImageSet,
			Platforms: []string{"linux/amd64", "linux/arm64/v8"},
			Registries: []RegistryRule{
				{Registry: "registry.opensuse.org", Repositories: regexp.MustCompile(`(^kubic|^opensuse/([^/]+)$)`), Tags: regexp.MustCompile(`^(latest|[0-9.]+)$`), Newest: 3, Pos: pos(8)},
				{Registry: "docker.io", Prefix: "library", Tags: regexp.MustCompile(`^1\.2[0-9]-alpine$`), Minimize: true, Pos: pos(12)},
			},
			AdditionalImages: []Image{{Name: "nginx:1.27", Pos: pos(17)}},
			BlockedImages:    []Blocked{{Name: "nginx", Reference: "docker.io/library/nginx", Pos: pos(19)}},
		},
	}, {
		name: "skopeo sync",
		data: skopeoFile,
		want: &File{
			Path: name,
			Kind: KindSkopeoSync,
			Registries: []RegistryRule{
				{Registry: "registry.opensuse.org", Repository: "opensuse/tumbleweed", TLSVerify: ptr(true), Pos: pos(3)},
				{Registry: "registry.opensuse.org", Repository: "opensuse/leap", References: []string{"15.6", "latest"}, TLSVerify: ptr(true), Pos: pos(4)},
				{Registry: "registry.opensuse.org", Repository: "kubic/kured", References: []string{"sha256:0000000000000000000000000000000011111111111111111111111111111111"}, TLSVerify: ptr(true), Pos: pos(7)},
				{Registry: "registry.opensuse.org", Repository: "kubic/coredns", Tags: regexp.MustCompile(`^1\.1[0-9]\.[0-9]+$`), TLSVerify: ptr(true), Pos: pos(10)},
				{Registry: "registry.example.com:5000", Repository: "team/alpine", Semver: ">= 3.12.0", TLSVerify: ptr(false), CertDir: "/home/john/certs", Username: "john", Password: "this is a secret", Pos: pos(14)},
				{Registry: "docker.io", Repository: "library/busybox", Pos: pos(22)},
			},
		},
	}, {
		name: "JSON",
		data: `{"apiVersion": "airgap-bundle.github.io/v1alpha1", "kind": "ImageSet",
 "mirror": {"additionalImages": [{"name": "quay.io/a/b:1"}]}}`,
		want: &File{Path: name, Kind: KindImageSet, AdditionalImages: []Image{{Name: "quay.io/a/b:1", Pos: pos(2)}}},
	}, {
		name: "oc-mirror platforms and harmless keys",
		data: `kind: ImageSetConfiguration
apiVersion: mirror.openshift.io/v2alpha1
metadata:
  name: x
mirror:
  helm: {}
  samples:
    - name: ruby
  platform:
    kubeVirtContainer: false
    platforms:
      - os: linux
        architecture: s390x
    channels:
      - name: stable-4.19
  operators:
    - catalog: oci:///srv/catalog
      targetCatalogSourceTemplate: /srv/cs.yaml
      platforms:
        - {os: linux, architecture: amd64}
  additionalImages:
    - name: quay.io/a/b:1
      targetRepo: mirrored/b
      targetTag: v1
      platforms: [{os: linux, architecture: arm64}]
`,
		want: &File{
			Path: name, Kind: KindOCMirror,
			Releases: &Releases{
				Channels:  []Channel{{Name: "stable-4.19", Type: "ocp", Pos: pos(15)}},
				Platforms: []string{"linux/s390x"},
				Pos:       pos(10),
			},
			Operators:        []Operator{{Catalog: "oci:///srv/catalog", Platforms: []string{"linux/amd64"}, Pos: pos(17)}},
			AdditionalImages: []Image{{Name: "quay.io/a/b:1", TargetRepo: "mirrored/b", TargetTag: "v1", Platforms: []string{"linux/arm64"}, Pos: pos(22)}},
			Notices: []string{
				"imageset.yaml:3: metadata: ignored (oc-mirror's ImageSetConfiguration has no metadata either)",
				"imageset.yaml:6: mirror.helm: empty: nothing to do",
				"imageset.yaml:7: mirror.samples: ignored: oc-mirror does not implement samples either",
				"imageset.yaml:10: mirror.platform.kubeVirtContainer: false: nothing to do",
				"imageset.yaml:18: mirror.operators[0].targetCatalogSourceTemplate: ignored: bundle writes no CatalogSource",
			},
		},
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Parse([]byte(tt.data), name)
			if err != nil {
				t.Fatal(err)
			}
			if g, w := render(t, got), render(t, tt.want); g != w {
				t.Errorf("got\n%s\nwant\n%s", g, w)
			}
		})
	}
}

func TestParseErrors(t *testing.T) {
	const head = "apiVersion: mirror.openshift.io/v2alpha1\nkind: ImageSetConfiguration\n"
	const setHead = "apiVersion: airgap-bundle.github.io/v1alpha1\nkind: ImageSet\n"
	tests := []struct {
		name, data string
		want       []string
	}{
		{"unknown key in package", head + `mirror:
  operators:
    - catalog: registry.redhat.io/redhat/redhat-operator-index:v4.18
      packages:
        - name: a
        - name: b
          chanels:
            - name: stable
`, []string{"imageset.yaml:9: mirror.operators[0].packages[1].chanels: unknown key (known: name, defaultChannel, minVersion, maxVersion, channels, bundles, minBundle)"}},
		{"unknown top key", head + "mirorr: {}\n", []string{"imageset.yaml:3: mirorr: unknown key (known: apiVersion, kind, metadata, mirror, archiveSize, storageConfig)"}},
		{"ImageSet key in oc-mirror file", head + "mirror:\n  registries:\n    - registry: quay.io\n", []string{"imageset.yaml:4: mirror.registries: unknown key"}},
		{"no mirror", head, []string{"imageset.yaml:1: mirror is required"}},
		{"wrong type", head + "mirror:\n  operators:\n    catalog: x\n", []string{"imageset.yaml:5: mirror.operators: expected a list, found a mapping"}},
		{"wrong bool", head + "mirror:\n  operators:\n    - catalog: quay.io/a/b:1\n      full: yes please\n", []string{`imageset.yaml:6: mirror.operators[0].full: expected true or false, found the string "yes please"`}},
		{"catalog missing", head + "mirror:\n  operators:\n    - full: true\n", []string{"imageset.yaml:5: mirror.operators[0]: catalog is required"}},
		{"catalog not a reference", head + "mirror:\n  operators:\n    - catalog: Quay.io/A B\n", []string{"imageset.yaml:5: mirror.operators[0].catalog:"}},
		{"name empty", head + "mirror:\n  additionalImages:\n    - name: \"\"\n", []string{"imageset.yaml:5: mirror.additionalImages[0].name: must not be empty"}},
		{"bad version", head + "mirror:\n  platform:\n    channels:\n      - name: stable-4.18\n        minVersion: four\n", []string{`imageset.yaml:7: mirror.platform.channels[0].minVersion: "four" is not a version`}},
		{"min above max", head + "mirror:\n  platform:\n    channels:\n      - name: stable-4.18\n        minVersion: 4.18.5\n        maxVersion: \"4.18\"\n", []string{"imageset.yaml:7: mirror.platform.channels[0].minVersion: 4.18.5 is above maxVersion 4.18"}},
		{"channel type", head + "mirror:\n  platform:\n    channels:\n      - name: s\n        type: rhel\n", []string{`imageset.yaml:7: mirror.platform.channels[0].type: unknown type "rhel" (known: ocp, okd)`}},
		{"architecture", head + "mirror:\n  platform:\n    architectures: [x86_64]\n    channels: [{name: s}]\n", []string{`imageset.yaml:5: mirror.platform.architectures: unknown architecture "x86_64"`}},
		{"helm refused", head + "mirror:\n  additionalImages: [{name: a}]\n  helm:\n    repositories:\n      - name: podinfo\n        url: https://stefanprodan.github.io/podinfo\n", []string{"imageset.yaml:5: mirror.helm: refused: bundle does not carry Helm charts"}},
		{"release refused", head + "mirror:\n  platform:\n    release: /srv/release\n    channels: [{name: s}]\n", []string{"imageset.yaml:5: mirror.platform.release: refused"}},
		{"kubevirt refused", head + "mirror:\n  platform:\n    kubeVirtContainer: true\n    channels: [{name: s}]\n", []string{"imageset.yaml:5: mirror.platform.kubeVirtContainer: refused"}},
		{"v1 originalRef", head + "mirror:\n  operators:\n    - catalog: quay.io/a/b:1\n      originalRef: quay.io/a/b:1\n", []string{"imageset.yaml:6: mirror.operators[0].originalRef: an oc-mirror v1 key"}},
		{"v1 targetName", head + "mirror:\n  operators:\n    - catalog: quay.io/a/b:1\n      targetName: x\n", []string{"imageset.yaml:6: mirror.operators[0].targetName: an oc-mirror v1 key", "use targetCatalog"}},
		{"v1 minBundle", head + "mirror:\n  operators:\n    - catalog: quay.io/a/b:1\n      packages:\n        - name: p\n          minBundle: p.v1\n", []string{"imageset.yaml:8: mirror.operators[0].packages[0].minBundle: an oc-mirror v1 key"}},
		{"v1 headsOnly", head + "mirror:\n  operators:\n    - catalog: quay.io/a/b:1\n      headsOnly: false\n", []string{"imageset.yaml:6: mirror.operators[0].headsOnly: an oc-mirror v1 key", "full: true"}},
		{"v1 storageConfig", head + "storageConfig: {local: {path: /x}}\nmirror:\n  additionalImages: [{name: a}]\n", []string{"imageset.yaml:3: storageConfig: an oc-mirror v1 key"}},
		{"v1 file", "apiVersion: mirror.openshift.io/v1alpha2\nkind: ImageSetConfiguration\nmirror: {}\n", []string{`imageset.yaml:1: apiVersion: "mirror.openshift.io/v1alpha2" is oc-mirror v1's file`}},
		{"unknown apiVersion", "apiVersion: v1\nkind: ConfigMap\n", []string{`imageset.yaml:2: unknown apiVersion "v1" with kind "ConfigMap": bundle reads three kinds of image set file: apiVersion mirror.openshift.io/v2alpha1 kind ImageSetConfiguration`, "kind ImageSet", "skopeo sync"}},
		{"delete kind", "apiVersion: mirror.openshift.io/v2alpha1\nkind: DeleteImageSetConfiguration\n", []string{"imageset.yaml:2: kind: \"DeleteImageSetConfiguration\" says what to delete"}},
		{"kind missing", "apiVersion: mirror.openshift.io/v2alpha1\nmirror: {}\n", []string{"imageset.yaml:1: kind: missing"}},
		{"none of the kinds", "mirror:\n  additionalImages: [{name: a}]\n", []string{`imageset.yaml:1: no apiVersion or kind, and "mirror" is not a registry host`, "needs apiVersion and kind", "bundle reads three kinds"}},
		{"a list", "- quay.io/a/b\n", []string{"imageset.yaml:1: expected a mapping at the top, found a list: bundle reads three kinds"}},
		{"empty file", "# nothing\n", []string{"imageset.yaml: empty file: bundle reads three kinds"}},
		{"two documents", head + "mirror: {additionalImages: [{name: a}]}\n---\nfoo: 1\n", []string{"imageset.yaml:4: a second YAML document"}},
		{"not YAML", "a: [\n", []string{"imageset.yaml:1: not YAML: did not find expected node content"}},
		{"tab", "a:\n\tb: 1\n", []string{"imageset.yaml:2: not YAML: found character that cannot start any token"}},
		{"empty selection", head + "mirror:\n  blockedImages: [{name: a}]\n", []string{"imageset.yaml:1: the file selects no image: give mirror.platform.channels, mirror.operators or mirror.additionalImages"}},
		{"empty selection ImageSet", setHead + "mirror: {}\n", []string{"the file selects no image", "mirror.registries"}},
		{"duplicate key", head + "mirror:\n  additionalImages: [{name: a}]\n  additionalImages: [{name: b}]\n", []string{"imageset.yaml:5: mirror.additionalImages: given twice"}},
		{"package versions twice", head + "mirror:\n  operators:\n    - catalog: quay.io/a/b:1\n      packages:\n        - name: p\n          minVersion: 1.0.0\n          channels:\n            - name: stable\n              minVersion: 1.1.0\n", []string{"imageset.yaml:10: mirror.operators[0].packages[0].channels[0]: versions given both for the package and for its channel \"stable\""}},
		{"bundles and channels", head + "mirror:\n  operators:\n    - catalog: quay.io/a/b:1\n      packages:\n        - name: p\n          channels: [{name: stable}]\n          bundles: [{name: p.v1}]\n", []string{"imageset.yaml:9: mirror.operators[0].packages[0].bundles: bundles cannot be combined"}},
		{"full with versions", head + "mirror:\n  operators:\n    - catalog: quay.io/a/b:1\n      full: true\n      packages:\n        - name: p\n          minVersion: 1.0.0\n", []string{"imageset.yaml:5: mirror.operators[0]: full: true cannot be combined with versions"}},
		{"bundle without name", head + "mirror:\n  operators:\n    - catalog: quay.io/a/b:1\n      packages:\n        - name: p\n          bundles: [{}]\n", []string{"imageset.yaml:8: mirror.operators[0].packages[0].bundles[0]: name is required"}},
		{"default channel not listed", head + "mirror:\n  operators:\n    - catalog: quay.io/a/b:1\n      packages:\n        - name: p\n          defaultChannel: fast\n          channels: [{name: stable}]\n", []string{`imageset.yaml:8: mirror.operators[0].packages[0].defaultChannel: "fast" is not one of the package's channels`}},
		{"blocked bad regexp", head + "mirror:\n  additionalImages: [{name: a}]\n  blockedImages:\n    - name: /a(/\n", []string{`imageset.yaml:6: mirror.blockedImages[0].name: bad regular expression "a(": error parsing regexp: missing closing )`}},
		{"blocked neither", head + "mirror:\n  additionalImages: [{name: a}]\n  blockedImages:\n    - name: .*debug.*\n", []string{"imageset.yaml:6: mirror.blockedImages[0].name:", "write it between slashes"}},
		{"registry missing", setHead + "mirror:\n  registries:\n    - prefix: opensuse\n", []string{"imageset.yaml:5: mirror.registries[0]: registry is required"}},
		{"registry bad", setHead + "mirror:\n  registries:\n    - registry: https://quay.io\n", []string{`imageset.yaml:5: mirror.registries[0].registry: "https://quay.io" is not a valid registry host[:port]`}},
		{"registry bad regexp", setHead + "mirror:\n  registries:\n    - registry: registry.opensuse.org\n      repositories: (^kubic|^opensuse/([^/]+)$\n", []string{"imageset.yaml:6: mirror.registries[0].repositories: rule for registry.opensuse.org at imageset.yaml:5: bad regular expression", "missing closing )"}},
		{"registry newest", setHead + "mirror:\n  registries:\n    - registry: quay.io\n      newest: three\n", []string{`imageset.yaml:6: mirror.registries[0].newest: expected a whole number, found the string "three"`}},
		{"registry newest negative", setHead + "mirror:\n  registries:\n    - registry: quay.io\n      newest: -1\n", []string{"imageset.yaml:6: mirror.registries[0].newest: must be 1 or more"}},
		{"registry unknown key", setHead + "mirror:\n  registries:\n    - registry: quay.io\n      tag: x\n", []string{"imageset.yaml:6: mirror.registries[0].tag: unknown key (known: registry, prefix, repositories, tags, newest, minimize)"}},
		{"platform bad", setHead + "mirror:\n  registries: [{registry: quay.io}]\n  platforms: [linux]\n", []string{`imageset.yaml:5: mirror.platforms[0]: the string "linux" is not os/arch[/variant]`}},
		{"skopeo unknown key", "quay.io:\n  image:\n    coreos/etcd: [latest]\n", []string{"imageset.yaml:2: quay.io.image: unknown key (known: images, images-by-tag-regex, images-by-semver, tls-verify, cert-dir, credentials)"}},
		{"skopeo bad semver", "quay.io:\n  images-by-semver:\n    alpine: \">= three\"\n", []string{`imageset.yaml:3: quay.io.images-by-semver.alpine: rule for quay.io/alpine: bad semver constraint ">= three"`}},
		{"skopeo bad regexp", "quay.io:\n  images-by-tag-regex:\n    nginx: ^1\\.13\\.[12-alpine$\n", []string{"imageset.yaml:3: quay.io.images-by-tag-regex.nginx: rule for quay.io/nginx: bad regular expression", "missing closing ]"}},
		{"skopeo bad tag", "quay.io:\n  images:\n    coreos/etcd: [\"-x\"]\n", []string{`imageset.yaml:3: quay.io.images.coreos/etcd[0]: "-x" is not a valid tag`}},
		{"skopeo bad digest", "quay.io:\n  images:\n    coreos/etcd: [\"md5:00\"]\n", []string{`imageset.yaml:3: quay.io.images.coreos/etcd[0]: "md5:00" is neither a tag nor a sha256 digest`}},
		{"skopeo bad repository", "quay.io:\n  images:\n    CoreOS/etcd: []\n", []string{"imageset.yaml:3: quay.io.images.CoreOS/etcd:"}},
		{"skopeo tls type", "quay.io:\n  tls-verify: maybe\n  images: {a: []}\n", []string{`imageset.yaml:2: quay.io.tls-verify: expected true or false, found the string "maybe"`}},
		{"skopeo identitytoken", "quay.io:\n  credentials: {identitytoken: x}\n  images: {a: []}\n", []string{"imageset.yaml:2: quay.io.credentials.identitytoken: refused"}},
		{"skopeo nothing", "quay.io:\n  tls-verify: false\n", []string{"imageset.yaml:1: the file selects no image: give images, images-by-tag-regex or images-by-semver under a registry"}},
		{"skopeo not a mapping", "quay.io: [a]\n", []string{"imageset.yaml:1: quay.io: expected a mapping, found a list"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, err := Parse([]byte(tt.data), name)
			if err == nil {
				t.Fatalf("no error; read %s", render(t, f))
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error\n%v\ndoes not contain\n%s", err, w)
				}
			}
		})
	}
}

func TestErrorsAreCollected(t *testing.T) {
	_, err := Parse([]byte("apiVersion: airgap-bundle.github.io/v1alpha1\nkind: ImageSet\nmirror:\n  registries:\n    - registry: a.b\n      tag: x\n    - prefix: y\n"), name)
	if err == nil {
		t.Fatal("no error")
	}
	for _, w := range []string{"imageset.yaml:6: mirror.registries[0].tag: unknown key", "imageset.yaml:7: mirror.registries[1]: registry is required"} {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("error\n%v\ndoes not contain %s", err, w)
		}
	}
}

func TestLoad(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "sync.yml")
	if err := os.WriteFile(path, []byte(skopeoFile), 0o644); err != nil {
		t.Fatal(err)
	}
	f, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	if f.Path != path || f.Kind != KindSkopeoSync || f.Registries[0].Pos.File != path {
		t.Errorf("got %+v", f)
	}
	if _, err := Load(filepath.Join(dir, "absent.yaml")); err == nil || !strings.Contains(err.Error(), "absent.yaml") {
		t.Errorf("absent file: %v", err)
	}
}

func TestRegistryRuleString(t *testing.T) {
	f, err := Parse([]byte(skopeoFile), "sync.yml")
	if err != nil {
		t.Fatal(err)
	}
	want := []string{
		"registry.opensuse.org/opensuse/tumbleweed at sync.yml:3",
		"registry.opensuse.org/opensuse/leap (15.6, latest) at sync.yml:4",
		"registry.opensuse.org/kubic/kured (sha256:0000000000000000000000000000000011111111111111111111111111111111) at sync.yml:7",
		`registry.opensuse.org/kubic/coredns (tags ^1\.1[0-9]\.[0-9]+$) at sync.yml:10`,
		"registry.example.com:5000/team/alpine (semver >= 3.12.0) at sync.yml:14",
		"docker.io/library/busybox at sync.yml:22",
	}
	for i, r := range f.Registries {
		if got := r.String(); got != want[i] {
			t.Errorf("rule %d: got %q, want %q", i, got, want[i])
		}
		if strings.Contains(r.String(), "secret") {
			t.Errorf("rule %d shows the password: %s", i, r)
		}
	}
	g, err := Parse([]byte(imageSetFile), name)
	if err != nil {
		t.Fatal(err)
	}
	for i, w := range []string{
		`registry.opensuse.org (repositories (^kubic|^opensuse/([^/]+)$); tags ^(latest|[0-9.]+)$; newest 3) at imageset.yaml:8`,
		`docker.io/library/… (tags ^1\.2[0-9]-alpine$; minimize) at imageset.yaml:12`,
	} {
		if got := g.Registries[i].String(); got != w {
			t.Errorf("rule %d: got %q, want %q", i, got, w)
		}
	}
}

func TestMerge(t *testing.T) {
	a, err := Parse([]byte(ocMirrorFile), name)
	if err != nil {
		t.Fatal(err)
	}
	b, err := Parse([]byte(skopeoFile), "sync.yml")
	if err != nil {
		t.Fatal(err)
	}
	c, err := Parse([]byte("apiVersion: mirror.openshift.io/v2alpha1\nkind: ImageSetConfiguration\nmirror:\n  platform:\n    architectures: [arm64, s390x]\n    channels: [{name: fast-4.19}]\n"), "c.yaml")
	if err != nil {
		t.Fatal(err)
	}
	a.Merge(b)
	a.Merge(c)
	a.Merge(nil)
	if a.Kind != KindOCMirror || len(a.Registries) != 6 || len(a.Operators) != 2 || len(a.Releases.Channels) != 3 {
		t.Fatalf("merged: %s", render(t, a))
	}
	if got := strings.Join(a.Releases.Architectures, ","); got != "amd64,arm64,s390x" {
		t.Errorf("architectures %s", got)
	}
	if a.Releases.Channels[2].Pos.String() != "c.yaml:6" || !a.Releases.Graph {
		t.Errorf("releases %+v", a.Releases)
	}
	d := &File{}
	d.Merge(c)
	d.Releases.Channels[0].Name = "changed"
	if c.Releases.Channels[0].Name != "fast-4.19" {
		t.Error("Merge into an empty File shares the other's channels")
	}
}
