#!/usr/bin/env bash
# What a fresh Debian 12 machine needs before `npm test`, installed only when missing (as root):
#   - Ceph RGW, the real S3 the integration tests run against (radosgw, ceph-mon, ceph-osd, ceph-common);
#   - psql, which the sandbox test runs as the sandbox prints it (postgresql-client);
#   - PgBouncer, which test/integration/inventory-pgbouncer.test.ts puts in front of Postgres (pgbouncer);
#   - the S3 clients of the compatibility matrix (test/clients/): boto3 for Debian's python3, the AWS CLI,
#     s3cmd, rclone, curl, and Go with the AWS SDK for Go v2 (its driver is built offline from Debian's sources);
#   - the Node.js the images ship (major in .nvmrc), from the npm registry when `node` is another one
#     (test/install-node.sh; put the directory it prints first on PATH, as .ci/run does);
#   - a C compiler, which `npm run build` uses for the proxy's malloc_trim addon (gcc, libc6-dev);
#   - node_modules (npm ci, with that node), when absent.
set -euo pipefail
cd "$(dirname "$0")/.."

node_bin=$(test/install-node.sh)
if [ "$(command -v node || true)" != "$node_bin/node" ]; then
  echo "test/setup.sh: the suite runs on Node.js $(tr -d ' v\n' <.nvmrc), not on $(node --version 2>/dev/null || echo 'no node'):" \
    "export PATH=\"$node_bin:\$PATH\"" >&2
  export PATH="$node_bin:$PATH"
fi

packages=()
command -v radosgw >/dev/null 2>&1 || packages+=(radosgw ceph-mon ceph-osd ceph-common)
command -v psql >/dev/null 2>&1 || packages+=(postgresql-client)
command -v pgbouncer >/dev/null 2>&1 || packages+=(pgbouncer)
# Debian's own python3 and aws, by path: a pyenv or pip copy earlier on PATH is another client.
[ -x /usr/bin/python3 ] && /usr/bin/python3 -c 'import boto3' >/dev/null 2>&1 || packages+=(python3 python3-boto3)
[ -x /usr/bin/aws ] || packages+=(awscli)
command -v s3cmd >/dev/null 2>&1 || packages+=(s3cmd)
command -v rclone >/dev/null 2>&1 || packages+=(rclone)
command -v curl >/dev/null 2>&1 || packages+=(curl)
command -v "${CC:-cc}" >/dev/null 2>&1 && [ -f /usr/include/malloc.h ] || packages+=(gcc libc6-dev)
[ -x /usr/bin/go ] || packages+=(golang-go)
[ -d /usr/share/gocode/src/github.com/aws/aws-sdk-go-v2/service/s3 ] || packages+=(golang-github-aws-aws-sdk-go-v2-dev)
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
echo "pgbouncer: $(pgbouncer --version | head -n 1)"
echo "node: $(node --version) ($(command -v node))"
echo "cc: $("${CC:-cc}" --version | head -n 1)"
echo "clients: boto3 $(/usr/bin/python3 -c 'import boto3; print(boto3.__version__)'), $(/usr/bin/aws --version 2>&1 | cut -d' ' -f1)," \
  "$(s3cmd --version), $(rclone version | head -n 1), $(curl --version | head -n 1 | cut -d' ' -f1-2)," \
  "$(/usr/bin/go version | cut -d' ' -f3)"

[ -d node_modules ] || npm ci
