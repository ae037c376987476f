/**
 * Every client of the compatibility matrix, in column order. A driver is a program that runs the matrix's
 * operations with one real client (contract: test/clients/py/common.py); the runner
 * (test/integration/client-matrix.test.ts) runs each one straight at RGW and through the proxy.
 */
import fs from 'node:fs';
import path from 'node:path';

export interface Driver {
  /** Bucket-name safe: the runner's buckets are `cm-<id>-direct` and `cm-<id>-proxied`. */
  id: string;
  /** The `client` name the driver prints. */
  client: string;
  /** Column header. */
  label: string;
  /** argv; relative paths are relative to the repository root. `node` means this Node binary. */
  command: string[];
  /** Files that must exist for the driver to run (its script, the client binary). */
  requires: string[];
  /** argv that builds the driver first (relative to the repository root), for a compiled one. */
  build?: string[];
}

const GO_DRIVER = 'test/dist/clients/go/go-sdk-v2';
const PYTHON = '/usr/bin/python3'; // Debian's python, which has python3-boto3 (not a pyenv one on PATH)

function python(id: string, client: string, label: string, script: string, requires: string[] = []): Driver {
  const file = `test/clients/py/${script}`;
  return { id, client, label, command: [PYTHON, file], requires: [PYTHON, file, ...requires] };
}

function node(id: string, client: string, label: string, script: string, args: string[] = []): Driver {
  const file = `test/dist/clients/js/${script}`;
  return { id, client, label, command: ['node', file, ...args], requires: [file] };
}

export const DRIVERS: readonly Driver[] = [
  python('boto3', 'boto3', 'boto3', 'boto3_client.py'),
  python('aws-cli', 'aws-cli', 'AWS CLI', 'awscli_client.py', ['/usr/bin/aws']),
  python('s3cmd', 's3cmd', 's3cmd', 's3cmd_client.py', ['/usr/bin/s3cmd']),
  python('rclone', 'rclone', 'rclone', 'rclone_client.py', ['/usr/bin/rclone']),
  node('js-sdk-v3', 'js-sdk-v3', 'JS SDK v3', 'sdk-v3.js', ['--variant', 'default']),
  node('js-sdk-v3-when-required', 'js-sdk-v3-when-required', 'JS SDK v3 WHEN_REQUIRED', 'sdk-v3.js', [
    '--variant',
    'when-required',
  ]),
  node('minio-js', 'minio-js', 'MinIO JS', 'minio-js.js'),
  python('boto3-presigned', 'boto3-presigned', 'boto3 presigned', 'presigned_boto3.py'),
  node('js-presigner', 'js-presigner', 'JS presigner', 'presigned-js.js'),
  python('http-client', 'http.client', 'http.client', 'rawhttp_client.py'),
  python('curl', 'curl', 'curl', 'curl_client.py', ['/usr/bin/curl']),
  {
    id: 'go-sdk-v2',
    client: 'go-sdk-v2',
    label: 'Go SDK v2',
    command: [GO_DRIVER],
    requires: ['/usr/bin/go', 'test/clients/go/main.go'],
    // Offline, from Debian's golang-github-aws-aws-sdk-go-v2-dev (test/setup.sh installs it).
    build: ['sh', 'test/clients/go/build.sh', GO_DRIVER],
  },
];

/** Why `driver` cannot run from `root`, or undefined when it can. */
export function unavailable(driver: Driver, root: string): string | undefined {
  const missing = driver.requires.filter((f) => !fs.existsSync(path.resolve(root, f)));
  return missing.length > 0 ? `missing ${missing.join(', ')}` : undefined;
}
