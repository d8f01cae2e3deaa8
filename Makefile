# bundle: see README.md.
GO       ?= go
BIN      := bin/bundle
DEMO     := demo
export BUNDLE_PASSWORD ?= demo-only-password

.PHONY: all build install man demo test test-short vet bench bench-split bench-scale bench-growth bench-go fuzz fuzz-short test-pkcs11 clean vectors vectors-v2

all: build

# -buildvcs=auto: record the commit (bundle version) even where GOFLAGS says not to.
build:
	$(GO) build -buildvcs=auto -o $(BIN) ./cmd/bundle

# man: the man page, made from the command definitions, into docs/bundle.1 (man -l docs/bundle.1).
man: build
	mkdir -p docs && $(BIN) man > docs/bundle.1

# install: the binary into $(go env GOPATH)/bin (or GOBIN), which should be on PATH.
install:
	$(GO) install -buildvcs=auto ./cmd/bundle

# The main job on the example layout: keygen, pack into several volumes,
# verify, unpack, inspect.
demo: build
	rm -rf $(DEMO) && mkdir -p $(DEMO)
	$(BIN) keygen --out $(DEMO)/release
	SOURCE_DATE_EPOCH=1700000000 $(BIN) pack --key $(DEMO)/release.key --max-size 40K \
		--out $(DEMO)/media oci:testdata/example-layout
	$(BIN) verify --key $(DEMO)/release.pub $(DEMO)/media
	$(BIN) unpack --key $(DEMO)/release.pub --to oci:$(DEMO)/mirror-layout $(DEMO)/media
	$(BIN) inspect --key $(DEMO)/release.pub $(DEMO)/media
	@echo "demo: unpacked layout in $(DEMO)/mirror-layout"

vet:
	$(GO) vet ./...
	@test -z "$$(gofmt -l $$(git ls-files '*.go'))" || { gofmt -l $$(git ls-files '*.go'); echo "gofmt needed"; exit 1; }

# The whole suite (needs skopeo, umoci, zstd, openssl, docker-registry: .ci/run installs them).
test: vet
	$(GO) test -count=1 -timeout 15m ./...

# test-short: the edit loop. -short skips or shrinks the integration-heavy tests (most of those
# on a real docker-registry, skopeo and umoci, large data, repeated scrypt key derivations, the
# README's commands), each of whose behaviours keeps a fast test; `make test` runs them all, and
# is what CI runs.
test-short:
	$(GO) test -short -count=1 ./...

# test-pkcs11: signing with a key in a PKCS#11 token (SoftHSM: apt-get install
# softhsm2; cgo). Built only with the pkcs11 tag, so that the main build needs no C.
test-pkcs11:
	$(GO) test -tags pkcs11 -count=1 -run 'PKCS11' ./sign/ ./cmd/bundle/

# Benchmarks and long fuzzing are kept out of `make test`.
# bench: pack, verify and unpack against openssl, cat, tar|split and skopeo copy on a generated
# data set, and pack from / unpack into a local registry against skopeo (scripts/bench.sh;
# BENCHMARKS.md). Parameters: BENCH_SIZE (2G), BENCH_BLOBS, BENCH_SPLIT, BENCH_RUNS (3),
# BENCH_DIR (bench/), BENCH_SEED, BENCH_VOLUME, BENCH_SKOPEO_MAX, BENCH_SYNC_MAX, BENCH_REGISTRY.
# bench-split: the split shape (large layers split across volumes, issue 15), 512M by default.
# bench-scale: 100,000 tiny blobs. bench-growth: 512M, 2G and 4G side by side (peak RSS).
# bench-go: the Go benchmarks (go test -bench).
BENCH_ENV = GO="$(GO)" BENCH_SIZE="$(BENCH_SIZE)" BENCH_BLOBS="$(BENCH_BLOBS)" BENCH_RUNS="$(BENCH_RUNS)" \
	BENCH_DIR="$(BENCH_DIR)" BENCH_SEED="$(BENCH_SEED)" BENCH_VOLUME="$(BENCH_VOLUME)" \
	BENCH_SKOPEO_MAX="$(BENCH_SKOPEO_MAX)" BENCH_SYNC_MAX="$(BENCH_SYNC_MAX)" \
	BENCH_REGISTRY="$(BENCH_REGISTRY)" BENCH_SPLIT="$(BENCH_SPLIT)"

bench: build
	$(BENCH_ENV) scripts/bench.sh

bench-split: build
	$(BENCH_ENV) BENCH_SPLIT=1 BENCH_SIZE="$(or $(BENCH_SIZE),512M)" scripts/bench.sh

bench-scale: build
	$(BENCH_ENV) BENCH_BLOBS="$(or $(BENCH_BLOBS),100000)" scripts/bench.sh

bench-growth: build
	for s in 512M 2G 4G; do $(BENCH_ENV) BENCH_SIZE=$$s BENCH_BLOBS= BENCH_RUNS="$(or $(BENCH_RUNS),1)" \
		scripts/bench.sh || exit 1; done
	scripts/bench.sh compare $$(for s in 512M 2G 4G; do \
		ls -t $(or $(BENCH_DIR),bench)/results/*-size-$$s-seed$(or $(BENCH_SEED),1).summary.tsv | head -n 1; done)

bench-go:
	$(GO) test -run '^$$' -bench . -benchmem ./...

FUZZTIME ?= 60s
# fuzz: every fuzz target (scripts/fuzz.sh finds them), FUZZTIME each.
# fuzz-short: 10 s each, what CI runs after the tests.
fuzz:
	scripts/fuzz.sh $(FUZZTIME)

fuzz-short:
	scripts/fuzz.sh 10s

clean:
	rm -rf bin $(DEMO)

# The conformance vectors of SPEC.md 17 (testdata/vectors, and version 2's in
# testdata/vectors/v2): made again, new ECDSA signatures and all.
# bundle/vectors_test.go checks them. vectors-v2: version 2's only, leaving
# version 1's (and their signature bytes) as they are.
vectors:
	$(GO) run ./internal/vectorgen -out testdata/vectors -versions 1,2

vectors-v2:
	$(GO) run ./internal/vectorgen -out testdata/vectors -versions 2
