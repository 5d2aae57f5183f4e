#!/usr/bin/env bash
# The e2e suite on kind, for users and their CI: create a cluster, build the
# image with Docker, load it (and a MinIO image) into kind, run the suite,
# delete the cluster. Needs Docker, kind and Go; helm is built if missing.
#
#   KIND_CLUSTER   the cluster's name (tributary-e2e)
#   E2E_KEEP=1     keep the cluster and what the suite installed
set -euo pipefail
cd "$(dirname "$0")/.."

cluster=${KIND_CLUSTER:-tributary-e2e}
image=tributary:e2e
kubeconfig=$(mktemp)

kind create cluster --name "$cluster" --kubeconfig "$kubeconfig" --wait 3m
trap '[ -n "${E2E_KEEP:-}" ] || kind delete cluster --name "$cluster"; rm -f "$kubeconfig"' EXIT

docker build -t "$image" .
kind load docker-image "$image" --name "$cluster"
# MinIO no longer publishes images: build one from source, as here.
hack/minio.sh image
kind load image-archive bin/minio-image.tar --name "$cluster"
command -v helm >/dev/null || hack/helm.sh

KUBECONFIG="$kubeconfig" HELM="$(command -v helm || echo "$PWD/bin/helm")" \
  E2E_IMAGE="$image" E2E_MINIO_IMAGE="$(hack/minio.sh image-name)" make test-e2e
