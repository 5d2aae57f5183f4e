#!/usr/bin/env bash
# MinIO for tests: built from the Go module proxy once per version, cached
# outside the checkout (~/.cache/tributary by default) and linked into bin/.
#
#   hack/minio.sh install            build (once) and link bin/minio
#   hack/minio.sh serve ADDR DIR     run MinIO on ADDR (127.0.0.1:port) over
#                                    DIR, in the foreground; tests start it so
#   hack/minio.sh image              write bin/minio-image.tar, an image of
#                                    the same binary, for the e2e suite's
#                                    in-cluster MinIO
#   hack/minio.sh image-name         print that image's name
#
# The build is static (CGO_ENABLED=0), so the one binary serves the tests on
# the host and runs in an image with nothing else in it.
#
# The root credentials are MINIO_ROOT_USER / MINIO_ROOT_PASSWORD from the
# environment (defaults: tributary / tributary-secret).
set -euo pipefail
cd "$(dirname "$0")/.."

# @latest does not resolve on the module proxy; this pseudo-version does.
MINIO_VERSION=v0.0.0-20260212201848-7aac2a2c5b7c
cache=${TRIBUTARY_CACHE:-$HOME/.cache/tributary}
dir="$cache/minio-$MINIO_VERSION-static"
# MinIO no longer publishes community images; the e2e suite runs this one.
MINIO_IMAGE=registry.local/minio:$MINIO_VERSION

install() {
  mkdir -p bin "$dir"
  if [ ! -x "$dir/minio" ]; then
    echo "building minio $MINIO_VERSION into $dir (several minutes, once)" >&2
    GOBIN="$dir" GOFLAGS=-mod=mod CGO_ENABLED=0 go install "github.com/minio/minio@$MINIO_VERSION"
  fi
  ln -sf "$dir/minio" bin/minio
}

image() {
  install
  (cd hack/image && go run . -binary "$dir/minio" -name minio -links "" -tag "$MINIO_IMAGE" -out "$PWD/../../bin/minio-image.tar")
  echo "wrote bin/minio-image.tar ($MINIO_IMAGE)"
}

case ${1:-} in
  install) install ;;
  image) image ;;
  image-name) echo "$MINIO_IMAGE" ;;
  serve)
    [ $# -eq 3 ] || { echo "usage: hack/minio.sh serve ADDR DIR" >&2; exit 2; }
    install
    export MINIO_ROOT_USER=${MINIO_ROOT_USER:-tributary}
    export MINIO_ROOT_PASSWORD=${MINIO_ROOT_PASSWORD:-tributary-secret}
    export MINIO_BROWSER=off MINIO_UPDATE=off
    exec bin/minio server --quiet --address "$2" "$3" ;;
  *) echo "usage: hack/minio.sh install | image | image-name | serve ADDR DIR" >&2; exit 2 ;;
esac
