# Tributary build entry points. CI (.ci/run) calls these same targets.
GO ?= go
PKGS ?= ./...
BENCH ?= .
BENCHTIME ?= 1x

.PHONY: all build test test-e2e test-e2e-local bench lint fmt generate manifests verify-generated fuzz minio envtest helm image-tar

all: build

## build: compile every package and command.
build:
	$(GO) build $(PKGS)

## test: the README's test command; unit tests with the race detector, against
## real servers the hack/ scripts build (MinIO, kube-apiserver and etcd).
test: minio envtest helm
	KUBEBUILDER_ASSETS=$(CURDIR)/bin/k8s $(GO) test -race -count=1 $(PKGS)
	cd hack/image && $(GO) test -count=1 ./...
	cd hack/checks && KUBEBUILDER_ASSETS=$(CURDIR)/bin/k8s $(GO) test -count=1 ./...

## test-e2e: the e2e suite (test/e2e) against the cluster KUBECONFIG names;
## E2E_IMAGE and E2E_MINIO_IMAGE must be on its nodes (see test/e2e/doc.go).
test-e2e:
	$(GO) test -tags e2e -count=1 -timeout 45m -v ./test/e2e

## test-e2e-local: the e2e suite on a fresh local cluster (hack/local-cluster.sh, as root), as CI runs it.
test-e2e-local:
	hack/e2e-local.sh

## image-tar: the image, without Docker, as bin/tributary-image.tar (docker load, ctr images import).
IMAGE ?= tributary:$(VERSION)
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
image-tar:
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags "-s -w -X github.com/tributary-dev/tributary/internal/cli.Version=$(VERSION)" \
		-o bin/image/tributary ./cmd/tributary
	cd hack/image && $(GO) run . -binary $(CURDIR)/bin/image/tributary -tag $(IMAGE) -out $(CURDIR)/bin/tributary-image.tar
	@echo "wrote bin/tributary-image.tar ($(IMAGE))"

## helm: build helm once (cached in ~/.cache/tributary) and link bin/helm.
helm:
	hack/helm.sh

## minio: build MinIO once (cached in ~/.cache/tributary) and link bin/minio.
minio:
	hack/minio.sh install

## envtest: build kube-apiserver and etcd once (cached in ~/.cache/tributary)
## and link bin/k8s, for tests run with KUBEBUILDER_ASSETS=$(CURDIR)/bin/k8s.
envtest:
	hack/setup-envtest.sh install

## bench: the engine benchmarks recorded in docs/benchmarks.md.
bench: minio
	$(GO) test -run '^$$' -bench '$(BENCH)' -benchtime $(BENCHTIME) -benchmem ./runtime/...

## fuzz: a short run of every fuzz target (longer runs: FUZZTIME=5m).
FUZZTIME ?= 20s
fuzz:
	hack/fuzz.sh $(FUZZTIME)

## lint: go vet plus a gofmt check.
lint:
	$(GO) vet $(PKGS)
	$(GO) vet -tags e2e ./test/e2e
	cd hack/image && $(GO) vet ./...
	cd hack/checks && $(GO) vet ./...
	@unformatted=$$(gofmt -l $$(git ls-files '*.go')); \
	if [ -n "$$unformatted" ]; then echo "gofmt needed:"; echo "$$unformatted"; exit 1; fi

CONTROLLER_GEN = bin/controller-gen

bin/controller-gen: hack/tools.sh
	hack/tools.sh controller-gen

PROTO_TOOLS = bin/protoc bin/protoc-gen-go bin/protoc-gen-go-grpc

$(PROTO_TOOLS) &: hack/tools.sh
	hack/tools.sh protoc protoc-gen-go protoc-gen-go-grpc

## generate: every generated Go file: deepcopy (controller-gen), protobuf and gRPC code, go:generate directives.
generate: $(CONTROLLER_GEN) $(PROTO_TOOLS)
	$(CONTROLLER_GEN) object paths=./api/...
	PATH="$(CURDIR)/bin:$$PATH" protoc -I proto --go_out=. --go_opt=module=github.com/tributary-dev/tributary \
		--go-grpc_out=. --go-grpc_opt=module=github.com/tributary-dev/tributary proto/tributary/cluster/v1/cluster.proto
	$(GO) generate $(PKGS)

## manifests: the CRD (config/crd/bases), the operator's RBAC (config/rbac), their copies in the Helm chart, and the API reference (docs/api.md).
manifests: $(CONTROLLER_GEN)
	$(CONTROLLER_GEN) crd paths=./api/... output:crd:artifacts:config=config/crd/bases
	$(CONTROLLER_GEN) rbac:roleName=manager-role paths=./controllers/... output:rbac:artifacts:config=config/rbac
	hack/chart-sync.sh
	$(GO) run ./hack/apidocs config/crd/bases/tributary.dev_streamingjobs.yaml > docs/api.md

## verify-generated: fail when generated files differ from what is committed.
verify-generated: generate manifests
	@git diff --exit-code -- api config charts docs/api.md runtime/cluster/clusterpb || { echo "generated files drifted: run make generate manifests and commit" >&2; exit 1; }
	@untracked=$$(git ls-files --others --exclude-standard -- api config charts docs/api.md runtime/cluster/clusterpb); \
	if [ -n "$$untracked" ]; then echo "untracked generated files: $$untracked" >&2; exit 1; fi
