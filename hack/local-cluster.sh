#!/usr/bin/env bash
# A real single-node Kubernetes cluster for the e2e suite, on a machine
# without Docker: etcd, kube-apiserver, kube-controller-manager,
# kube-scheduler, containerd v2 with runc, a kubelet, kube-proxy, CoreDNS,
# and CNI from Debian's packages. Components are built from the Go module
# proxy once per version, cached outside the checkout (~/.cache/tributary).
# ../shared/notes/local-cluster.md records what these machines need.
#
#   hack/local-cluster.sh build     build (once) every component
#
# Not yet: up and down (starting and stopping the cluster).
set -euo pipefail
cd "$(dirname "$0")/.."
. hack/lib/kubernetes.sh

CONTAINERD_VERSION=v2.4.2
COREDNS_VERSION=v1.15.0
node_dir="$cache/kubernetes-node-$K8S_VERSION"
containerd_dir="$cache/containerd-$CONTAINERD_VERSION"
coredns_dir="$cache/coredns-$COREDNS_VERSION"
node_cmds=(kubelet kube-controller-manager kube-scheduler kube-proxy kubectl)

build() {
  local missing=()
  mkdir -p "$node_dir" "$containerd_dir" "$coredns_dir"
  for cmd in "${node_cmds[@]}"; do
    [ -x "$node_dir/$cmd" ] || missing+=("$cmd")
  done
  if [ ${#missing[@]} -gt 0 ]; then
    echo "building ${missing[*]} $K8S_VERSION into $node_dir (several minutes, once)" >&2
    build_kubernetes "$node_dir" "${missing[@]}"
  fi
  for cmd in containerd containerd-shim-runc-v2 ctr; do
    if [ ! -x "$containerd_dir/$cmd" ]; then
      echo "building $cmd $CONTAINERD_VERSION into $containerd_dir" >&2
      GOBIN="$containerd_dir" GOFLAGS=-mod=mod CGO_ENABLED=0 go install -tags no_btrfs \
        "github.com/containerd/containerd/v2/cmd/$cmd@$CONTAINERD_VERSION"
    fi
  done
  if [ ! -x "$coredns_dir/coredns" ]; then
    echo "building coredns $COREDNS_VERSION into $coredns_dir" >&2
    GOBIN="$coredns_dir" GOFLAGS=-mod=mod CGO_ENABLED=0 go install "github.com/coredns/coredns@$COREDNS_VERSION"
  fi
  mkdir -p bin/cluster
  for cmd in "${node_cmds[@]}"; do ln -sf "$node_dir/$cmd" "bin/cluster/$cmd"; done
  for cmd in containerd containerd-shim-runc-v2 ctr; do ln -sf "$containerd_dir/$cmd" "bin/cluster/$cmd"; done
  ln -sf "$coredns_dir/coredns" bin/cluster/coredns
}

case ${1:-} in
  build) build ;;
  *) echo "usage: hack/local-cluster.sh build" >&2; exit 2 ;;
esac
