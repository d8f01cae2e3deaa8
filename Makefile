# bundle: see README.md.
GO       ?= go
BIN      := bin/bundle
DEMO     := demo
export BUNDLE_PASSWORD ?= demo-only-password

.PHONY: all build demo test vet bench fuzz clean

all: build

build:
	$(GO) build -o $(BIN) ./cmd/bundle

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

# Benchmarks and long fuzzing are kept out of `make test`.
bench:
	$(GO) test -run '^$$' -bench . -benchmem ./...

FUZZTIME ?= 60s
fuzz:
	$(GO) test -run '^$$' -fuzz FuzzParseIndex -fuzztime $(FUZZTIME) ./bundle/
	$(GO) test -run '^$$' -fuzz FuzzReadVolume -fuzztime $(FUZZTIME) ./bundle/
	$(GO) test -run '^$$' -fuzz FuzzParseInventory -fuzztime $(FUZZTIME) ./bundle/

clean:
	rm -rf bin $(DEMO)
