// Package release finds what carrying OpenShift (OCP or OKD) releases
// across an air gap takes: it asks an update service ("Cincinnati") for a
// channel's update graph, selects releases from it as oc-mirror v2 selects
// them for a platform.channels[] entry, reads each release payload's
// component list, and lists the images (payload and components) with what
// selected each.
//
// # Release payloads
//
// Read takes a payload image (a manifest, or a multi-architecture index)
// and reads release-manifests/image-references (an ImageStream,
// image.openshift.io/v1, whose spec.tags[] name the components and pin
// their images by digest) and release-manifests/release-metadata (version,
// previous, metadata) from its filesystem.
//
// The layers are read from the top one down, streamed (gzip, zstd or
// plain tar, told apart by their first bytes), never held in memory. The
// first layer that has a file, or hides it from lower layers (a whiteout
// of it or of a parent, an opaque parent directory, a non-directory in
// place of a parent), decides it, and no lower layer is read for it: this
// gives the same result as applying every layer in order, and since
// payloads carry release-manifests/ in their top layer, usually only that
// layer is read. Within a layer, reading stops once both files are found;
// the rest of that layer's compressed bytes are still read so that its
// digest is checked (the files decide what is mirrored). Each file may be
// at most MaxFileSize (16 MiB). A component not pinned by digest, or
// named twice, is refused, by name. An image without image-references is
// not a release (NoImageReferencesError).
//
// Architectures use the update service's names: amd64, arm64, ppc64le,
// s390x (x86_64 and aarch64 are accepted for amd64 and arm64), and Multi.
// An index gives one Release per selected architecture; Multi selects all
// of them and marks each with the index, which is then carried as well
// (Release.Images lists it first). Multi does not accept a
// single-architecture payload.
//
// # Update graph
//
// FetchGraph sends GET URL?channel=C&arch=A with Accept: application/json.
// The URL is $UPDATE_URL_OVERRIDE when set (oc-mirror honours the same
// variable), else the one given, else the public service
// (DefaultOCPUpdateURL; UpdateURL(OKD, "") gives DefaultOKDUpdateURL, the
// default oc-mirror uses for OKD). oc-mirror ignores the override for OKD
// channels; here it applies to both, since it points at a local update
// service whatever the releases. The answer is checked: versions are
// semantic versions listed once, payloads are pinned by digest, edges join
// existing nodes; errors name the URL and channel, and an unreachable
// service says so and names UPDATE_URL_OVERRIDE. Conditional edges
// (conditionalEdges) are not followed, as oc-mirror does not.
//
// # Selecting releases (Selection, Graph.Select)
//
// As oc-mirror v2 resolves a channel entry (internal/pkg/release:
// resolveChannelVersions, getChannelDownloads), per architecture:
//
//   - neither minVersion nor maxVersion, full false: the channel's latest
//     release only (heads only, oc-mirror's default);
//   - minVersion only: every release from minVersion to the latest;
//   - maxVersion only: every release from the channel's first to maxVersion
//     (oc-mirror's code does this; its documentation does not say);
//   - both: every release from minVersion to maxVersion;
//   - full: a missing minVersion means the channel's first release, a
//     missing maxVersion its latest. oc-mirror's documentation says full
//     mirrors "the entire channel regardless of version constraints", its
//     code keeps the bounds given; this package follows the code: full
//     with bounds selects within them;
//   - shortestPath: with the bounds found as above, only the releases on a
//     shortest update path (fewest edges) from the lower bound to the upper
//     one, both included, in path order. Among paths of equal length the
//     one taking the highest next version at each step is chosen
//     (oc-mirror's breadth-first search also prefers higher versions, by
//     its visiting order).
//
// Versions order by semantic version precedence (OKD's 4.18.0-okd-scos.9
// is a pre-release of 4.18.0). Where oc-mirror is silent or lenient this
// package is strict, stating it here: a minVersion or maxVersion that is
// not a release of the channel is an error listing the nearest versions
// there (oc-mirror filters by the range and would silently select fewer
// releases for a mistyped version); minVersion above maxVersion is an
// error; with shortestPath, no path from the lower bound to the upper one
// is an error (oc-mirror then mirrors only the two ends). oc-mirror's
// cross-channel paths (several channels of one type, joined by their
// minor versions) are not computed here: each Selection is one channel.
//
// # What to carry
//
// Load resolves and reads the payloads of selected nodes from their
// registries and checks each release-metadata version against the graph.
// Release.Images lists the payload (and the index, with Multi) and every
// component, each an Image whose Origin says what selected it, e.g.
// "release 4.18.1 (amd64, channel stable-4.18): component etcd".
package release
