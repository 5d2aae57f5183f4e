# Tributary build entry points. CI (.ci/run) calls these same targets.
GO ?= go
PKGS ?= ./...
BENCH ?= .
BENCHTIME ?= 1x

.PHONY: all build test bench lint fmt generate manifests fuzz

all: build

## build: compile every package and command.
build:
	$(GO) build $(PKGS)

## test: the README's test command; unit tests with the race detector.
test:
	$(GO) test -race -count=1 $(PKGS)

## bench: the engine benchmarks recorded in docs/benchmarks.md.
bench:
	$(GO) test -run '^$$' -bench '$(BENCH)' -benchtime $(BENCHTIME) -benchmem ./runtime/...

## fuzz: a short run of every fuzz target (longer runs: FUZZTIME=5m).
FUZZTIME ?= 20s
fuzz:
	hack/fuzz.sh $(FUZZTIME)

## lint: go vet plus a gofmt check.
lint:
	$(GO) vet $(PKGS)
	@unformatted=$$(gofmt -l $$(git ls-files '*.go')); \
	if [ -n "$$unformatted" ]; then echo "gofmt needed:"; echo "$$unformatted"; exit 1; fi

## generate: every generated Go file (go:generate directives; deepcopy and protobuf join as their issues land).
generate:
	$(GO) generate $(PKGS)

## manifests: CRDs, RBAC and chart copies. The StreamingJob API types land with issue 3; until then there is nothing to emit.
manifests:
	@if ls api/v1alpha1/*_types.go >/dev/null 2>&1; then echo "api types exist but manifests are not wired yet" >&2; exit 1; fi
