#!/usr/bin/env bash
# What a fresh Debian 12 machine needs before `npm test`, installed only when missing (as root):
#   - Ceph RGW, the real S3 the integration tests run against (radosgw, ceph-mon, ceph-osd, ceph-common);
#   - psql, which the sandbox test runs as the sandbox prints it (postgresql-client);
#   - node_modules (npm ci), when absent.
set -euo pipefail
cd "$(dirname "$0")/.."

packages=()
command -v radosgw >/dev/null 2>&1 || packages+=(radosgw ceph-mon ceph-osd ceph-common)
command -v psql >/dev/null 2>&1 || packages+=(postgresql-client)
if [ ${#packages[@]} -gt 0 ]; then
  if [ "$(id -u)" -ne 0 ]; then
    echo "test/setup.sh: needs root to apt-get install ${packages[*]}" >&2
    exit 1
  fi
  export DEBIAN_FRONTEND=noninteractive
  apt-get update
  apt-get install -y --no-install-recommends "${packages[@]}"
fi
echo "radosgw: $(radosgw --version 2>/dev/null | head -n 1)"
echo "psql: $(psql --version)"

[ -d node_modules ] || npm ci
