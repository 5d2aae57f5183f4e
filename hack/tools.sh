#!/usr/bin/env bash
# Builds the project's code generators once per version, caches them outside
# the checkout (~/.cache/tributary by default) and links them into bin/.
# Usage: hack/tools.sh controller-gen
set -euo pipefail
cd "$(dirname "$0")/.."

CONTROLLER_TOOLS_VERSION=v0.21.0 # matches the k8s.io 0.36 modules in go.mod
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
    *) echo "hack/tools.sh: unknown tool $tool" >&2; exit 2 ;;
  esac
done
