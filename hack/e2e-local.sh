#!/usr/bin/env bash
# make test-e2e-local: the e2e suite on a fresh local cluster, as CI runs it,
# on a machine without Docker. It builds the images (Tributary's and
# MinIO's), starts hack/local-cluster.sh's cluster with them, runs the
# suite and stops the cluster again; E2E_KEEP_CLUSTER=1 leaves it up (with
# E2E_KEEP=1, what the suite installed too). A cluster already up is stopped
# first: the suite's starts from nothing. Needs root, as the cluster does.
set -euo pipefail
cd "$(dirname "$0")/.."

version=$(git describe --tags --always --dirty 2>/dev/null || echo dev)
make image-tar VERSION="$version"
hack/minio.sh image
hack/helm.sh

hack/local-cluster.sh down
trap '[ -n "${E2E_KEEP_CLUSTER:-}" ] || hack/local-cluster.sh down' EXIT
hack/local-cluster.sh up

KUBECONFIG="$PWD/bin/cluster/kubeconfig" KUBECTL="$PWD/bin/cluster/kubectl" HELM="$PWD/bin/helm" \
  E2E_IMAGE="tributary:$version" E2E_MINIO_IMAGE="$(hack/minio.sh image-name)" make test-e2e
