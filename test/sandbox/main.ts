#!/usr/bin/env node
/**
 * `npm run sandbox`: the proxy on embedded defaults, ready for curl or an SDK. Main and mirror are two local
 * s3rver instances (or Ceph RGW with `-- --rgw`), the inventory is an embedded PostgreSQL (or POSTGRES_URL).
 * Prints examples that work as printed, then runs until Ctrl-C. LISTEN_ADDR and ADMIN_ADDR move the proxy;
 * any other proxy setting in the environment (e.g. MIRROR_DELETE_POLICY=keep) is handed to it.
 */
import { CreateBucketCommand, S3Client } from '@aws-sdk/client-s3';

import { databaseNameFor } from '@k8s-s3-mirror/proxy/dist/inventory/naming';
import { startPostgres } from '../harness/postgres';
import { spawnNode } from '../harness/process';
import { PROXY_IMAGE_ENV, PROXY_IMAGE_NODE_ARGS, PROXY_MAIN } from '../harness/proxy';
import { startRgw, startS3rvers, type SandboxBackends, type SandboxS3 } from './backends';
import { passedSettings } from './proxy-settings';
import { tryItText } from './try-it';

const BUCKET = 'demo';

const log = (line: string): void => void process.stderr.write(`[sandbox] ${line}\n`);

function client(s3: SandboxS3): S3Client {
  return new S3Client({
    endpoint: s3.endpoint,
    region: 'us-east-1',
    forcePathStyle: true,
    credentials: { accessKeyId: s3.accessKeyId, secretAccessKey: s3.secretAccessKey },
    requestChecksumCalculation: 'WHEN_REQUIRED',
  });
}

async function createBucket(s3: SandboxS3, bucket: string): Promise<void> {
  try {
    await client(s3).send(new CreateBucketCommand({ Bucket: bucket }));
  } catch (err) {
    const name = (err as { name?: string }).name;
    if (name !== 'BucketAlreadyOwnedByYou' && name !== 'BucketAlreadyExists') throw err;
  }
}

async function main(): Promise<void> {
  const rgw = process.argv.includes('--rgw');
  const listen = process.env.LISTEN_ADDR ?? '127.0.0.1:8080';
  const admin = process.env.ADMIN_ADDR ?? '127.0.0.1:9090';
  const cleanups: (() => Promise<unknown>)[] = [];
  const cleanup = async (): Promise<void> => {
    for (const fn of cleanups.reverse()) await fn().catch(() => undefined);
  };
  try {
    log(rgw ? 'starting Ceph RGW (main and mirror tenants)…' : 'starting s3rver (main and mirror)…');
    const backends: SandboxBackends = rgw ? await startRgw(log) : await startS3rvers();
    cleanups.push(() => backends.stop());
    log('starting PostgreSQL…');
    const postgres = await startPostgres();
    cleanups.push(() => postgres.destroy());
    await createBucket(backends.main, BUCKET);

    const own = {
      MAIN_S3_ENDPOINT: backends.main.endpoint,
      MAIN_ACCESS_KEY: backends.main.accessKeyId,
      MAIN_SECRET_KEY: backends.main.secretAccessKey,
      MIRROR_S3_ENDPOINT: backends.mirror.endpoint,
      MIRROR_ACCESS_KEY: backends.mirror.accessKeyId,
      MIRROR_SECRET_KEY: backends.mirror.secretAccessKey,
      POSTGRES_URL: postgres.url,
      LISTEN_ADDR: listen,
      ADMIN_ADDR: admin,
      LOG_LEVEL: process.env.LOG_LEVEL ?? 'info',
    };
    const passed = passedSettings(process.env, Object.keys(own));
    if (Object.keys(passed).length > 0)
      log(`proxy settings from the environment: ${Object.keys(passed).join(', ')}`);
    const proxy = spawnNode(PROXY_MAIN, {
      env: { ...PROXY_IMAGE_ENV, ...passed, ...own },
      nodeArgs: [...PROXY_IMAGE_NODE_ARGS],
      echo: true,
    });
    cleanups.push(() => proxy.stop(10_000));
    await proxy.waitForHttp(`http://${admin}/readyz`, { timeoutMs: 30_000 });

    const inventoryUrl = new URL(postgres.url);
    inventoryUrl.pathname = `/${databaseNameFor(BUCKET)}`;
    process.stdout.write(
      tryItText({
        backends: backends.kind,
        proxy: `http://${listen}`,
        admin: `http://${admin}`,
        bucket: BUCKET,
        mirror: backends.mirror,
        inventoryUrl: inventoryUrl.toString(),
      }),
    );

    // Exit statuses as a shell reports a signal: 130 for Ctrl-C, 143 for SIGTERM.
    const stop = (status: number) => (): void => {
      log('stopping…');
      // cleanup() ignores each step's failure.
      // eslint-disable-next-line @typescript-eslint/no-floating-promises -- cannot reject
      void cleanup().then(() => process.exit(status));
    };
    process.once('SIGINT', stop(130));
    process.once('SIGTERM', stop(143));
    const exited = await proxy.exited;
    log(`the proxy exited (code ${exited.code}, signal ${exited.signal})`);
    await cleanup();
    process.exit(1);
  } catch (err) {
    await cleanup();
    throw err;
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`[sandbox] failed: ${(err as Error).stack ?? String(err)}\n`);
  process.exit(1);
});
