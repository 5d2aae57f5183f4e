#!/usr/bin/env bash
# The real kube-apiserver and etcd that envtest runs, built from the Go
# module proxy (there are no release downloads here, and `go install` fails
# on k8s.io/kubernetes). Built once per version into a cache outside the
# checkout (~/.cache/tributary by default) and linked into bin/k8s/; tests
# find them through KUBEBUILDER_ASSETS=$PWD/bin/k8s.
#
#   hack/setup-envtest.sh            build (once) and link bin/k8s/
#   hack/setup-envtest.sh path       print the directory for KUBEBUILDER_ASSETS
set -euo pipefail
cd "$(dirname "$0")/.."

K8S_VERSION=v1.36.3      # v1.37's module zip is not served
STAGING_VERSION=v0.36.3  # the k8s.io/* staging modules of that release
ETCD_VERSION=v3.6.16
cache=${TRIBUTARY_CACHE:-$HOME/.cache/tributary}
apiserver_dir="$cache/kube-apiserver-$K8S_VERSION"
etcd_dir="$cache/etcd-$ETCD_VERSION"
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT

# k8s.io/kubernetes replaces its staging modules with ./staging paths that
# a module outside its repository cannot use: a wrapper module requires it
# and replaces each of them with the published version.
build_apiserver() {
  local work="$scratch/apiserver" mod
  mkdir -p "$work"
  mod=$(go mod download -json "k8s.io/kubernetes@$K8S_VERSION" | sed -n 's/.*"GoMod": "\(.*\)".*/\1/p')
  {
    echo "module envtest.local/apiserver"
    echo
    echo "go 1.26"
    echo
    echo "require k8s.io/kubernetes $K8S_VERSION"
    echo
    grep -E '^\s*k8s\.io/[^ ]+ => \./staging/' "$mod" |
      awk -v v="$STAGING_VERSION" '{ print "replace " $1 " => " $1 " " v }'
  } >"$work/go.mod"
  printf 'package tools\n\nimport _ "k8s.io/kubernetes/cmd/kube-apiserver"\n' >"$work/tools.go"
  local major=${K8S_VERSION#v}; major=${major%%.*}
  local minor=${K8S_VERSION#v$major.}; minor=${minor%%.*}
  (
    cd "$work"
    GOFLAGS=-mod=mod go mod tidy >/dev/null
    GOFLAGS=-mod=mod go build -o "$apiserver_dir/kube-apiserver" -ldflags "\
-X k8s.io/component-base/version.gitVersion=$K8S_VERSION \
-X k8s.io/component-base/version.gitMajor=$major \
-X k8s.io/component-base/version.gitMinor=$minor" k8s.io/kubernetes/cmd/kube-apiserver
  )
}

# etcd's own main package lives in a module with a replace directive of its
# own; a wrapper main calls the server's entry point instead.
build_etcd() {
  local work="$scratch/etcd"
  mkdir -p "$work"
  cat >"$work/go.mod" <<EOF
module envtest.local/etcd

go 1.26

require go.etcd.io/etcd/server/v3 $ETCD_VERSION
EOF
  cat >"$work/main.go" <<'EOF'
package main

import (
	"os"

	"go.etcd.io/etcd/server/v3/etcdmain"
)

func main() { etcdmain.Main(os.Args) }
EOF
  (
    cd "$work"
    GOFLAGS=-mod=mod go mod tidy >/dev/null
    GOFLAGS=-mod=mod go build -o "$etcd_dir/etcd" .
  )
}

install() {
  mkdir -p bin/k8s "$apiserver_dir" "$etcd_dir"
  if [ ! -x "$apiserver_dir/kube-apiserver" ]; then
    echo "building kube-apiserver $K8S_VERSION into $apiserver_dir (a few minutes, once)" >&2
    build_apiserver
  fi
  if [ ! -x "$etcd_dir/etcd" ]; then
    echo "building etcd $ETCD_VERSION into $etcd_dir (a few minutes, once)" >&2
    build_etcd
  fi
  ln -sf "$apiserver_dir/kube-apiserver" bin/k8s/kube-apiserver
  ln -sf "$etcd_dir/etcd" bin/k8s/etcd
}

case ${1:-install} in
  install) install ;;
  path) echo "$PWD/bin/k8s" ;;
  *) echo "usage: hack/setup-envtest.sh [install | path]" >&2; exit 2 ;;
esac
