#!/usr/bin/env bash
# The Node.js the images ship (major version in .nvmrc), for machines whose own node is another one: installs
# it from the npm registry when missing and prints the directory to put first on PATH:
#   export PATH="$(test/install-node.sh):$PATH"
# The binary is the registry's node-linux-<arch> package (the official build; what the `node` package's
# install script fetches), installed without running any script. PREFIX (first argument) defaults to
# /opt/node<major>; the newest release of the major is installed, and an installed one of that major is kept.
# A `node` already on PATH with that major is used as it is. Needs npm and the registry, nothing else.
set -euo pipefail
cd "$(dirname "$0")/.."

major=$(tr -d ' v\n' <.nvmrc)
major_of() { "$1" -p 'process.versions.node.split(".")[0]' 2>/dev/null || true; }

if command -v node >/dev/null 2>&1 && [ "$(major_of node)" = "$major" ]; then
  dirname "$(command -v node)"
  exit 0
fi

prefix=${1:-/opt/node$major}
bin=$prefix/node_modules/.bin
if [ "$(major_of "$bin/node")" != "$major" ]; then
  case $(uname -m) in
    x86_64) arch=x64 ;;
    aarch64 | arm64) arch=arm64 ;;
    *) arch=$(uname -m) ;;
  esac
  echo "test/install-node.sh: installing node-linux-$arch@$major into $prefix" >&2
  npm install --prefix "$prefix" --no-save --no-package-lock --ignore-scripts --no-audit --no-fund \
    --loglevel=error "node-linux-$arch@$major" >&2
  [ "$(major_of "$bin/node")" = "$major" ] || {
    echo "test/install-node.sh: $bin/node is not Node.js $major" >&2
    exit 1
  }
fi
echo "$bin"
