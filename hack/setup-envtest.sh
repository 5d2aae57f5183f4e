#!/usr/bin/env bash
# The real kube-apiserver and etcd that envtest runs, built from the Go
# module proxy (hack/lib/kubernetes.sh) once per version into a cache
# outside the checkout (~/.cache/tributary by default) and linked into
# bin/k8s/; tests find them through KUBEBUILDER_ASSETS=$PWD/bin/k8s.
#
#   hack/setup-envtest.sh            build (once) and link bin/k8s/
#   hack/setup-envtest.sh path       print the directory for KUBEBUILDER_ASSETS
set -euo pipefail
cd "$(dirname "$0")/.."
. hack/lib/kubernetes.sh

apiserver_dir="$cache/kube-apiserver-$K8S_VERSION"
etcd_dir="$cache/etcd-$ETCD_VERSION"

install() {
  mkdir -p bin/k8s "$apiserver_dir" "$etcd_dir"
  if [ ! -x "$apiserver_dir/kube-apiserver" ]; then
    echo "building kube-apiserver $K8S_VERSION into $apiserver_dir (a few minutes, once)" >&2
    build_kubernetes "$apiserver_dir" kube-apiserver
  fi
  if [ ! -x "$etcd_dir/etcd" ]; then
    echo "building etcd $ETCD_VERSION into $etcd_dir (a few minutes, once)" >&2
    build_etcd "$etcd_dir"
  fi
  ln -sf "$apiserver_dir/kube-apiserver" bin/k8s/kube-apiserver
  ln -sf "$etcd_dir/etcd" bin/k8s/etcd
}

case ${1:-install} in
  install) install ;;
  path) echo "$PWD/bin/k8s" ;;
  *) echo "usage: hack/setup-envtest.sh [install | path]" >&2; exit 2 ;;
esac
