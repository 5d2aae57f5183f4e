#!/usr/bin/env bash
# Builds the project's code generators once per version, caches them outside
# the checkout (~/.cache/tributary by default) and links them into bin/.
# Usage: hack/tools.sh controller-gen
set -euo pipefail
cd "$(dirname "$0")/.."

CONTROLLER_TOOLS_VERSION=v0.21.0 # matches the k8s.io 0.36 modules in go.mod
PROTOC_GEN_GO_VERSION=v1.36.11 # matches google.golang.org/protobuf in go.mod
PROTOC_GEN_GO_GRPC_VERSION=v1.6.2
cache=${TRIBUTARY_CACHE:-$HOME/.cache/tributary}
mkdir -p bin "$cache"

install_go_tool() { # name module version
  local name=$1 module=$2 version=$3
  local dir="$cache/$name-$version"
  if [ ! -x "$dir/$name" ]; then
    echo "building $name $version into $dir" >&2
    GOBIN="$dir" GOFLAGS=-mod=mod go install "$module@$version"
  fi
  ln -sf "$dir/$name" "bin/$name"
}

for tool in "$@"; do
  case $tool in
    controller-gen) install_go_tool controller-gen sigs.k8s.io/controller-tools/cmd/controller-gen "$CONTROLLER_TOOLS_VERSION" ;;
    protoc)
      # protoc itself is C++; Debian packages it. (buf's Go module needs
      # dependency versions the module proxy does not serve.)
      if ! command -v protoc >/dev/null 2>&1; then
        echo "installing protoc from Debian's protobuf-compiler" >&2
        apt-get update -qq && apt-get install -y -qq protobuf-compiler >/dev/null
      fi
      ln -sf "$(command -v protoc)" bin/protoc ;;
    protoc-gen-go) install_go_tool protoc-gen-go google.golang.org/protobuf/cmd/protoc-gen-go "$PROTOC_GEN_GO_VERSION" ;;
    protoc-gen-go-grpc) install_go_tool protoc-gen-go-grpc google.golang.org/grpc/cmd/protoc-gen-go-grpc "$PROTOC_GEN_GO_GRPC_VERSION" ;;
    *) echo "hack/tools.sh: unknown tool $tool" >&2; exit 2 ;;
  esac
done
