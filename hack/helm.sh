#!/usr/bin/env bash
# Helm for the chart's checks (helm lint, helm template): built from the Go
# module proxy once per version, cached outside the checkout
# (~/.cache/tributary by default) and linked into bin/helm.
set -euo pipefail
cd "$(dirname "$0")/.."

HELM_VERSION=v3.19.0
cache=${TRIBUTARY_CACHE:-$HOME/.cache/tributary}
dir="$cache/helm-$HELM_VERSION"
mkdir -p bin "$dir"
if [ ! -x "$dir/helm" ]; then
  echo "building helm $HELM_VERSION into $dir (a few minutes, once)" >&2
  GOBIN="$dir" GOFLAGS=-mod=mod go install -ldflags "-X helm.sh/helm/v3/internal/version.version=$HELM_VERSION" \
    "helm.sh/helm/v3/cmd/helm@$HELM_VERSION"
fi
ln -sf "$dir/helm" bin/helm
