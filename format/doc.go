// Package format is the bundle format of SPEC.md, sections 4 to 8, and the
// checks a reader makes of every byte (11.1, 11.4): the index types and
// their validation (ParseIndex), the canonical tar headers, member names,
// the layout arithmetic and the planning of volumes (Plan), the exact
// encoding of an index (MarshalIndex), the volume header reader and the
// one checker of volume bodies that both streaming readers and parallel
// range checks use.
//
// It depends only on the standard library, go-digest and image-spec, so a
// program that only needs to read or check a bundle.json pulls in nothing
// else. Signatures, sets of volumes, packing and unpacking live in package
// bundle.
package format
