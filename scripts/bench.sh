#!/usr/bin/env bash
# bench.sh: measure `bundle pack`, `verify` and `unpack` against baselines on one generated data
# set, in one run: openssl dgst -sha256 (one core hashing), cat (the I/O floor), cat + fsync,
# tar | split, skopeo copy. Prints one table and writes it, with the raw numbers, to
# BENCH_DIR/results/. `make bench` runs it; see README.md, "Benchmarks".
#
#   scripts/bench.sh                      run (parameters from the environment, below)
#   scripts/bench.sh compare FILE...      side by side: medians of earlier *.summary.tsv results
#
# BENCH_SIZE=2G       size mode: GiB of blobs in the data set (512M, 4G, ...: powers of 1024)
# BENCH_SPLIT=1       split-heavy shape of the size mode: one layer of 54 % of BENCH_SIZE shared
#                     by every image, 24 blobs (as a real Debian-based set: 417 MB, one 227 MB
#                     layer), volumes of 100 MB per 417 MB, so large layers split across volumes
# BENCH_BLOBS=N       scale mode instead: N tiny blobs (a large operator catalog), e.g. 100000
# BENCH_RUNS=3        runs; the table shows the median and min-max of each measure
# BENCH_DIR=bench     data cache (data/), results (results/), scratch (work.PID/, removed)
# BENCH_SEED=1        seed of the data set
# BENCH_VOLUME=       volume size (bytes, or 700M, 4.7GB: powers of 1000; 4GiB: of 1024);
#                     default: 700 MB per 2 GiB of data (3-4 volumes), in scale mode plus 1 KB
#                     per blob (every volume carries the whole index), at least 1 MB
# BENCH_SKOPEO_MAX=   skopeo copies at most this many tags (spread evenly over the tag list) and
#                     scales its times to all tags; default: all in size mode, 300 in scale mode;
#                     0 leaves skopeo out
# BENCH_REGISTRY=1    also push the volumes into a docker-registry on 127.0.0.1 (bundle unpack
#                     --to docker://, --jobs 4 and 1) against skopeo copy of the same tags
#                     and skopeo sync --src dir into it, and pack from it (bundle pack
#                     docker://HOST/m/*) against skopeo sync --dest dir; 0 leaves them out
# BENCH_SYNC_MAX=     skopeo sync (registry rows) takes at most this many tags, spread evenly, and
#                     its times are scaled to all tags; default: 8 (skopeo sync --dest dir writes
#                     every image's layers into a directory of its own: 15.6 GB for the 2 GiB set)
# BUNDLE=bin/bundle   the binary measured
set -euo pipefail

die() { echo "bench: $*" >&2; exit 1; }
say() { echo "bench: $*" >&2; }

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)

# ---------------------------------------------------------------------------------------------
# compare: medians of several results side by side (e.g. 512M, 2G, 4G: does RSS grow?).
if [ "${1:-}" = compare ]; then
  shift
  [ $# -gt 0 ] || die "usage: bench.sh compare RESULT.summary.tsv..."
  for f; do [ -f "$f" ] || die "$f: no such file"; done
  awk -F'\t' '
    FNR == 1 { nf++; name[nf] = FILENAME; sub(/.*\//, "", name[nf]); sub(/\.summary\.tsv$/, "", name[nf]) }
    /^# / { if (match($0, /data=[^ ]*/)) data[nf] = substr($0, RSTART + 5, RLENGTH - 5); next }
    $1 == "op" { next }
    { if (!($1 in seen)) { seen[$1] = 1; ops[++nops] = $1 }
      wall[$1, nf] = $2; mbs[$1, nf] = $8; rss[$1, nf] = $10 }
    END {
      for (i = 1; i <= nf; i++) printf "%-3s %s (%s)\n", "[" i "]", name[i], data[i]
      printf "\n%-12s", "op"
      for (i = 1; i <= nf; i++) printf " | %-28s", "[" i "] wall s / MB/s / RSS MiB"
      printf "\n"
      for (o = 1; o <= nops; o++) {
        printf "%-12s", ops[o]
        for (i = 1; i <= nf; i++)
          if ((ops[o], i) in wall) printf " | %8.2f %8.0f %9.1f  ", wall[ops[o], i], mbs[ops[o], i], rss[ops[o], i]
          else printf " | %-28s", "-"
        printf "\n"
      }
    }' "$@"
  exit 0
fi
[ $# -eq 0 ] || die "usage: bench.sh [compare FILE...] (parameters come from BENCH_* variables)"

# ---------------------------------------------------------------------------------------------
# Parameters and tools.
SIZE=${BENCH_SIZE:-2G}
BLOBS=${BENCH_BLOBS:-0}
SPLIT=${BENCH_SPLIT:-0}
RUNS=${BENCH_RUNS:-3}
SEED=${BENCH_SEED:-1}
DIR=${BENCH_DIR:-$ROOT/bench}
VOLUME=${BENCH_VOLUME:-}
SKOPEO_MAX=${BENCH_SKOPEO_MAX:-}
SYNC_MAX=${BENCH_SYNC_MAX:-8}
REGISTRY=${BENCH_REGISTRY:-1}
BUNDLE=${BUNDLE:-$ROOT/bin/bundle}
GO=${GO:-go}
export BUNDLE_PASSWORD=${BUNDLE_PASSWORD:-bench-only-password}

[[ $RUNS =~ ^[1-9][0-9]*$ ]] || die "BENCH_RUNS=$RUNS: want a number of runs, 1 or more"
[[ $BLOBS =~ ^[0-9]+$ ]] || die "BENCH_BLOBS=$BLOBS: want a number of blobs"
[[ $SEED =~ ^[0-9]+$ ]] || die "BENCH_SEED=$SEED: want a number"
[[ $SIZE =~ ^[0-9.]+[KkMmGgTt]?([iI]?[bB])?$ ]] || die "BENCH_SIZE=$SIZE: want e.g. 512M, 2G, 4G (powers of 1024)"
[[ -z $SKOPEO_MAX || $SKOPEO_MAX =~ ^[0-9]+$ ]] || die "BENCH_SKOPEO_MAX=$SKOPEO_MAX: want a number of tags"

need() { command -v "$1" >/dev/null 2>&1 || die "$1 is missing: $2"; }
[ -x /usr/bin/time ] && /usr/bin/time -f %e -o /dev/null "$BASH" -c : 2>/dev/null ||
  die "GNU time is missing at /usr/bin/time (Debian: apt-get install time)"
need openssl "install openssl (Debian: apt-get install openssl)"
need tar "install GNU tar"
need split "install coreutils"
need sync "install coreutils"
need xargs "install findutils"
need find "install findutils"
need awk "install mawk or gawk"
need "$GO" "install Go (the data set generator is a Go program)"
[ "${SKOPEO_MAX}" = 0 ] || need skopeo "install skopeo (Debian: apt-get install skopeo), or set BENCH_SKOPEO_MAX=0 to leave it out"
[ -x "$BUNDLE" ] || die "$BUNDLE is missing: run make build (make bench builds it first)"
if [ "$REGISTRY" != 0 ]; then
  need docker-registry "install docker-registry (Debian: apt-get install docker-registry), or set BENCH_REGISTRY=0 to leave the registry rows out"
  need curl "install curl, or set BENCH_REGISTRY=0"
fi

if [ "$REGISTRY" != 0 ]; then
  # Issue 15 names Hauler and Zarf as other tools that carry images across an air gap; this
  # script has no rows for them: compare by hand where they are installed.
  for t in hauler zarf; do
    command -v "$t" >/dev/null ||
      say "$t is not on PATH, so not compared (get it from https://github.com/$([ $t = hauler ] && echo hauler-dev/hauler || echo zarf-dev/zarf)/releases)"
  done
fi

mkdir -p "$DIR"/{bin,data,results}
DIR=$(cd "$DIR" && pwd)
[[ $DIR != *:* ]] || die "BENCH_DIR=$DIR: a path with ':' cannot be named in oci: references"

# ---------------------------------------------------------------------------------------------
# The data set: generated once per parameters, then reused.
if [ "$BLOBS" -gt 0 ]; then
  [ "$SPLIT" = 0 ] || die "BENCH_SPLIT is a shape of the size mode: leave BENCH_BLOBS out"
  PARAMS=blobs-$BLOBS-seed$SEED
  GENARGS=(-blobs "$BLOBS")
elif [ "$SPLIT" != 0 ]; then
  PARAMS=split-$SIZE-seed$SEED
  GENARGS=(-size "$SIZE" -split)
else
  PARAMS=size-$SIZE-seed$SEED
  GENARGS=(-size "$SIZE")
fi
DATA=$DIR/data/$PARAMS
LAYOUT=$DATA/layout
(cd "$ROOT" && "$GO" build -o "$DIR/bin/benchgen" ./internal/benchdata/cmd/benchgen) || die "cannot build the generator"
"$DIR/bin/benchgen" "${GENARGS[@]}" -seed "$SEED" -out "$DATA" || die "cannot generate the data set in $DATA"
# shellcheck source=/dev/null
. "$DATA/info.env"

# Volume size: bytes, for both bundle --max-size and split -b.
if [ -n "$VOLUME" ]; then
  VOLBYTES=$(awk -v s="$VOLUME" 'BEGIN {
    if (!match(s, /^[0-9]+(\.[0-9]+)?/)) exit 1
    n = substr(s, 1, RLENGTH); u = toupper(substr(s, RLENGTH + 1))
    m[""] = 1; m["B"] = 1; m["K"] = m["KB"] = 1e3; m["M"] = m["MB"] = 1e6; m["G"] = m["GB"] = 1e9
    m["KIB"] = 1024; m["MIB"] = 1048576; m["GIB"] = 1073741824
    if (!(u in m) || n * m[u] < 1) exit 1
    printf "%.0f", n * m[u] }') || die "BENCH_VOLUME=$VOLUME: want bytes, or e.g. 700M, 4.7GB, 4GiB"
else
  # 700 MB per 2 GiB; in scale mode, 1 KB more per blob: every volume carries the whole index;
  # in the split shape 100 MB per 417 MB, as the real set it follows was packed.
  VOLBYTES=$(awk -v b="$DATA_BYTES" -v n="$DATA_BLOBS" -v m="$DATA_MODE" 'BEGIN {
    v = b * 700 / 2147.483648; if (m == "blobs") v += n * 1000; if (m == "split") v = b * 100 / 417
    v = int(v / 1e6 + 0.5) * 1e6; if (v < 1e6) v = 1e6; printf "%.0f", v }')
fi

if [ -z "$SKOPEO_MAX" ]; then
  if [ "$DATA_MODE" = blobs ]; then SKOPEO_MAX=300; else SKOPEO_MAX=$DATA_TAGS; fi
fi
SKOPEO_TAGS=$((SKOPEO_MAX < DATA_TAGS ? SKOPEO_MAX : DATA_TAGS))

WORK=$DIR/work.$$
OUT=$WORK/out
rm -rf "$WORK"
mkdir -p "$OUT"
# start_registry DIR: a fresh docker-registry on a free port of 127.0.0.1, storage in DIR;
# sets REG_HOST. stop_registry stops it.
REG_PID=
start_registry() {
  local dir=$1 p
  rm -rf "$dir" && mkdir -p "$dir"
  for _ in $(seq 1 20); do
    p=$((20000 + RANDOM % 30000))
    ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null || continue
    printf 'version: 0.1\nlog:\n  level: error\n  accesslog:\n    disabled: true\nstorage:\n  filesystem:\n    rootdirectory: %s\n  maintenance:\n    uploadpurging:\n      enabled: false\nhttp:\n  addr: 127.0.0.1:%s\n  secret: bench\n' \
      "$dir/storage" "$p" >"$dir/config.yml"
    docker-registry serve "$dir/config.yml" >"$dir/log" 2>&1 &
    REG_PID=$!
    for _ in $(seq 1 100); do
      if curl -sf "http://127.0.0.1:$p/v2/" >/dev/null; then REG_HOST=127.0.0.1:$p; return 0; fi
      kill -0 "$REG_PID" 2>/dev/null || break
      sleep 0.1
    done
    stop_registry
  done
  die "cannot start docker-registry (last log: $dir/log)"
}
stop_registry() {
  if [ -n "$REG_PID" ]; then kill "$REG_PID" 2>/dev/null || true; wait "$REG_PID" 2>/dev/null || true; REG_PID=; fi
}
trap 'stop_registry; rm -rf "$WORK"' EXIT

STAMP=$(date -u +%Y%m%dT%H%M%SZ)
RES=$DIR/results/$STAMP-$PARAMS
RAW=$RES.tsv
SUMMARY=$RES.summary.tsv
printf 'run\top\twall_s\tuser_s\tsys_s\tmaxrss_kib\tscale\n' >"$RAW"

# The blob files, as names under blobs/sha256: every baseline reads exactly these bytes.
LIST=$WORK/blobs.list
find "$LAYOUT/blobs/sha256" -type f -printf '%f\0' | sort -z >"$LIST"
n=$(tr -cd '\0' <"$LIST" | wc -c)
[ "$n" -eq "$DATA_BLOBS" ] || die "$LAYOUT holds $n blob files, info.env says $DATA_BLOBS: remove $DATA and run again"
BLOBDIR=$LAYOUT/blobs/sha256

# Tags skopeo copies: all, or SKOPEO_TAGS spread evenly; its times are scaled to all tags.
TAGS=$WORK/tags.txt
awk -v n="$DATA_TAGS" -v k="$SKOPEO_TAGS" 'int(NR * k / n) != int((NR - 1) * k / n)' "$DATA/tags.txt" >"$TAGS"
# What skopeo sync takes from the registry: each repository whole when every tag is measured,
# else SYNC_TAGS tags spread evenly, each on its own (REPO:TAG), its times scaled to all tags.
[[ $SYNC_MAX =~ ^[0-9]+$ ]] || die "BENCH_SYNC_MAX=$SYNC_MAX: want a number of tags"
SYNC_TAGS=$((SKOPEO_TAGS == 0 ? 0 : SYNC_MAX < DATA_TAGS ? SYNC_MAX : DATA_TAGS))
SYNC_REFS=$WORK/sync.txt
if [ "$SYNC_TAGS" -eq "$DATA_TAGS" ]; then
  awk '{ sub(/:[^:]*$/, ""); if (!seen[$0]++) print }' "$DATA/tags.txt" >"$SYNC_REFS"
else
  awk -v n="$DATA_TAGS" -v k="$SYNC_TAGS" 'int(NR * k / n) != int((NR - 1) * k / n)' "$DATA/tags.txt" >"$SYNC_REFS"
fi
SYNC_SCALE=1
[ "$SYNC_TAGS" -eq 0 ] || [ "$SYNC_TAGS" -eq "$DATA_TAGS" ] ||
  SYNC_SCALE=$(awk -v n="$DATA_TAGS" -v k="$SYNC_TAGS" 'BEGIN { printf "%.6f", n / k }')
SKOPEO_SCALE=1
[ "$SKOPEO_TAGS" -eq 0 ] || [ "$SKOPEO_TAGS" -eq "$DATA_TAGS" ] ||
  SKOPEO_SCALE=$(awk -v n="$DATA_TAGS" -v k="$SKOPEO_TAGS" 'BEGIN { printf "%.6f", n / k }')

"$BUNDLE" -q keygen --out "$WORK/key" >/dev/null || die "bundle keygen failed"

# measure RUN OP SCALE CMD...: run CMD under GNU time (after a sync, so that no earlier
# write-back competes), append wall, user, sys and peak RSS to the raw results.
measure() {
  local run=$1 op=$2 scale=$3 e u s m
  shift 3
  sync
  if ! /usr/bin/time -f '%e %U %S %M' -o "$WORK/time" "$@" >"$WORK/log" 2>&1; then
    tail -n 30 "$WORK/log" >&2
    die "$op failed (run $run): $*"
  fi
  read -r e u s m < <(tail -n 1 "$WORK/time")
  printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$run" "$op" "$e" "$u" "$s" "$m" "$scale" >>"$RAW"
  printf 'bench:   %-10s wall %7.2f s  cpu %7.2f s  peak RSS %7.1f MiB%s\n' "$op" "$e" \
    "$(awk -v u="$u" -v s="$s" 'BEGIN { print u + s }')" "$(awk -v m="$m" 'BEGIN { print m / 1024 }')" \
    "$([ "$scale" = 1 ] || echo " (a sample of the tags: times x$scale in the table)")" >&2
}
clean() { rm -rf "${OUT:?}"/*; }
# prime: write and remove a scratch file a little larger than the data set, just before each
# command that writes. On a virtual machine that hands freed memory back to its host (virtio
# balloon free page reporting, as here), the first write into memory the host took back costs
# 2-3 times more: measured here, cat into a file took 0.9 s right after a clean, and 2.0-2.9 s
# right after a pack had filled that memory, and an unpack 6.6 s unprimed against 2.2-2.7 s
# primed. Primed, every writer (ours and the baselines) starts with the same memory at hand,
# whatever ran before it. The file is removed at once, mostly before any of it is written back.
PRIME_BYTES=$(awk -v b="$DATA_BYTES" 'BEGIN { printf "%.0f", b * 1.25 + 64 * 1048576 }')
prime() { head -c "$PRIME_BYTES" /dev/zero >"$WORK/prime" && rm -f "$WORK/prime"; }
# measure_write: measure, primed.
measure_write() { prime; measure "$@"; }
warm() { (cd "$BLOBDIR" && xargs -0 -s 1000000 -a "$LIST" cat >/dev/null); }

LOAD0=$(cut -d' ' -f1-3 /proc/loadavg)
say "data set $DATA ($DATA_BLOBS blobs, $DATA_BYTES bytes, $DATA_TAGS tags); volumes of $VOLBYTES bytes; $RUNS runs"
VOLS=- INDEX_BYTES=-
for run in $(seq 1 "$RUNS"); do
  say "run $run of $RUNS"
  clean
  warm
  measure "$run" openssl 1 bash -c 'cd "$1" && xargs -0 -s 1000000 -a "$2" openssl dgst -sha256 >/dev/null' _ "$BLOBDIR" "$LIST"
  measure_write "$run" cat 1 bash -c 'cd "$1" && xargs -0 -s 1000000 -a "$2" cat >"$3"' _ "$BLOBDIR" "$LIST" "$OUT/cat"
  clean
  measure_write "$run" cat_fsync 1 bash -c 'cd "$1" && xargs -0 -s 1000000 -a "$2" cat >"$3" && sync "$3"' _ "$BLOBDIR" "$LIST" "$OUT/cat"
  clean
  mkdir "$OUT/split"
  measure_write "$run" tar_split 1 bash -c 'set -o pipefail; tar -cf - -C "$1" . | split -b "$2" - "$3/part."' _ "$LAYOUT" "$VOLBYTES" "$OUT/split"
  clean
  if [ "$SKOPEO_TAGS" -gt 0 ]; then
    measure_write "$run" skopeo "$SKOPEO_SCALE" bash -c 'while IFS= read -r t; do
        skopeo --insecure-policy copy -q --all "oci:$1:$t" "oci:$2:$t" || exit 1
      done <"$3"' _ "$LAYOUT" "$OUT/skopeo" "$TAGS"
    clean
  fi
  warm
  # Unsigned first: the same work without decrypting the key (scrypt, 64 MiB
  # by the cosign key format), to show what the data path itself takes.
  measure_write "$run" pack_unsigned 1 "$BUNDLE" -q pack --unsigned --max-size "$VOLBYTES" --out "$OUT/pack" "oci:$LAYOUT"
  clean
  measure_write "$run" pack 1 "$BUNDLE" -q pack --key "$WORK/key.key" --max-size "$VOLBYTES" --out "$OUT/pack" "oci:$LAYOUT"
  measure "$run" verify 1 "$BUNDLE" -q verify --key "$WORK/key.pub" "$OUT/pack"
  # cat again, in the state unpack runs in (the volumes beside the data, both in the page
  # cache): the volumes into one file, removed before unpack.
  measure_write "$run" cat_unpack 1 bash -c 'cat "$1"/vol-*.tar >"$2"' _ "$OUT/pack" "$OUT/cat"
  rm -f "$OUT/cat"
  if [ "$REGISTRY" != 0 ]; then
    # Volumes into a registry: bundle unpack --to docker:// (4 uploads in flight, then 1),
    # against skopeo copy of the same tags from the layout into a registry (scaled as above).
    for jobs in 4 1; do
      start_registry "$WORK/registry"
      measure_write "$run" "push_$jobs" 1 "$BUNDLE" -q unpack --key "$WORK/key.pub" --jobs "$jobs" \
        --insecure-registry "$REG_HOST" --to "docker://$REG_HOST/m" "$OUT/pack"
      if [ "$jobs" = 4 ]; then
        # The registry now holds the data set under m/: a registry to mirror from. bundle pack of
        # every repository under m/ into volumes, against skopeo sync of the same repositories
        # into directories (one sync per repository, as a user mirrors; or, with a sample of the
        # tags, one per tag, scaled). The synced directories are the source of the sync back below.
        measure_write "$run" pull_pack 1 "$BUNDLE" -q pack --key "$WORK/key.key" --insecure-registry "$REG_HOST" \
          --max-size "$VOLBYTES" --out "$OUT/pull" "docker://$REG_HOST/m/*"
        rm -rf "$OUT/pull"
        if [ "$SYNC_TAGS" -gt 0 ]; then
          measure_write "$run" skopeo_sync_pull "$SYNC_SCALE" bash -c 'while IFS= read -r r; do
              skopeo --insecure-policy sync -a --src docker --dest dir --src-tls-verify=false "$1/m/$r" "$2" >/dev/null || exit 1
            done <"$3"' _ "$REG_HOST" "$OUT/skdir" "$SYNC_REFS"
        fi
      fi
      stop_registry
    done
    if [ "$SKOPEO_TAGS" -gt 0 ]; then
      start_registry "$WORK/registry"
      measure_write "$run" skopeo_push "$SKOPEO_SCALE" bash -c 'while IFS= read -r t; do
          skopeo --insecure-policy copy -q --all --dest-tls-verify=false "oci:$1:$t" "docker://$2/sk/$t" || exit 1
        done <"$3"' _ "$LAYOUT" "$REG_HOST" "$TAGS"
      stop_registry
    fi
    if [ "$SYNC_TAGS" -gt 0 ]; then
      # The directories skopeo sync wrote, into a fresh registry: the way back of skopeo sync.
      start_registry "$WORK/registry"
      measure_write "$run" skopeo_sync_push "$SYNC_SCALE" skopeo --insecure-policy sync -a --src dir --dest docker \
        --dest-tls-verify=false "$OUT/skdir" "$REG_HOST/sk"
      stop_registry
      rm -rf "$OUT/skdir"
    fi
    rm -rf "$WORK/registry"
  fi
  measure_write "$run" unpack 1 "$BUNDLE" -q unpack --key "$WORK/key.pub" --to "oci:$OUT/unpack" "$OUT/pack"
  if [ "$run" = 1 ]; then
    # The unpacked layout has every blob, and every tag; note the volumes and the index size.
    n=$(find "$OUT/unpack/blobs/sha256" -type f | wc -l)
    [ "$n" -eq "$DATA_BLOBS" ] || die "unpack wrote $n blobs, the data set has $DATA_BLOBS"
    n=$(grep -o '"org.opencontainers.image.ref.name"' "$OUT/unpack/index.json" | wc -l)
    [ "$n" -eq "$DATA_TAGS" ] || die "unpack wrote $n tags, the data set has $DATA_TAGS"
    set -- "$OUT"/pack/vol-*.tar
    VOLS=$#
    INDEX_BYTES=$(tar -xOf "$1" bundle.json | wc -c)
  fi
  clean
done

# ---------------------------------------------------------------------------------------------
# The table.
hsize() { awk -v b="$1" 'BEGIN { split("B KiB MiB GiB TiB", u); i = 1; while (b >= 1024 && i < 5) { b /= 1024; i++ }
  printf(i == 1 ? "%d %s" : "%.2f %s", b, u[i]) }'; }
COMMIT=$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo unknown)
git -C "$ROOT" diff --quiet HEAD 2>/dev/null || COMMIT="$COMMIT+changes"
CPU=$(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo)
MEM=$(awk '/^MemTotal/ { printf "%.1f GiB", $2 / 1048576 }' /proc/meminfo)
FS=$(df -PT "$DIR" | awk 'NR == 2 { print $2 }')
if [ "$DATA_MODE" = blobs ]; then
  WHAT="$DATA_BLOBS blobs (scale mode, BENCH_BLOBS=$BLOBS)"
  RSS_GOAL=256
else
  WHAT="$(hsize "$DATA_BYTES") (size mode, BENCH_SIZE=$SIZE)"
  [ "$DATA_MODE" != split ] || WHAT="$(hsize "$DATA_BYTES") (split shape, BENCH_SIZE=$SIZE BENCH_SPLIT=1)"
  RSS_GOAL=64
fi
{
  echo "bundle bench $STAMP: $WHAT, seed $SEED, $RUNS run(s)"
  echo "data set    $LAYOUT"
  echo "            $DATA_BYTES bytes in $DATA_BLOBS blobs: $DATA_LAYERS gzip layers ($(hsize "$DATA_SMALLEST_LAYER") to $(hsize "$DATA_LARGEST_LAYER"), $DATA_SHARED_LAYERS shared), $DATA_CONFIGS configs, $DATA_MANIFESTS manifests, $DATA_INDEXES index; $DATA_TAGS tags"
  echo "volumes     --max-size $VOLBYTES: $VOLS volumes; bundle.json (the index, in every volume) $INDEX_BYTES bytes ($(hsize "${INDEX_BYTES/-/0}"), $(awk -v i="${INDEX_BYTES/-/0}" -v n="$DATA_BLOBS" 'BEGIN { printf "%.0f", i / n }') per blob)"
  echo "machine     $(nproc) CPUs ($CPU), $MEM RAM, $FS at $DIR, $(uname -sr)"
  echo "load        $LOAD0 at the start, $(cut -d' ' -f1-3 /proc/loadavg) at the end (1, 5, 15 min averages; others' work adds noise)"
  echo "versions    bundle $("$BUNDLE" --version 2>/dev/null | awk '{ print $NF }') ($COMMIT), $(openssl version | awk '{ print $1, $2 }'), $(tar --version | head -n 1), skopeo $(skopeo --version 2>/dev/null | awk '{ print $3 }')"
  echo
  awk -F'\t' -v bytes="$DATA_BYTES" -v blobs="$DATA_BLOBS" -v mode="$DATA_MODE" -v rssgoal="$RSS_GOAL" \
    -v tags="$DATA_TAGS" -v sktags="$SKOPEO_TAGS" -v synctags="$SYNC_TAGS" -v summary="$SUMMARY" \
    -v head="# data=$PARAMS bytes=$DATA_BYTES blobs=$DATA_BLOBS tags=$DATA_TAGS runs=$RUNS volume=$VOLBYTES volumes=$VOLS index=$INDEX_BYTES commit=$COMMIT stamp=$STAMP" '
    function stat(arr, op, what,   i, j, t, v, c) {
      c = n[op]
      for (i = 1; i <= c; i++) v[i] = arr[op, i]
      for (i = 2; i <= c; i++) { t = v[i]; for (j = i - 1; j >= 1 && v[j] > t; j--) v[j + 1] = v[j]; v[j + 1] = t }
      if (what == "min") return v[1]
      if (what == "max") return v[c]
      return c % 2 ? v[(c + 1) / 2] : (v[c / 2] + v[c / 2 + 1]) / 2
    }
    function has(op) { return op in n }
    function ratio(a, b) { return (b > 0 && a != "") ? sprintf("%.2fx", a / b) : "-" }
    function num(x) { return sprintf(x >= 1000 ? "%.0f" : x >= 100 ? "%.1f" : "%.2f", x) }
    function spread(arr, op) { return num(stat(arr, op, "med")) " (" num(stat(arr, op, "min")) "-" num(stat(arr, op, "max")) ")" }
    function mib(arr, op) { return sprintf("%.1f (%.1f-%.1f)", stat(arr, op, "med"), stat(arr, op, "min"), stat(arr, op, "max")) }
    function target(what, v, goal, ok) {
      printf "%-52s %10s  %-10s %s\n", what, v, goal, v == "-" ? "n/a" : ok ? "PASS" : "MISS"
      if (v != "-") { if (ok) pass++; else miss++ }
    }
    NR == 1 { next }
    {
      op = $2; k = ++n[op]; sc = $7 + 0
      wall[op, k] = $3 * sc; cpu[op, k] = ($4 + $5) * sc; rss[op, k] = $6 / 1024
    }
    END {
      nops = split("pack verify unpack openssl cat cat_fsync tar_split skopeo pack_unsigned cat_unpack push_4 push_1 skopeo_push skopeo_sync_push pull_pack skopeo_sync_pull", ops, " ")
      label["pack"] = "bundle pack"; label["verify"] = "bundle verify"; label["unpack"] = "bundle unpack"
      label["openssl"] = "openssl dgst -sha256"; label["cat"] = "cat > file"; label["cat_fsync"] = "cat > file + fsync"
      label["tar_split"] = "tar | split"
      label["pack_unsigned"] = "bundle pack --unsigned (info)"
      label["cat_unpack"] = "cat > file, where unpack runs"
      label["push_4"] = "bundle unpack --to docker://"; label["push_1"] = "  the same, --jobs 1 (info)"
      label["skopeo_push"] = sktags < tags ? sprintf("skopeo copy ~ to registry (%d/%d)", sktags, tags) : sprintf("skopeo copy to registry (%d tags)", tags)
      label["skopeo_sync_push"] = synctags < tags ? sprintf("skopeo sync ~ dir to registry %d/%d", synctags, tags) : "skopeo sync dir to registry"
      label["pull_pack"] = "bundle pack docker://.../*"
      label["skopeo_sync_pull"] = synctags < tags ? sprintf("skopeo sync ~ registry to dir %d/%d", synctags, tags) : "skopeo sync registry to dir"
      label["skopeo"] = sktags < tags ? sprintf("skopeo copy ~ (%d of %d tags)", sktags, tags) : sprintf("skopeo copy (%d tags)", tags)
      print head > summary
      print "op\twall_med\twall_min\twall_max\tcpu_med\tcpu_min\tcpu_max\tmb_per_s\tblobs_per_s\trss_mib_med\trss_mib_min\trss_mib_max\truns" > summary
      printf "%-34s %-22s %-22s %8s %9s  %s\n", "", "wall s", "CPU s (user+sys)", "MB/s", "blobs/s", "peak RSS MiB"
      printf "%-34s %-22s %-22s %8s %9s  %s\n", "", "median (min-max)", "median (min-max)", "", "", "median (min-max)"
      for (i = 1; i <= nops; i++) {
        op = ops[i]
        if (!has(op)) continue
        W[op] = stat(wall, op, "med"); C[op] = stat(cpu, op, "med"); R[op] = stat(rss, op, "med")
        mbs = W[op] > 0 ? bytes / 1e6 / W[op] : 0; bps = W[op] > 0 ? blobs / W[op] : 0
        printf "%-34s %-22s %-22s %8.1f %9.0f  %s\n", label[op], spread(wall, op), spread(cpu, op), mbs, bps, mib(rss, op)
        if (i == 3 || i == 10 || i == 14) print ""
        printf "%s\t%.3f\t%.3f\t%.3f\t%.3f\t%.3f\t%.3f\t%.1f\t%.1f\t%.1f\t%.1f\t%.1f\t%d\n", op, W[op], stat(wall, op, "min"), stat(wall, op, "max"), \
          C[op], stat(cpu, op, "min"), stat(cpu, op, "max"), mbs, bps, R[op], stat(rss, op, "min"), stat(rss, op, "max"), n[op] > summary
      }
      if (sktags < tags && has("skopeo")) printf "~ skopeo copied %d of the %d tags, spread evenly; its wall and CPU times are scaled to all %d\n", sktags, tags, tags
      if (synctags < tags && has("skopeo_sync_pull")) printf "~ skopeo sync took %d of the %d tags (BENCH_SYNC_MAX), spread evenly, one by one; its times are scaled to all %d\n", synctags, tags, tags
      printf "\nours vs baselines (medians)  %-13s %-13s %-11s %-15s %-13s %s\n", "openssl", "openssl", "cat", "cat+fsync", "tar|split", "skopeo copy"
      printf "%-28s %-13s %-13s %-11s %-15s %-13s %s\n", "", "speed", "CPU", "wall", "wall", "wall", "x faster"
      printf "%-28s %-13s %-13s %-11s %-15s %-13s %s\n", "", "ossl/ours", "ours/ossl", "ours/cat", "ours/cat+fsync", "ours/tar", "skopeo/ours"
      for (i = 1; i <= 3; i++) {
        op = ops[i]
        printf "%-28s %-13s %-13s %-11s %-15s %-13s %s\n", label[op], ratio(W["openssl"], W[op]), ratio(C[op], C["openssl"]), \
          ratio(W[op], W["cat"]), ratio(W[op], W["cat_fsync"]), ratio(W[op], W["tar_split"]), ratio(W["skopeo"], W[op])
      }
      if (has("push_4"))
        printf "%-28s push --jobs 1/--jobs 4: %s wall; skopeo copy to docker:// / push: %s; skopeo sync dir to docker / push: %s\n", "into a registry", ratio(W["push_1"], W["push_4"]), \
          has("skopeo_push") ? ratio(W["skopeo_push"], W["push_4"]) : "-", has("skopeo_sync_push") ? ratio(W["skopeo_sync_push"], W["push_4"]) : "-"
      if (has("pull_pack"))
        printf "%-28s pack/cat+fsync: %s wall; skopeo sync docker to dir / pack: %s\n", "from a registry", ratio(W["pull_pack"], W["cat_fsync"]), \
          has("skopeo_sync_pull") ? ratio(W["skopeo_sync_pull"], W["pull_pack"]) : "-"
      printf "\n%-52s %10s  %-10s %s\n", "target (issue 5)", "measured", "goal", "result"
      if (mode != "blobs") { # per-byte targets: for the size mode (scale mode measures blobs/s)
        target("verify throughput vs openssl (openssl wall/verify)", ratio(W["openssl"], W["verify"]), ">= 1.5x", W["verify"] > 0 && W["openssl"] / W["verify"] >= 1.5)
        target("verify CPU vs openssl (verify CPU/openssl)", ratio(C["verify"], C["openssl"]), "<= 1.25x", C["openssl"] > 0 && C["verify"] / C["openssl"] <= 1.25)
        target("pack wall vs cat (pack/cat)", ratio(W["pack"], W["cat"]), "<= 1.5x", W["cat"] > 0 && W["pack"] / W["cat"] <= 1.5)
        target("unpack wall vs cat (unpack/cat)", ratio(W["unpack"], W["cat"]), "<= 1.5x", W["cat"] > 0 && W["unpack"] / W["cat"] <= 1.5)
        if (has("cat_unpack"))
          target("unpack wall vs cat where unpack runs", ratio(W["unpack"], W["cat_unpack"]), "<= 1.5x", W["cat_unpack"] > 0 && W["unpack"] / W["cat_unpack"] <= 1.5)
      }
      if (mode == "split") { # issue 15: large layers split across volumes, against the durable floor
        target("pack wall vs cat+fsync, split layers (issue 15)", ratio(W["pack"], W["cat_fsync"]), "<= 1.3x", W["cat_fsync"] > 0 && W["pack"] / W["cat_fsync"] <= 1.3)
        target("unpack wall vs cat+fsync, split layers (issue 15)", ratio(W["unpack"], W["cat_fsync"]), "<= 1.3x", W["cat_fsync"] > 0 && W["unpack"] / W["cat_fsync"] <= 1.3)
      }
      for (i = 1; i <= 3; i++)
        target(label[ops[i]] " peak RSS", sprintf("%.1f MiB", R[ops[i]]), "<= " rssgoal " MiB", R[ops[i]] <= rssgoal)
      if (mode == "blobs")
        for (i = 1; i <= 3; i++)
          target(label[ops[i]] " wall, " blobs " blobs" (blobs < 100000 ? " (goal is for 100000)" : ""), sprintf("%.2f s", W[ops[i]]), "< 60 s", W[ops[i]] < 60)
      target("pack vs skopeo copy (skopeo wall/pack)", has("skopeo") ? ratio(W["skopeo"], W["pack"]) : "-", ">= 4x", W["pack"] > 0 && W["skopeo"] / W["pack"] >= 4)
      target("unpack vs skopeo copy (skopeo wall/unpack)", has("skopeo") ? ratio(W["skopeo"], W["unpack"]) : "-", ">= 4x", W["unpack"] > 0 && W["skopeo"] / W["unpack"] >= 4)
      if (has("pull_pack")) { # issue 15: mirroring from and into registries, against skopeo sync
        target("pack docker:// vs skopeo sync to dir (issue 15)", has("skopeo_sync_pull") ? ratio(W["skopeo_sync_pull"], W["pull_pack"]) : "-", ">= 3x", W["pull_pack"] > 0 && W["skopeo_sync_pull"] / W["pull_pack"] >= 3)
        target("unpack --to docker:// vs skopeo sync dir (issue 15)", has("skopeo_sync_push") ? ratio(W["skopeo_sync_push"], W["push_4"]) : "-", ">= 2x", W["push_4"] > 0 && W["skopeo_sync_push"] / W["push_4"] >= 2)
      }
      printf "%d PASS, %d MISS\n", pass, miss
    }' "$RAW"
  echo
  echo "results     $RES.{txt,tsv,summary.tsv}"
} | tee "$RES.txt"
