/** Extra S3 keys of an RGW user, created and removed with radosgw-admin (a test rotating credentials). */
import { execFile } from 'node:child_process';

import type { S3Credentials } from './ceph';

export interface RgwUser {
  uid: string;
  tenant?: string;
}

function radosgwAdmin(conf: string, args: string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile('radosgw-admin', ['-c', conf, ...args], { timeout: 60_000 }, (err, stdout, stderr) => {
      if (err) reject(new Error(`radosgw-admin ${args.join(' ')} failed: ${err.message}\n${stderr}`.trim()));
      else resolve(stdout);
    });
  });
}

const userArgs = (user: RgwUser): string[] => [
  '--uid',
  user.uid,
  ...(user.tenant !== undefined ? ['--tenant', user.tenant] : []),
];

/** A new key of `user` (the user's other keys stay); `known`: the access key ids it had before. */
export async function createKey(
  conf: string,
  user: RgwUser,
  known: ReadonlySet<string>,
): Promise<S3Credentials> {
  const after = await radosgwAdmin(conf, [
    'key',
    'create',
    ...userArgs(user),
    '--key-type=s3',
    '--gen-access-key',
    '--gen-secret',
  ]);
  const created = keysOf(after).filter((k) => !known.has(k.accessKeyId));
  if (created.length !== 1)
    throw new Error(`radosgw-admin key create: expected one new key, got ${created.length}`);
  return created[0]!;
}

export async function removeKey(conf: string, user: RgwUser, accessKeyId: string): Promise<void> {
  await radosgwAdmin(conf, ['key', 'rm', ...userArgs(user), '--key-type=s3', '--access-key', accessKeyId]);
}

function keysOf(userInfo: string): S3Credentials[] {
  const info = JSON.parse(userInfo) as { keys: { access_key: string; secret_key: string }[] };
  return info.keys.map((k) => ({ accessKeyId: k.access_key, secretAccessKey: k.secret_key }));
}
