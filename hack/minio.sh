#!/usr/bin/env bash
# MinIO for tests: built from the Go module proxy once per version, cached
# outside the checkout (~/.cache/tributary by default) and linked into bin/.
#
#   hack/minio.sh install            build (once) and link bin/minio
#   hack/minio.sh serve ADDR DIR     run MinIO on ADDR (127.0.0.1:port) over
#                                    DIR, in the foreground; tests start it so
#
# The root credentials are MINIO_ROOT_USER / MINIO_ROOT_PASSWORD from the
# environment (defaults: tributary / tributary-secret).
set -euo pipefail
cd "$(dirname "$0")/.."

# @latest does not resolve on the module proxy; this pseudo-version does.
MINIO_VERSION=v0.0.0-20260212201848-7aac2a2c5b7c
cache=${TRIBUTARY_CACHE:-$HOME/.cache/tributary}
dir="$cache/minio-$MINIO_VERSION"

install() {
  mkdir -p bin "$dir"
  if [ ! -x "$dir/minio" ]; then
    echo "building minio $MINIO_VERSION into $dir (several minutes, once)" >&2
    GOBIN="$dir" GOFLAGS=-mod=mod go install "github.com/minio/minio@$MINIO_VERSION"
  fi
  ln -sf "$dir/minio" bin/minio
}

case ${1:-} in
  install) install ;;
  serve)
    [ $# -eq 3 ] || { echo "usage: hack/minio.sh serve ADDR DIR" >&2; exit 2; }
    install
    export MINIO_ROOT_USER=${MINIO_ROOT_USER:-tributary}
    export MINIO_ROOT_PASSWORD=${MINIO_ROOT_PASSWORD:-tributary-secret}
    export MINIO_BROWSER=off MINIO_UPDATE=off
    exec bin/minio server --quiet --address "$2" "$3" ;;
  *) echo "usage: hack/minio.sh install | serve ADDR DIR" >&2; exit 2 ;;
esac
