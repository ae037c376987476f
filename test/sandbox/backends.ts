import fs from 'node:fs';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';

import { startCeph } from '../harness/ceph';
import { freePort } from '../harness/free-port';

/** One S3 endpoint of the sandbox, with the credentials the proxy (or a reader) uses on it. */
export interface SandboxS3 {
  endpoint: string;
  accessKeyId: string;
  secretAccessKey: string;
}

export interface SandboxBackends {
  kind: 's3rver' | 'rgw';
  main: SandboxS3;
  mirror: SandboxS3;
  stop(): Promise<void>;
}

interface S3rverLike {
  run(): Promise<{ port: number }>;
  close(): Promise<void>;
}
type S3rverCtor = new (options: Record<string, unknown>) => S3rverLike;

/**
 * Two s3rver instances (main and mirror), each with its own directory. s3rver's only account is
 * S3RVER/S3RVER; it checks signatures made with that secret.
 */
export async function startS3rvers(): Promise<SandboxBackends> {
  // s3rver is a root dev dependency without types, not a dependency of any package the images ship.
  const S3rver = createRequire(__filename)('s3rver') as S3rverCtor;
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 's3m-sandbox-s3-'));
  const start = async (name: string): Promise<{ server: S3rverLike; s3: SandboxS3 }> => {
    const port = await freePort();
    const server = new S3rver({
      address: '127.0.0.1',
      port,
      silent: true,
      directory: path.join(dir, name),
    });
    await server.run();
    return {
      server,
      s3: { endpoint: `http://127.0.0.1:${port}`, accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' },
    };
  };
  const main = await start('main');
  const mirror = await start('mirror');
  return {
    kind: 's3rver',
    main: main.s3,
    mirror: mirror.s3,
    async stop() {
      await Promise.allSettled([main.server.close(), mirror.server.close()]);
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** Ceph RGW from the test harness: signature-checking, main user and a mirror tenant. */
export async function startRgw(log: (line: string) => void): Promise<SandboxBackends> {
  const ceph = await startCeph({ log });
  return {
    kind: 'rgw',
    main: { endpoint: ceph.mainEndpoint, ...ceph.main },
    mirror: { endpoint: ceph.mirrorEndpoint, ...ceph.mirror },
    stop: () => ceph.stop(),
  };
}
