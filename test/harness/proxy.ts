import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

import { HeadObjectCommand, S3Client, type S3ClientConfig } from '@aws-sdk/client-s3';
import { freePorts } from './free-port';
import { spawnNode, type NodeProcess } from './process';
import { PROXY_MAIN, PROXY_PACKAGE_JSON } from './proxy-main';
import type { TestServices } from './services';
import { pollUntil } from './wait';

export { PROXY_MAIN } from './proxy-main';

// `tsc -b` alone (npm run lint runs one) leaves the bundle behind the code, and the tests would run old code.
const compiledDist = path.join(path.dirname(PROXY_PACKAGE_JSON), 'dist');
const newestCompiled = fs
  .readdirSync(compiledDist, { recursive: true, encoding: 'utf8' })
  .filter((f) => f.endsWith('.js') && !f.startsWith('bundle'))
  .reduce((newest, f) => Math.max(newest, fs.statSync(path.join(compiledDist, f)).mtimeMs), 0);
if (fs.statSync(PROXY_MAIN).mtimeMs < newestCompiled) {
  throw new Error(`${PROXY_MAIN} is older than the code compiled into ${compiledDist}: run npm run build`);
}

/**
 * Runtime settings Dockerfile.proxy bakes into the image (dockerfiles.test.ts checks they agree), so tests
 * measure memory as the image runs.
 */
export const PROXY_IMAGE_ENV = { MALLOC_ARENA_MAX: '2', NODE_OPTIONS: '--max-semi-space-size=2' } as const;

/**
 * The V8 flags Dockerfile.proxy's ENTRYPOINT runs node with (NODE_OPTIONS refuses them; dockerfiles.test.ts
 * checks they agree and that this Node accepts them). V8 starts marking the old generation once it is over
 * 8 MB and its size plus the external memory allocated since the last mark-compact nears its limit. Every
 * socket read of a streamed body is a Buffer of external memory that the next scavenge frees, so with the
 * tracker loaded a large GET set off a mark-compact every 15-30 MB (docs/benchmarks.md). With these triggers
 * marking starts on the old generation's own growth; external memory still starts it 64 MB above the last
 * mark-compact. Allocation-site pretenuring off: the objects of a streamed upload (undici reading the body)
 * outlive a scavenge or two, V8 then allocates everything from those sites in the old generation, where it
 * dies; without it a mirrored write cost 7-11 % less CPU (write-cost.js A/B on the sink, test/bench/notes.md).
 */
export const PROXY_IMAGE_NODE_ARGS = [
  '--incremental-marking-soft-trigger=80',
  '--incremental-marking-hard-trigger=100',
  '--no-allocation-site-pretenuring',
] as const;

/**
 * The V8 heap limit Node gives itself in a pod with the webhook's default memory limit (256Mi): Node sizes its
 * heap from the container's memory (measured, Node 24 in a memory cgroup of 128, 256 or 512 MiB:
 * heap_size_limit 262 MB, the same as this flag with the image's --max-semi-space-size=2; 1 GiB gives 518 MB).
 * Unconstrained on this 24 GiB machine the limit is 4,288 MB and the heap grows far more between collections:
 * less GC CPU, much more RSS than in a pod. The tests and the bench run without a cgroup: where a number
 * depends on the heap's limit (the bench, the 1 GiB memory test), they pass the flag.
 */
export const POD_HEAP_FLAG = '--max-old-space-size=256';

/** The image's environment (Dockerfile.proxy) plus the heap limit of a pod with the default memory limit. */
export const POD_NODE_ENV = {
  ...PROXY_IMAGE_ENV,
  NODE_OPTIONS: `${PROXY_IMAGE_ENV.NODE_OPTIONS} ${POD_HEAP_FLAG}`,
};

export interface ProxyInstance {
  url: string;
  adminUrl: string;
  port: number;
  process: NodeProcess;
  env: Record<string, string>;
  stop(): Promise<void>;
}

/** The proxy environment for the shared services: main and mirror gateways, Postgres. */
export function proxyEnv(
  services: TestServices,
  overrides: Record<string, string> = {},
): Record<string, string> {
  return {
    MAIN_S3_ENDPOINT: services.ceph.proxyMainEndpoint,
    MAIN_ACCESS_KEY: services.ceph.main.accessKeyId,
    MAIN_SECRET_KEY: services.ceph.main.secretAccessKey,
    MAIN_S3_REGION: services.ceph.region,
    MIRROR_S3_ENDPOINT: services.ceph.mirrorEndpoint,
    MIRROR_ACCESS_KEY: services.ceph.mirror.accessKeyId,
    MIRROR_SECRET_KEY: services.ceph.mirror.secretAccessKey,
    MIRROR_S3_REGION: services.ceph.region,
    POSTGRES_URL: services.postgres.url,
    LOG_LEVEL: 'info',
    ...overrides,
  };
}

/**
 * Starts the built proxy (PROXY_MAIN, as the image runs it) as a real process on free ports and waits for /readyz;
 * `wrapper` runs it under another command (a read-only root, a tmpfs mount).
 */
export async function startProxyProcess(
  env: Record<string, string>,
  opts: { wrapper?: string[] } = {},
): Promise<ProxyInstance> {
  const [freePort, freeAdminPort] = (await freePorts(2)) as [number, number];
  const fullEnv = {
    LISTEN_ADDR: `127.0.0.1:${freePort}`,
    ADMIN_ADDR: `127.0.0.1:${freeAdminPort}`,
    ...PROXY_IMAGE_ENV,
    ...env,
    // Each proxy its own state directory unless the test names one ('' = the proxy's default, 'off' = none):
    // the default is keyed by port, and a later test's proxy on a reused port would replay this one's journal.
    STATE_DIR: env.STATE_DIR ?? fs.mkdtempSync(path.join(os.tmpdir(), 's3m-state-')),
    // The anti-entropy scan only where a test asks for it (anti-entropy.test.ts, the soak): late in a run
    // every new proxy would otherwise start passes over the hundreds of buckets earlier tests left.
    SCAN_INTERVAL_SECONDS: env.SCAN_INTERVAL_SECONDS ?? '0',
  };
  // `env` may name the ports itself (a restart with a previous instance's env): use what the proxy gets.
  const portOf = (addr: string): number => Number(addr.slice(addr.lastIndexOf(':') + 1));
  const port = portOf(fullEnv.LISTEN_ADDR);
  const child = spawnNode(PROXY_MAIN, {
    env: fullEnv,
    nodeArgs: [...PROXY_IMAGE_NODE_ARGS],
    ...(opts.wrapper ? { wrapper: opts.wrapper } : {}),
  });
  const adminUrl = `http://127.0.0.1:${portOf(fullEnv.ADMIN_ADDR)}`;
  try {
    await child.waitForHttp(`${adminUrl}/readyz`, { timeoutMs: 30_000 });
  } catch (err) {
    // A proxy that never became ready must not outlive the test (it would keep jest from exiting).
    child.kill('SIGKILL');
    throw err;
  }
  return {
    url: `http://127.0.0.1:${port}`,
    adminUrl,
    port,
    process: child,
    env: fullEnv,
    stop: async () => {
      await child.stop(10_000);
    },
  };
}

/** An app's S3 client pointed at the proxy, with junk credentials the proxy must replace. */
export function appClient(url: string, extra: Partial<S3ClientConfig> = {}): S3Client {
  return new S3Client({
    endpoint: url,
    region: 'us-east-1',
    forcePathStyle: true,
    credentials: { accessKeyId: 'APP-JUNK-KEY', secretAccessKey: 'app-junk-secret-that-is-wrong' },
    ...extra,
  });
}

/** A client straight to a gateway with real credentials, for reading back what was stored. */
export function directClient(
  endpoint: string,
  creds: { accessKeyId: string; secretAccessKey: string },
  extra: Partial<S3ClientConfig> = {},
): S3Client {
  return new S3Client({
    endpoint,
    region: 'us-east-1',
    forcePathStyle: true,
    credentials: creds,
    requestChecksumCalculation: 'WHEN_REQUIRED',
    ...extra,
  });
}

/** Waits until the proxy `app` talks to reports `key` mirrored (HEAD's x-amz-replication-status). */
export async function untilReplicated(app: S3Client, bucket: string, key: string): Promise<void> {
  await pollUntil(`${key} mirrored`, async () => {
    const head = await app.send(new HeadObjectCommand({ Bucket: bucket, Key: key }));
    return head.ReplicationStatus === 'COMPLETED';
  });
}
