#!/bin/sh
# recover.sh KEY.pub VOLUME_DIR OUT_DIR: turn the volumes VOLUME_DIR/vol-*.tar of a signed bundle
# into an OCI layout without the bundle tool. KEY.pub: ECDSA P-256 or RSA public key (PEM).
# Checks: the signature over bundle.json (the index); every blob against its file name (its
# sha256), after joining split blobs and decompressing .zst ones; that every blob bundle.json
# lists is there (so no volume is missing); index.json against the digest bundle.json gives.
# Format version 2 (SPEC 18): the blobs are listed in each volume's blobs.json, each checked
# against the digest bundle.json gives it, and index.json is in volume 1 only.
# Does NOT check, as the tool does, each volume's tar headers, padding and segment digests
# against the index: damage there is caught only through the blob it changes, and extra blobs
# the index does not list are kept. On failure OUT_DIR has no index.json: it is not a layout.
set -eu
die() { echo "recover: $*" >&2; exit 1; }
[ $# -eq 3 ] || die "usage: recover.sh KEY.pub VOLUME_DIR OUT_DIR"
key=$1 out=$3 tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
set -- "$2"/vol-*.tar
[ -f "$1" ] || die "no vol-*.tar in the volume directory"
mkdir -p "$out" && [ -z "$(ls -A "$out")" ] || die "$out is not an empty directory"
# 1. The index and its signature, from the first volume (every volume carries both).
tar -xf "$1" -C "$tmp" bundle.json bundle.json.sig
openssl dgst -sha256 -verify "$key" -signature "$tmp/bundle.json.sig" "$tmp/bundle.json" >/dev/null ||
  die "the signature over bundle.json does not verify with $key"
grep -q '"bases":\[\]' "$tmp/bundle.json" ||
  die "bundle.json lists bases: an incremental bundle lacks the blobs they supplied; unpack it with the bundle tool onto the layout its bases went to, or ask for a full bundle"
# 2. Untar every volume, if it holds only regular files with the names the format uses.
names='^(oci-layout|index\.json|bundle\.json(\.sig)?|volume\.json|blobs\.json|blobs/sha256/[0-9a-f]{64}(\.zst)?(\.part[0-9]{4})?)$'
for v; do
  tar -tvf "$v" | grep -qv '^-' && die "$v holds links or directories"
  tar -tf "$v" | grep -qEv "$names" && die "$v holds unexpected files"
  tar -xf "$v" -C "$out"
  [ ! -f "$out/index.json" ] || mv "$out/index.json" "$tmp/index.json" # out is no layout until the end
  # Version 2: keep each volume's blob table, named by its volume number, checked by digest.
  if [ -f "$out/blobs.json" ]; then
    n=$(grep -o '"volume":[0-9]*' "$out/volume.json" | cut -d: -f2)
    td=$(grep -o "{\"volume\":$n,\"digest\":\"sha256:[0-9a-f]*\"" "$tmp/bundle.json" | cut -d: -f4 | tr -d '"')
    echo "$td  $out/blobs.json" | sha256sum -c --quiet --strict - || die "$v: blobs.json is not the one bundle.json names"
    mv "$out/blobs.json" "$tmp/table-$n"
  fi
done
[ -f "$tmp/index.json" ] || die "no index.json: is volume 1 missing?"
b=$out/blobs/sha256
# 3. Join split blobs, parts in order. 4. Decompress .zst blobs.
for p in "$b"/*.part0001; do
  [ -e "$p" ] || continue
  f=${p%.part0001}; cat "$f".part[0-9][0-9][0-9][0-9] >"$f"; rm "$f".part*
done
for z in "$b"/*.zst; do [ ! -e "$z" ] || zstd -q -d --rm "$z" || die "cannot decompress $z"; done
# 5. Every blob listed is there, every blob hashes to its name, index.json is the one named.
if grep -q '"formatVersion":2' "$tmp/bundle.json"; then
  want=$(grep -o '{"volume":[0-9]*,"digest":"sha256:' "$tmp/bundle.json" | wc -l)
  [ "$(ls "$tmp" | grep -c '^table-')" -eq "$want" ] || die "a volume is missing: $want blob tables named, fewer found"
  cat "$tmp"/table-* >"$tmp/listed"
else
  sed 's/.*"blobs":\[//' "$tmp/bundle.json" >"$tmp/listed"
fi
grep -o '{"digest":"sha256:[0-9a-f]*"' "$tmp/listed" | cut -d'"' -f4 |
  while read -r d; do [ -f "$b/${d#sha256:}" ] || die "blob $d is missing: is a volume missing?"; done
for f in "$b"/*; do echo "${f##*/}  $f"; done | sha256sum -c --quiet --strict - || die "a blob does not match its digest"
li=$(grep -o '"layoutIndex":{"digest":"sha256:[0-9a-f]*"' "$tmp/bundle.json" | cut -d: -f4 | tr -d '"')
echo "$li  $tmp/index.json" | sha256sum -c --quiet --strict - || die "index.json is not the one bundle.json names"
# 6. Leave a plain OCI layout.
rm "$out/bundle.json" "$out/bundle.json.sig" "$out/volume.json"
mv "$tmp/index.json" "$out/index.json"
