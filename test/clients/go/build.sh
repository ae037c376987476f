#!/bin/sh
# Builds the AWS SDK for Go v2 driver of the client matrix (main.go beside this script) into the file $1.
# Offline: Debian's golang-go and golang-github-aws-aws-sdk-go-v2-dev (sources under /usr/share/gocode/src),
# built in GOPATH mode, so no Go module proxy is needed. Keep the binary out of the repository (e.g. test/dist/).
# Prints nothing on success.
set -eu

out=${1:?usage: build.sh OUTPUT-BINARY}
GO=${GO:-/usr/bin/go}
GOCODE=/usr/share/gocode

if [ ! -x "$GO" ]; then
  echo "build.sh: $GO not found: apt-get install -y --no-install-recommends golang-go golang-github-aws-aws-sdk-go-v2-dev" >&2
  exit 1
fi
if [ ! -d "$GOCODE/src/github.com/aws/aws-sdk-go-v2/service/s3" ]; then
  echo "build.sh: AWS SDK for Go v2 sources missing: apt-get install -y --no-install-recommends golang-github-aws-aws-sdk-go-v2-dev" >&2
  exit 1
fi

here=$(cd "$(dirname "$0")" && pwd)
mkdir -p "$(dirname "$out")"
case $out in /*) ;; *) out="$(pwd)/$out" ;; esac
if [ -z "${GOCACHE:-}" ] && [ -z "${HOME:-}" ] && [ -z "${XDG_CACHE_HOME:-}" ]; then
  export GOCACHE="${TMPDIR:-/tmp}/go-build-cache"
fi
# GOPATH mode (no go.mod, no module proxy); pure Go so no C compiler is needed; ignore the caller's GOFLAGS.
cd "$here"
GO111MODULE=off GOPATH="$GOCODE" GOFLAGS= CGO_ENABLED=0 "$GO" build -o "$out" .
