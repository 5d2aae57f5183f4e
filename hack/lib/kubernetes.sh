# Builds Kubernetes commands from the Go module proxy: sourced by
# hack/setup-envtest.sh (kube-apiserver, etcd) and hack/local-cluster.sh
# (the node's components). There are no release downloads here, and
# `go install` fails on k8s.io/kubernetes.

K8S_VERSION=v1.36.3      # v1.37's module zip is not served
STAGING_VERSION=v0.36.3  # the k8s.io/* staging modules of that release
ETCD_VERSION=v3.6.16
cache=${TRIBUTARY_CACHE:-$HOME/.cache/tributary}

# build_kubernetes DIR CMD... builds k8s.io/kubernetes/cmd/CMD for each CMD
# into DIR. k8s.io/kubernetes replaces its staging modules with ./staging
# paths that a module outside its repository cannot use: a wrapper module
# requires it and replaces each of them with the published version.
build_kubernetes() {
  local out=$1; shift
  local work mod
  work=$(mktemp -d)
  mod=$(go mod download -json "k8s.io/kubernetes@$K8S_VERSION" | sed -n 's/.*"GoMod": "\(.*\)".*/\1/p')
  {
    echo "module tributary.local/kubernetes"
    echo
    echo "go 1.26"
    echo
    echo "require k8s.io/kubernetes $K8S_VERSION"
    echo
    grep -E '^\s*k8s\.io/[^ ]+ => \./staging/' "$mod" |
      awk -v v="$STAGING_VERSION" '{ print "replace " $1 " => " $1 " " v }'
  } >"$work/go.mod"
  {
    echo "package tools"
    echo
    for cmd in "$@"; do echo "import _ \"k8s.io/kubernetes/cmd/$cmd\""; done
  } >"$work/tools.go"
  local major=${K8S_VERSION#v}; major=${major%%.*}
  local minor=${K8S_VERSION#v$major.}; minor=${minor%%.*}
  (
    cd "$work"
    GOFLAGS=-mod=mod go mod tidy >/dev/null
    for cmd in "$@"; do
      echo "building $cmd $K8S_VERSION" >&2
      GOFLAGS=-mod=mod go build -o "$out/$cmd" -ldflags "\
-X k8s.io/component-base/version.gitVersion=$K8S_VERSION \
-X k8s.io/component-base/version.gitMajor=$major \
-X k8s.io/component-base/version.gitMinor=$minor" "k8s.io/kubernetes/cmd/$cmd"
    done
  )
  rm -rf "$work"
}

# build_etcd DIR builds etcd into DIR. etcd's own main package lives in a
# module with a replace directive of its own; a wrapper main calls the
# server's entry point instead.
build_etcd() {
  local out=$1 work
  work=$(mktemp -d)
  cat >"$work/go.mod" <<MOD
module tributary.local/etcd

go 1.26

require go.etcd.io/etcd/server/v3 $ETCD_VERSION
MOD
  cat >"$work/main.go" <<'MAIN'
package main

import (
	"os"

	"go.etcd.io/etcd/server/v3/etcdmain"
)

func main() { etcdmain.Main(os.Args) }
MAIN
  (
    cd "$work"
    GOFLAGS=-mod=mod go mod tidy >/dev/null
    GOFLAGS=-mod=mod go build -o "$out/etcd" .
  )
  rm -rf "$work"
}
