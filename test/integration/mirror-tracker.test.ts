/**
 * The write tracker against real Ceph RGW (main and mirror tenants) and real Postgres: writes go to main
 * directly with the SDK, then `tracker.sink.record()` is called as the proxy would after a 2xx. Every
 * scenario ends with three-way equality of main, mirror and inventory (test/harness/three-way.ts).
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

import {
  CompleteMultipartUploadCommand,
  CopyObjectCommand,
  CreateBucketCommand,
  CreateMultipartUploadCommand,
  DeleteObjectCommand,
  DeleteObjectsCommand,
  HeadObjectCommand,
  PutBucketVersioningCommand,
  PutObjectCommand,
  S3Client,
  UploadPartCommand,
  type PutObjectCommandInput,
} from '@aws-sdk/client-s3';
import { Client } from 'pg';

import type { ProxyConfig } from '../../proxy/src/config';
import type { WriteEvent } from '../../proxy/src/events';
import { databaseNameFor } from '../../proxy/src/inventory/naming';
import { createLogger, type Logger } from '../../proxy/src/log';
import { createMetrics } from '../../proxy/src/metrics';
import { DEFAULT_POOL_LIMITS, InventoryPools } from '../../proxy/src/inventory/pools';
import { InventoryRepository } from '../../proxy/src/inventory/repository';
import { createWriteTracker, type TrackerTuning, type WriteTracker } from '../../proxy/src/tracking';
import { startHttpFaultProxy } from '../harness/http-fault-proxy';
import { directClient } from '../harness/proxy';
import { spawnNode } from '../harness/process';
import { controls, loadServices, type TestServices } from '../harness/services';
import { threeWayDiff, waitForThreeWayEqual } from '../harness/three-way';
import { pollUntil } from '../harness/wait';
import { longestKeyForAll } from '../harness/long-key';
import { staticCredentials } from '../../proxy/src/credentials';

const services: TestServices = loadServices();
const ctl = controls(services);
const rnd = (): string => crypto.randomBytes(4).toString('hex');

const main = directClient(services.ceph.mainEndpoint, services.ceph.main, { region: services.ceph.region });

export function testConfig(): ProxyConfig {
  return {
    main: {
      url: new URL(services.ceph.mainEndpoint),
      region: services.ceph.region,
      credentials: staticCredentials('main', services.ceph.main),
    },
    mirror: {
      url: new URL(services.ceph.mirrorEndpoint),
      region: services.ceph.region,
      credentials: staticCredentials('mirror', services.ceph.mirror),
    },
    mirrorBucketTemplate: '{bucket}',
    postgresUrl: services.postgres.url,
    logLevel: 'warn',
    listen: { host: '127.0.0.1', port: 0 },
    admin: { host: '127.0.0.1', port: 0 },
    virtualHostBases: ['localhost'],
    allowedBuckets: [],
    clientIdleTimeoutMs: 60_000,
    shutdownGraceMs: 10_000,
    pendingMemoryLimit: 10_000,
    mirrorConcurrency: 4,
    stateDir: { kind: 'off' },
    mirrorMaxAttempts: 15,
    deletePolicy: { kind: 'mirror' },
    antiEntropy: { intervalSeconds: 0, requestsPerSecond: 10, settleSeconds: 60 },
  };
}

const TUNING: Partial<TrackerTuning> = {
  leaseSeconds: 10,
  retry: { baseMs: 200, maxMs: 2_000 },
  scanIntervalMs: 1_000,
  statsIntervalMs: 1_000,
  idlePollMs: 200,
  copier: { partSizeBytes: 5 * 1024 * 1024, queueSize: 2 },
};

const trackers: WriteTracker[] = [];
const metricsOf = new Map<WriteTracker, ReturnType<typeof createMetrics>>();
async function gauge(t: WriteTracker, name: string): Promise<number> {
  const m = await metricsOf.get(t)!.registry.getSingleMetric(name)!.get();
  return m.values[0]?.value ?? 0;
}
async function newTracker(
  overrides: Partial<ProxyConfig> = {},
  logger: Logger = createLogger('error'),
): Promise<WriteTracker> {
  const config = { ...testConfig(), ...overrides };
  const metrics = createMetrics();
  const t = createWriteTracker({
    config,
    logger,
    metrics,
    tuning: TUNING,
  });
  metricsOf.set(t, metrics);
  await t.start();
  trackers.push(t);
  return t;
}

afterAll(async () => {
  await Promise.allSettled(trackers.map((t) => t.stop()));
  main.destroy();
});

function event(
  bucket: string,
  key: string,
  kind: 'put' | 'delete',
  operation: string,
  extra: Partial<WriteEvent> = {},
): WriteEvent {
  return { bucket, key, kind, operation, acknowledgedAt: new Date(), ...extra };
}

async function put(
  t: WriteTracker,
  bucket: string,
  key: string,
  body: string | Buffer,
  extra: Partial<PutObjectCommandInput> = {},
): Promise<void> {
  const r = await main.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: body, ...extra }));
  t.sink.record(
    event(bucket, key, 'put', 'PutObject', {
      etag: r.ETag,
      versionId: r.VersionId,
      size: Buffer.byteLength(body),
      contentType: extra.ContentType,
    }),
  );
}

async function del(t: WriteTracker, bucket: string, key: string): Promise<void> {
  const r = await main.send(new DeleteObjectCommand({ Bucket: bucket, Key: key }));
  t.sink.record(event(bucket, key, 'delete', 'DeleteObject', { versionId: r.VersionId }));
}

async function multipart(t: WriteTracker, bucket: string, key: string, parts: Buffer[]): Promise<void> {
  const { UploadId } = await main.send(
    new CreateMultipartUploadCommand({
      Bucket: bucket,
      Key: key,
      ContentType: 'application/x-test',
      Metadata: { kind: 'mpu' },
    }),
  );
  const done = [];
  for (let i = 0; i < parts.length; i++) {
    const p = await main.send(
      new UploadPartCommand({ Bucket: bucket, Key: key, UploadId, PartNumber: i + 1, Body: parts[i] }),
    );
    done.push({ ETag: p.ETag, PartNumber: i + 1 });
  }
  const r = await main.send(
    new CompleteMultipartUploadCommand({
      Bucket: bucket,
      Key: key,
      UploadId,
      MultipartUpload: { Parts: done },
    }),
  );
  t.sink.record(
    event(bucket, key, 'put', 'CompleteMultipartUpload', { etag: r.ETag, versionId: r.VersionId }),
  );
}

async function newBucket(name = `it-mirror-${rnd()}`): Promise<string> {
  await main.send(new CreateBucketCommand({ Bucket: name }));
  return name;
}

async function rows(bucket: string): Promise<Record<string, unknown>[]> {
  const url = new URL(services.postgres.url);
  url.pathname = `/${databaseNameFor(bucket)}`;
  const pg = new Client({ connectionString: url.toString() });
  pg.on('error', () => undefined); // a server stopped by a test mid-read fails the query, not the run
  await pg.connect();
  try {
    return (await pg.query('SELECT * FROM files ORDER BY path')).rows;
  } finally {
    await pg.end();
  }
}

describe('write tracker: inventory and mirroring', () => {
  test('every write type: put with metadata and tags, multipart of 3 parts, copy, delete, multi-delete', async () => {
    const t = await newTracker();
    const bucket = await newBucket();
    await put(t, bucket, 'a.txt', 'hello', {
      ContentType: 'text/plain',
      ContentEncoding: 'identity',
      CacheControl: 'max-age=60',
      ContentDisposition: 'attachment; filename="a.txt"',
      Metadata: { owner: 'alice', note: 'x' },
      Tagging: 'env=test&team=storage',
    });
    await put(t, bucket, 'empty', '');
    const mib = 1024 * 1024;
    await multipart(t, bucket, 'big/multi.bin', [
      crypto.randomBytes(5 * mib),
      crypto.randomBytes(5 * mib),
      crypto.randomBytes(mib),
    ]);
    const c = await main.send(
      new CopyObjectCommand({ Bucket: bucket, Key: 'copy.txt', CopySource: `${bucket}/a.txt` }),
    );
    t.sink.record(event(bucket, 'copy.txt', 'put', 'CopyObject', { etag: c.CopyObjectResult?.ETag }));
    for (const k of ['d1', 'd2', 'd3', 'gone']) await put(t, bucket, k, `x${k}`);
    await del(t, bucket, 'gone');
    const md = await main.send(
      new DeleteObjectsCommand({
        Bucket: bucket,
        Delete: { Objects: [{ Key: 'd1' }, { Key: 'd2' }, { Key: 'never-existed' }] },
      }),
    );
    for (const d of md.Deleted ?? []) t.sink.record(event(bucket, d.Key!, 'delete', 'DeleteObjects'));
    await waitForThreeWayEqual(services, bucket);
    const r = await rows(bucket);
    const byPath = Object.fromEntries(r.map((row) => [row.path as string, row]));
    expect(byPath['gone']).toMatchObject({ deleted: true, is_backed_up: true });
    expect(byPath['d1']).toMatchObject({ deleted: true });
    expect(byPath['a.txt']).toMatchObject({ deleted: false, content_type: 'text/plain', size: '5' });
    expect(String(byPath['big/multi.bin']!.etag)).toMatch(/-3"$/);
  });

  test('versioned bucket: version ids recorded, the current version mirrored', async () => {
    const t = await newTracker();
    const bucket = await newBucket();
    await main.send(
      new PutBucketVersioningCommand({ Bucket: bucket, VersioningConfiguration: { Status: 'Enabled' } }),
    );
    await put(t, bucket, 'v', 'one');
    await put(t, bucket, 'v', 'two');
    await put(t, bucket, 'w', 'w1');
    await del(t, bucket, 'w');
    await waitForThreeWayEqual(services, bucket);
    const r = await rows(bucket);
    expect(r.find((x) => x.path === 'v')!.version_id).toEqual(expect.any(String));
    expect(r.find((x) => x.path === 'w')).toMatchObject({ deleted: true });
  });

  test('interleaved PUT/DELETE/PUT on one key never resurrects or leaves an older version', async () => {
    const t = await newTracker();
    const bucket = await newBucket();
    for (let i = 0; i < 30; i++) {
      if (i % 3 === 1) await del(t, bucket, 'k');
      else await put(t, bucket, 'k', `version ${i}`);
    }
    await del(t, bucket, 'k2');
    await put(t, bucket, 'k2', 'last');
    await put(t, bucket, 'k3', 'first');
    await del(t, bucket, 'k3');
    await waitForThreeWayEqual(services, bucket);
  });

  test('mirror gateway stopped: failures recorded in the row, backlog drains when it is back', async () => {
    const t = await newTracker();
    const bucket = await newBucket();
    await put(t, bucket, 'before', 'b');
    await waitForThreeWayEqual(services, bucket);
    await ctl.stopMirrorGateway();
    try {
      for (let i = 0; i < 10; i++) await put(t, bucket, `during/${i}`, `d${i}`);
      await del(t, bucket, 'before');
      await pollUntil(
        'a failed attempt recorded',
        async () => {
          const r = await rows(bucket);
          return r.some((x) => Number(x.attempts) > 0 && typeof x.last_error === 'string');
        },
        { timeoutMs: 60_000 },
      );
      await pollUntil('pending and lag gauges rise', async () => {
        return (
          (await gauge(t, 's3mirror_mirror_pending')) > 0 &&
          (await gauge(t, 's3mirror_mirror_lag_seconds')) > 0
        );
      });
      const failed = await metricsOf
        .get(t)!
        .registry.getSingleMetric('s3mirror_mirror_operations_total')!
        .get();
      expect(failed.values.some((v) => v.labels.result === 'failure' && v.value > 0)).toBe(true);
    } finally {
      await ctl.startMirrorGateway();
    }
    await waitForThreeWayEqual(services, bucket, { timeoutMs: 180_000 });
    await pollUntil('pending gauge back to 0', async () => (await gauge(t, 's3mirror_mirror_pending')) === 0);
  });

  test('Postgres restarted: writes held in memory, mirrored from memory, inventory catches up', async () => {
    if (!services.postgres.controllable) return;
    const t = await newTracker();
    const bucket = await newBucket();
    await put(t, bucket, 'warm', 'w');
    await waitForThreeWayEqual(services, bucket);
    await ctl.stopPostgres();
    try {
      for (let i = 0; i < 10; i++) await put(t, bucket, `pgdown/${i}`, `p${i}`);
      await del(t, bucket, 'warm');
      await pollUntil('tracker notices Postgres is down', async () => !t.status().postgresReachable, {
        timeoutMs: 60_000,
      });
      expect(t.status().memoryQueue).toBeGreaterThan(0);
      const mirror = new S3Client({
        endpoint: services.ceph.mirrorEndpoint,
        region: services.ceph.region,
        credentials: services.ceph.mirror,
        forcePathStyle: true,
      });
      try {
        await pollUntil(
          'mirrored from memory while Postgres is down',
          async () => {
            await mirror.send(new HeadObjectCommand({ Bucket: bucket, Key: 'pgdown/9' }));
            return true;
          },
          { timeoutMs: 60_000 },
        );
      } finally {
        mirror.destroy();
      }
    } finally {
      await ctl.startPostgres();
    }
    await waitForThreeWayEqual(services, bucket, { timeoutMs: 180_000 });
    expect(t.status().memoryQueue).toBe(0);
  });

  test('two trackers sharing Postgres: 200 concurrent mixed operations on overlapping keys', async () => {
    const [a, b] = [await newTracker(), await newTracker()];
    const bucket = await newBucket();
    const keys = Array.from({ length: 15 }, (_, i) => `shared/${i}`);
    const ops = Array.from({ length: 200 }, (_, i) => async () => {
      const t = i % 2 ? a : b;
      const key = keys[crypto.randomInt(keys.length)]!;
      const r = crypto.randomInt(10);
      if (r < 6)
        await put(t, bucket, key, crypto.randomBytes(crypto.randomInt(1, 4000)), {
          Metadata: { op: String(i) },
        });
      else if (r < 8) await del(t, bucket, key);
      else {
        const c = await main
          .send(new CopyObjectCommand({ Bucket: bucket, Key: key, CopySource: `${bucket}/${keys[0]}` }))
          .catch(() => undefined);
        if (c) t.sink.record(event(bucket, key, 'put', 'CopyObject', { etag: c.CopyObjectResult?.ETag }));
      }
    });
    let next = 0;
    await Promise.all(
      Array.from({ length: 20 }, async () => {
        while (next < ops.length) await ops[next++]!();
      }),
    );
    await waitForThreeWayEqual(services, bucket, { timeoutMs: 180_000 });
  });

  test('hostile bucket and key names: colliding-after-sanitising buckets, SQL metacharacters, unicode, 1024-byte keys', async () => {
    const t = await newTracker();
    const r = rnd();
    const long = (c: string): string => `it-${r}-${'x'.repeat(63 - 5 - r.length - 1)}${c}`;
    const buckets = [`it-h-${r}`, `it.h.${r}`, `it-h.${r}`, long('a'), long('b')];
    for (const b of buckets) await newBucket(b);
    expect(new Set(buckets.map(databaseNameFor)).size).toBe(buckets.length);
    const keys = [
      "'; DROP TABLE files; --",
      'quote"double\'single`back',
      'ünïcødé/文件/🙂.txt',
      'percent%00%zz/+plus space',
      'back\\slash\\n',
    ];
    // S3 allows 1,024-byte keys. This RGW (memstore, osd max object name len = 460) rejects keys much
    // longer than ~400 bytes; use 1,024 bytes where main accepts it, else the longest it accepts.
    const longKey = await longestKeyForAll(main, buckets);
    keys.push(longKey, `${'é'.repeat(Math.floor((Buffer.byteLength(longKey) - 1) / 2))}x`);
    for (const b of buckets) for (const k of keys) await put(t, b, k, `body of ${k.length}`);
    await del(t, buckets[0]!, keys[0]!);
    for (const b of buckets) await waitForThreeWayEqual(services, b);
    // Each bucket's rows live in its own database: no bleed-through between the colliding-looking names.
    expect((await rows(buckets[1]!)).find((x) => x.path === keys[0])).toMatchObject({ deleted: false });
    expect((await rows(buckets[0]!)).find((x) => x.path === keys[0])).toMatchObject({ deleted: true });
  });

  test('stop() while a copy waits on main: the copy is aborted and its row released, no attempt counted', async () => {
    const bucket = await newBucket();
    await main.send(new PutObjectCommand({ Bucket: bucket, Key: 'slow.bin', Body: 'slow main' }));
    const slowMain = await startHttpFaultProxy(services.ceph.mainEndpoint);
    try {
      slowMain.setFaults({ delayMs: 60_000 });
      const base = testConfig();
      const t = createWriteTracker({
        config: { ...base, main: { ...base.main, url: new URL(slowMain.url) }, shutdownGraceMs: 1_000 },
        logger: createLogger('error'),
        metrics: createMetrics(),
        tuning: TUNING,
      });
      await t.start();
      t.sink.record(event(bucket, 'slow.bin', 'put', 'PutObject'));
      const leased = async (): Promise<Record<string, unknown> | undefined> =>
        (await rows(bucket).catch(() => [])).find((r) => r.path === 'slow.bin' && r.lease_owner !== null);
      await pollUntil(
        'the row leased while its copy waits on main',
        async () => (await leased()) !== undefined,
      );
      expect(slowMain.requests.some((r) => r.method === 'GET' && !r.done)).toBe(true);
      // The lease is this tracker's: its GET is the one waiting (the earlier tests' trackers read main directly).
      const owner = (await leased())!.lease_owner;

      await t.stop();
      // Released, not failed: no attempt counted, and no longer leased to the stopped tracker (another running
      // tracker may already have claimed it).
      const after = (await rows(bucket)).find((r) => r.path === 'slow.bin')!;
      expect(after.attempts).toBe(0);
      expect(after.lease_owner).not.toBe(owner);
    } finally {
      await slowMain.close();
    }
    // The released row (no lease to wait out) is mirrored by the next tracker.
    await newTracker();
    await waitForThreeWayEqual(services, bucket);
  });

  test('a tracker SIGKILLed mid-copy of a large object loses nothing; a new tracker converges', async () => {
    const bucket = await newBucket();
    const big = crypto.randomBytes(48 * 1024 * 1024);
    await main.send(new PutObjectCommand({ Bucket: bucket, Key: 'large.bin', Body: big }));
    const script = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 's3m-crash-')), 'tracker.js');
    const dist = path.resolve(__dirname, '../../proxy/dist');
    fs.writeFileSync(
      script,
      `const { createWriteTracker } = require(${JSON.stringify(`${dist}/tracking/index.js`)});
const { createLogger } = require(${JSON.stringify(`${dist}/log.js`)});
const { createMetrics } = require(${JSON.stringify(`${dist}/metrics.js`)});
const { staticCredentials } = require(${JSON.stringify(`${dist}/credentials/index.js`)});
const cfg = JSON.parse(process.env.CFG);
cfg.main.url = new URL(cfg.main.url); cfg.mirror.url = new URL(cfg.mirror.url);
// JSON drops the credential sources' functions: the same static keys again.
const keys = JSON.parse(process.env.KEYS);
cfg.main.credentials = staticCredentials('main', keys.main);
cfg.mirror.credentials = staticCredentials('mirror', keys.mirror);
const t = createWriteTracker({ config: cfg, logger: createLogger('error'), metrics: createMetrics(),
  tuning: { leaseSeconds: 5, idlePollMs: 100, copier: { partSizeBytes: 5 * 1024 * 1024, queueSize: 1 } } });
t.start().then(() => { t.sink.record({ bucket: process.env.BUCKET, key: 'large.bin', kind: 'put', operation: 'PutObject', acknowledgedAt: new Date() }); });
setInterval(() => {}, 1000);
`,
    );
    const cfg = testConfig();
    const child = spawnNode(script, {
      env: {
        CFG: JSON.stringify({
          ...cfg,
          main: { ...cfg.main, url: cfg.main.url.toString() },
          mirror: { ...cfg.mirror, url: cfg.mirror.url.toString() },
        }),
        BUCKET: bucket,
        KEYS: JSON.stringify({ main: services.ceph.main, mirror: services.ceph.mirror }),
      },
    });
    try {
      await pollUntil(
        'the child claims the row (copy in progress)',
        async () => {
          const r = await rows(bucket).catch(() => []);
          return r.some((x) => x.lease_owner !== null);
        },
        { timeoutMs: 60_000, describe: () => child.output() },
      );
    } finally {
      child.kill('SIGKILL');
      await child.exited;
    }
    const after = await rows(bucket);
    expect(after.find((x) => x.path === 'large.bin')).toMatchObject({ is_backed_up: false });
    expect(await threeWayDiff(services, bucket)).not.toEqual([]);
    await newTracker();
    await waitForThreeWayEqual(services, bucket, { timeoutMs: 180_000 });
  });

  test('a sidecar whose main is another account never takes over a bucket its main does not serve', async () => {
    // The trackers of earlier tests share main's account: one would mirror x at once, creating x in the other
    // account too (the mirror), and the other sidecar would then rightly see x there.
    await Promise.allSettled(trackers.splice(0).map((t) => t.stop()));
    // Two apps with different main accounts share one Postgres server. Each left a write pending, as a
    // sidecar killed before mirroring would. `x` is on the real main; `y` only in the other account.
    const x = await newBucket();
    await main.send(new PutObjectCommand({ Bucket: x, Key: 'keep.txt', Body: 'precious' }));
    const otherAccount = directClient(services.ceph.mirrorEndpoint, services.ceph.mirror, {
      region: services.ceph.region,
    });
    const y = `it-other-${rnd()}`;
    await otherAccount.send(new CreateBucketCommand({ Bucket: y }));
    await otherAccount.send(new PutObjectCommand({ Bucket: y, Key: 'theirs.txt', Body: 'other app' }));
    const pools = new InventoryPools(services.postgres.url, createLogger('off'), DEFAULT_POOL_LIMITS);
    try {
      for (const [bucket, key] of [
        [x, 'keep.txt'],
        [y, 'theirs.txt'],
      ] as const) {
        // As a killed sidecar leaves it: the row pending and the bucket's hint due.
        await new InventoryRepository(pools).recordWrites(bucket, [event(bucket, key, 'put', 'PutObject')]);
      }
    } finally {
      await pools.close();
    }

    // The other app's sidecar: its main is the other account, its mirror the real main account (so a wrong
    // takeover would read main's 404 as a deletion and delete the object on the real main).
    const refusedLogged: string[] = [];
    const logger = {
      debug: () => undefined,
      warn: () => undefined,
      error: () => undefined,
      info: (message: string, meta?: { bucket?: string }) => {
        if (message.startsWith('inventory scan: main does not serve') && meta?.bucket) {
          refusedLogged.push(meta.bucket);
        }
      },
    } as unknown as Logger;
    const ours = testConfig();
    const other = await newTracker({ main: ours.mirror, mirror: ours.main }, logger);
    try {
      await pollUntil('the other sidecar mirrors the bucket its main serves', async () => {
        const [row] = await rows(y);
        return row?.is_backed_up === true;
      });
      await pollUntil('its scan refused x', async () => refusedLogged.includes(x));
      expect(other.status().takeoverRefused).toBeGreaterThanOrEqual(1);
      const [row] = await rows(x);
      expect(row).toMatchObject({
        path: 'keep.txt',
        is_backed_up: false,
        deleted: false,
        attempts: 0,
        lease_owner: null,
      });
      const head = await main.send(new HeadObjectCommand({ Bucket: x, Key: 'keep.txt' }));
      expect(head.ContentLength).toBe(8);
    } finally {
      await other.stop();
      otherAccount.destroy();
    }
    // The app's own sidecar (or any sharing its main) converges x as usual.
    await newTracker();
    await waitForThreeWayEqual(services, x, { timeoutMs: 60_000 });
  });
});
