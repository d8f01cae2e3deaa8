// Package imageset reads image set files: the declarative, reviewable
// files that say which images `bundle pack --config FILE` carries. It only
// reads; turning a File into images (registry listing, release graphs,
// operator catalogs) is a resolver's work, elsewhere.
//
// # Kinds
//
// Three kinds of file are read into one File value:
//
//   - oc-mirror v2's own file, unchanged: apiVersion
//     mirror.openshift.io/v2alpha1, kind ImageSetConfiguration
//     (KindOCMirror);
//   - bundle's own file: apiVersion airgap-bundle.github.io/v1alpha1, kind
//     ImageSet (KindImageSet): the same mirror: keys plus mirror.registries
//     and mirror.platforms;
//   - skopeo sync's YAML source file (`skopeo sync --src yaml`,
//     KindSkopeoSync), recognised by its shape: no apiVersion or kind, and
//     every top-level key a registry host (it has a "." or a ":" or is
//     "localhost", docker's rule) whose value is a mapping.
//
// JSON files are YAML and are read the same way. Every error names
// FILE:LINE and the key path (mirror.operators[0].packages[1].channels);
// a key no kind knows is an error that lists the known keys.
//
// # Keys read and not acted on
//
// Every key oc-mirror v2 accepts (its v2alpha1 types, which it reads with
// DisallowUnknownFields) is known, and so is packages[].bundles[].name,
// which earlier oc-mirror v2 releases accepted. Keys carried into the File
// include the newer platforms lists (mirror.platform.platforms,
// operators[].platforms, additionalImages[].platforms, as "os/arch") and
// additionalImages[].targetRepo and targetTag. Keys whose content bundle
// does not carry
// are refused when ignoring them would carry less than the file asks for,
// and otherwise read into File.Notices, each notice naming FILE:LINE and
// the key:
//
//   - archiveSize: notice (bundle cuts its media itself);
//   - mirror.helm: refused when it names a chart, notice when empty;
//   - mirror.samples: notice (oc-mirror does not implement it either);
//   - mirror.platform.graph: read into Releases.Graph, with a notice: the
//     graph-data image is not a registry image but one oc-mirror builds
//     from the Cincinnati graph data; the resolver decides whether it can;
//   - mirror.platform.release (a release on disk): refused;
//   - mirror.platform.kubeVirtContainer: refused when true, notice when
//     false;
//   - mirror.operators[].skipDependencies: notice (a resolver that carries
//     dependencies anyway carries more, never less);
//   - mirror.operators[].targetCatalogSourceTemplate: notice (bundle writes
//     no CatalogSource);
//   - oc-mirror v1 keys that v2alpha1 rejects (storageConfig,
//     operators[].targetName, operators[].originalRef,
//     operators[].headsOnly, packages[].minBundle,
//     packages[].channels[].minBundle): refused, saying what v2 uses
//     instead where it has something;
//   - in skopeo sync files, credentials.identitytoken: refused.
//
// An oc-mirror v1 file (mirror.openshift.io/v1alpha2 or v1alpha1) and
// oc-mirror's DeleteImageSetConfiguration are refused as a whole.
//
// metadata (a Kubernetes habit; oc-mirror's type has no such field) is a
// notice.
//
// # Versions
//
// minVersion and maxVersion must parse as semantic versions, leniently
// ("4.18", "v1.2" and "4.18.1" all do), and minVersion must not be above
// maxVersion. The strings are kept as written.
//
// Where oc-mirror's own documents disagree, this package takes the reading
// of oc-mirror v2's current documentation (docs/features/filtering.md);
// values are recorded as written and the resolver applies them:
//
//   - a release channel or operator channel with neither minVersion nor
//     maxVersion (and not full) means its head only;
//   - minVersion alone means from minVersion up to the head, head included
//     (oc-mirror v1's design document says that with channel versions the
//     head is not included);
//   - package-level minVersion/maxVersion apply to each channel the
//     package names, or to every channel when it names none (v1 applied
//     them to the default channel only);
//   - maxVersion is recorded as written; oc-mirror discourages it and
//     its documents say no more about maxVersion alone.
//
// As oc-mirror v2 does, a package may not give versions both for itself
// and for one of its channels, nor combine bundles with versions or
// channels, and an operator with full: true may not give versions.
//
// # Destination
//
// ImageSet (only) may have a top-level destination section: map (a list
// of SOURCE_PREFIX=MIRROR_REPO rules, mirror.ParseRule), stripRegistry
// and maxNestedPaths. It says how the far side lays the images out in its
// mirror registry (bundle unpack --config); it selects nothing, and pack
// ignores it.
//
// # Registry rules
//
// A RegistryRule selects repositories of one registry: ImageSet's
// mirror.registries entries and every skopeo sync entry. Regular
// expressions (repositories, tags, skopeo's images-by-tag-regex) are Go
// regular expressions (RE2 syntax) and are not anchored: write ^ and $ as
// openSUSE's mirror-registry users do, `(^kubic|^opensuse/([^/]+)$)`.
// repositories matches the repository path without the host; tags matches
// a tag. A skopeo sync entry becomes one rule per repository:
// images: repo: [refs] sets Repository and References (an empty list is
// every tag), images-by-tag-regex sets Repository and Tags,
// images-by-semver sets Repository and Semver (a Masterminds/semver
// constraint, checked at load, as skopeo uses it; tags that do not parse
// as versions are not selected). The entry's tls-verify, cert-dir and
// credentials are copied into each of its rules. A skopeo registry key may
// carry a path ("quay.io/coreos"), as skopeo joins it before the
// repository: the path goes into Repository. docker.io repositories of one
// component are put in library/, as docker does.
//
// # Blocked images
//
// blockedImages names are read by one rule:
//
//   - a value written between slashes (/re/) is the regular expression
//     between them; a value starting with "^" is a regular expression as
//     written. Either is matched, unanchored beyond what it says, against
//     the full normalized reference of an image
//     (docker.io/library/nginx:latest, registry/repo@sha256:...,
//     registry/repo:tag@sha256:...);
//   - any other value must be an image reference, normalized as docker
//     does (nginx is docker.io/library/nginx). With a digest it blocks that
//     digest in that repository; with a tag, that tag; with neither, the
//     whole repository (not only :latest).
//
// oc-mirror v2 matches every name as an unanchored regular expression, so
// that there "ubi8/ubi" also blocks "ubi8/ubi-minimal". Reading it as a
// reference blocks less than oc-mirror would, so in an oc-mirror file
// every reference-read name also gets a notice saying so and how to write
// the regular expression.
package imageset
