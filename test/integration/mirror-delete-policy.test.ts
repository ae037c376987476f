/**
 * MIRROR_DELETE_POLICY through the proxy process, against RGW and real Postgres:
 * - `keep`: a DELETE through the proxy is gone from main and stays on the mirror, its row says deleted (and
 *   kept); a delete made behind the proxy's back is kept too; later scan passes and a resync leave both,
 *   also a resync under `mirror` (a kept delete stays kept whatever the policy later).
 * - `delay:5s`: the mirror keeps a deleted key until the delay ran out, then loses it; a delete followed by a
 *   new PUT of the key within the delay leaves the new object on the mirror.
 * - `mirror` (the default): a delete reaches the mirror, as before.
 * Each proxy serves only its test's bucket (ALLOWED_BUCKETS), so its scan looks at nothing else.
 */
import crypto from 'node:crypto';

import {
  CreateBucketCommand,
  DeleteObjectCommand,
  GetObjectCommand,
  HeadObjectCommand,
  PutObjectCommand,
  type S3Client,
} from '@aws-sdk/client-s3';
import { Client } from 'pg';

import { InventoryPools } from '../../proxy/src/inventory/pools';
import { InventoryRepository } from '../../proxy/src/inventory/repository';
import { databaseNameFor } from '../../proxy/src/inventory/naming';
import { createLogger } from '../../proxy/src/log';
import { sameBucketName } from '../../proxy/src/mirror/bucket-name';
import { resyncBucket } from '../../proxy/src/mirror/resync';
import { jsonLogLines } from '../harness/json-lines';
import { inventoryRows } from '../harness/inventory-rows';
import { metricValue, scrapeMetrics } from '../harness/proxies';
import { appClient, directClient, proxyEnv, startProxyProcess, type ProxyInstance } from '../harness/proxy';
import { loadServices, type TestServices } from '../harness/services';
import { threeWayDiff, waitForThreeWayEqual } from '../harness/three-way';
import { pollUntil, sleep } from '../harness/wait';

const services: TestServices = loadServices();
const rnd = (): string => crypto.randomBytes(4).toString('hex');
const SCAN = { SCAN_INTERVAL_SECONDS: '2', SCAN_SETTLE_SECONDS: '1' };
const logger = createLogger('error');

const running: ProxyInstance[] = [];
const clients: S3Client[] = [];
const main = directClient(services.ceph.mainEndpoint, services.ceph.main);
const mirror = directClient(services.ceph.mirrorEndpoint, services.ceph.mirror);
const pools = new InventoryPools(services.postgres.url, logger);

async function start(overrides: Record<string, string>): Promise<{ proxy: ProxyInstance; app: S3Client }> {
  const proxy = await startProxyProcess(proxyEnv(services, overrides));
  running.push(proxy);
  const app = appClient(proxy.url);
  clients.push(app);
  return { proxy, app };
}

afterEach(async () => {
  for (const c of clients.splice(0)) c.destroy();
  await Promise.allSettled(running.splice(0).map((p) => p.stop()));
});
afterAll(async () => {
  await pools.close();
  main.destroy();
  mirror.destroy();
});

/** The body the gateway holds for the key, or undefined on 404. */
async function bodyOf(s3: S3Client, bucket: string, key: string): Promise<string | undefined> {
  try {
    const r = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
    return await r.Body!.transformToString();
  } catch (err) {
    if ((err as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode === 404)
      return undefined;
    throw err;
  }
}

async function onMirror(bucket: string, key: string): Promise<boolean> {
  try {
    await mirror.send(new HeadObjectCommand({ Bucket: bucket, Key: key }));
    return true;
  } catch (err) {
    if ((err as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode === 404) return false;
    throw err;
  }
}

/** One query on the bucket's inventory database. */
async function query<T extends Record<string, unknown>>(bucket: string, sql: string, params: unknown[] = []) {
  const url = new URL(services.postgres.url);
  url.pathname = `/${databaseNameFor(bucket)}`;
  const pg = new Client({ connectionString: url.toString() });
  await pg.connect();
  try {
    return (await pg.query<T>(sql, params)).rows;
  } finally {
    await pg.end();
  }
}

const metric = async (proxy: ProxyInstance, name: string, labels: Record<string, string> = {}) =>
  metricValue(await scrapeMetrics(proxy), name, labels);

/** Waits for an anti-entropy pass over `bucket` that started after `since` (Postgres' clock) and completed. */
async function waitForScanPassAfter(bucket: string, since: Date): Promise<void> {
  await pollUntil(
    `a complete scan pass of ${bucket} started after ${since.toISOString()}`,
    async () => {
      const [s] = await query<{ done: boolean }>(
        bucket,
        `SELECT cursor IS NULL AND last_complete_at IS NOT NULL AND pass_started_at > $1 AS done
         FROM s3_mirror_scan`,
        [since],
      );
      return s?.done === true;
    },
    { timeoutMs: 120_000, maxIntervalMs: 1000 },
  );
}

const dbNow = async (bucket: string): Promise<Date> =>
  (await query<{ now: Date }>(bucket, 'SELECT now() AS now'))[0]!.now;

test('keep: a delete through the proxy and one behind its back stay on the mirror, through scan passes and a resync', async () => {
  const bucket = `dp-keep-${rnd()}`;
  const { proxy, app } = await start({ ...SCAN, MIRROR_DELETE_POLICY: 'keep', ALLOWED_BUCKETS: bucket });
  await app.send(new CreateBucketCommand({ Bucket: bucket }));
  for (const key of ['kept', 'behind', 'stays']) {
    await app.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: `body of ${key}` }));
  }
  await waitForThreeWayEqual(services, bucket);

  await app.send(new DeleteObjectCommand({ Bucket: bucket, Key: 'kept' }));
  await main.send(new DeleteObjectCommand({ Bucket: bucket, Key: 'behind' })); // not through the proxy
  await pollUntil('both deletes settled as kept', async () => {
    const rows = await query<{ path: string; ok: boolean }>(
      bucket,
      `SELECT path, deleted AND is_backed_up AND delete_kept AS ok FROM files WHERE path IN ('kept', 'behind')`,
    );
    return rows.length === 2 && rows.every((r) => r.ok);
  });
  expect(await bodyOf(main, bucket, 'kept')).toBeUndefined();
  expect(await bodyOf(mirror, bucket, 'kept')).toBe('body of kept');
  expect(await bodyOf(mirror, bucket, 'behind')).toBe('body of behind');
  const rows = await inventoryRows(services, bucket);
  expect(rows.get('kept')).toMatchObject({
    deleted: true,
    is_backed_up: true,
    last_operation: 'DeleteObject',
  });
  expect(rows.get('behind')).toMatchObject({
    deleted: true,
    is_backed_up: true,
    last_operation: 'Scan:mark-deleted',
  });
  expect(await metric(proxy, 's3mirror_mirror_operations_total', { action: 'keep' })).toBe(2);
  expect(await metric(proxy, 's3mirror_mirror_operations_total', { action: 'delete' })).toBe(0);

  // Two more complete passes: the scan never re-queues what keep kept.
  await waitForScanPassAfter(bucket, await dbNow(bucket));
  await waitForScanPassAfter(bucket, await dbNow(bucket));
  expect(await metric(proxy, 's3mirror_scan_differences_total', { kind: 'delete-on-mirror' })).toBe(0);
  expect(await onMirror(bucket, 'kept')).toBe(true);
  expect(await onMirror(bucket, 'behind')).toBe(true);
  // The only difference left is the one the policy wants: the mirror holds what main deleted.
  expect((await threeWayDiff(services, bucket)).sort()).toEqual([
    'mirror: extra "behind"',
    'mirror: extra "kept"',
  ]);

  const ctx = {
    main,
    mirror,
    mirrorBucket: sameBucketName,
    inventory: new InventoryRepository(pools),
    logger,
  };
  // Settled as kept, they stay kept: a resync under `mirror` (the default, as when run without the proxy's
  // environment) finds nothing to delete either ...
  const underMirror = await resyncBucket(ctx, bucket, { dryRun: false });
  expect(underMirror.actions).toEqual([]);
  // ... and neither does one under `keep`; the mirror keeps both.
  const kept = await resyncBucket({ ...ctx, deletePolicy: { kind: 'keep' } }, bucket, { dryRun: false });
  expect(kept.actions).toEqual([]);
  expect(await bodyOf(mirror, bucket, 'kept')).toBe('body of kept');
  expect(await bodyOf(mirror, bucket, 'behind')).toBe('body of behind');
  expect(await bodyOf(mirror, bucket, 'stays')).toBe('body of stays');
});

test('a delete recorded under keep stays on the mirror when a sidecar under mirror copies it (policy changed at a restart, or another pod of the bucket)', async () => {
  const bucket = `dp-switch-${rnd()}`;
  const first = await start({ SCAN_INTERVAL_SECONDS: '0', ALLOWED_BUCKETS: bucket });
  await first.app.send(new CreateBucketCommand({ Bucket: bucket }));
  for (const key of ['kept', 'gone']) {
    await first.app.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: `body of ${key}` }));
  }
  await waitForThreeWayEqual(services, bucket);
  await first.proxy.stop();

  // Both deleted on main while no sidecar runs; `kept` recorded by a sidecar under keep, `gone` under mirror.
  for (const key of ['kept', 'gone']) await main.send(new DeleteObjectCommand({ Bucket: bucket, Key: key }));
  const deleteOf = (key: string) => ({
    bucket,
    key,
    kind: 'delete' as const,
    operation: 'DeleteObject',
    acknowledgedAt: new Date(),
  });
  await new InventoryRepository(pools, { kind: 'keep' }).recordWrites(bucket, [deleteOf('kept')]);
  await new InventoryRepository(pools).recordWrites(bucket, [deleteOf('gone')]);

  const { proxy } = await start({ SCAN_INTERVAL_SECONDS: '0', ALLOWED_BUCKETS: bucket });
  await pollUntil('both deletes settled', async () => {
    const rows = await query<{ n: string }>(bucket, 'SELECT count(*) AS n FROM files WHERE NOT is_backed_up');
    return rows[0]?.n === '0';
  });
  expect(await onMirror(bucket, 'kept')).toBe(true);
  expect(await onMirror(bucket, 'gone')).toBe(false);
  expect(await query(bucket, 'SELECT path, deleted, delete_kept FROM files ORDER BY path')).toEqual([
    { path: 'gone', deleted: true, delete_kept: false },
    { path: 'kept', deleted: true, delete_kept: true },
  ]);
  expect(await metric(proxy, 's3mirror_mirror_operations_total', { action: 'keep' })).toBe(1);
});

test('delay:1h: a resync run meanwhile under mirror (its default) leaves the delete waiting out its delay', async () => {
  const bucket = `dp-delay-resync-${rnd()}`;
  const { app } = await start({
    SCAN_INTERVAL_SECONDS: '0',
    MIRROR_DELETE_POLICY: 'delay:1h',
    ALLOWED_BUCKETS: bucket,
  });
  await app.send(new CreateBucketCommand({ Bucket: bucket }));
  await app.send(new PutObjectCommand({ Bucket: bucket, Key: 'waits', Body: 'body of waits' }));
  await waitForThreeWayEqual(services, bucket);
  await app.send(new DeleteObjectCommand({ Bucket: bucket, Key: 'waits' }));
  await pollUntil('the delete recorded', async () => {
    const rows = await query<{ deleted: boolean }>(bucket, `SELECT deleted FROM files WHERE path = 'waits'`);
    return rows[0]?.deleted === true;
  });

  const ctx = {
    main,
    mirror,
    mirrorBucket: sameBucketName,
    inventory: new InventoryRepository(pools),
    logger,
  };
  const report = await resyncBucket(ctx, bucket, { dryRun: false });
  expect(report.actions).toEqual([]);
  expect(await bodyOf(mirror, bucket, 'waits')).toBe('body of waits');
  const [row] = await query<{ not_due: boolean }>(
    bucket,
    `SELECT next_attempt_at > now() + interval '50 minutes' AS not_due FROM files WHERE path = 'waits'`,
  );
  expect(row).toEqual({ not_due: true });
});

test('delay:5s: the mirror keeps a deleted key until the delay ran out; a re-PUT within the delay cancels the delete', async () => {
  const bucket = `dp-delay-${rnd()}`;
  const { proxy, app } = await start({ ...SCAN, MIRROR_DELETE_POLICY: 'delay:5s', ALLOWED_BUCKETS: bucket });
  // The start line says which policy this sidecar applies.
  const listening = jsonLogLines(proxy.process.stdout(), 'proxy listening');
  expect(listening).toEqual([expect.objectContaining({ deletePolicy: 'delay:5s' })]);
  await app.send(new CreateBucketCommand({ Bucket: bucket }));
  await app.send(new PutObjectCommand({ Bucket: bucket, Key: 'gone', Body: 'old gone' }));
  await app.send(new PutObjectCommand({ Bucket: bucket, Key: 'back', Body: 'old back' }));
  await waitForThreeWayEqual(services, bucket);

  const deletedAt = Date.now();
  await app.send(new DeleteObjectCommand({ Bucket: bucket, Key: 'gone' }));
  await app.send(new DeleteObjectCommand({ Bucket: bucket, Key: 'back' }));
  await app.send(new PutObjectCommand({ Bucket: bucket, Key: 'back', Body: 'new back' }));

  // Right after: main has lost `gone`, the mirror still has it, and its row waits out the delay.
  expect(await bodyOf(main, bucket, 'gone')).toBeUndefined();
  expect(await bodyOf(mirror, bucket, 'gone')).toBe('old gone');
  const [waiting] = await query<{ deleted: boolean; is_backed_up: boolean; not_due: boolean }>(
    bucket,
    `SELECT deleted, is_backed_up, next_attempt_at > now() AS not_due FROM files WHERE path = 'gone'`,
  );
  // (Still not due when read, so the mirror was read within the delay.)
  expect(waiting).toEqual({ deleted: true, is_backed_up: false, not_due: true });

  // The re-PUT is mirrored at once; the delete of `gone` only once the delay ran out.
  await pollUntil(
    'the new back on the mirror',
    async () => (await bodyOf(mirror, bucket, 'back')) === 'new back',
  );
  let goneAt = 0;
  await pollUntil(
    'gone deleted on the mirror',
    async () => {
      if (await onMirror(bucket, 'gone')) return false;
      goneAt = Date.now();
      return true;
    },
    { timeoutMs: 120_000, intervalMs: 100, maxIntervalMs: 200 },
  );
  expect(goneAt - deletedAt).toBeGreaterThanOrEqual(5000);
  // Past the delay of back's delete too: the cancelled delete never reached the mirror.
  expect(await bodyOf(mirror, bucket, 'back')).toBe('new back');
  await waitForThreeWayEqual(services, bucket);
  const rows = await inventoryRows(services, bucket);
  expect(rows.get('gone')).toMatchObject({ deleted: true, is_backed_up: true, delete_kept: false });
  expect(rows.get('back')).toMatchObject({ deleted: false, is_backed_up: true, deleted_at: null });
  // A scan pass after all that changes nothing.
  await waitForScanPassAfter(bucket, await dbNow(bucket));
  await sleep(100);
  expect(await threeWayDiff(services, bucket)).toEqual([]);
});

test('mirror (the default): a delete through the proxy reaches the mirror', async () => {
  const bucket = `dp-mirror-${rnd()}`;
  const { proxy, app } = await start({ ALLOWED_BUCKETS: bucket });
  await app.send(new CreateBucketCommand({ Bucket: bucket }));
  await app.send(new PutObjectCommand({ Bucket: bucket, Key: 'k', Body: 'v' }));
  await waitForThreeWayEqual(services, bucket);
  await app.send(new DeleteObjectCommand({ Bucket: bucket, Key: 'k' }));
  await waitForThreeWayEqual(services, bucket);
  expect(await onMirror(bucket, 'k')).toBe(false);
  const rows = await inventoryRows(services, bucket);
  expect(rows.get('k')).toMatchObject({ deleted: true, is_backed_up: true, delete_kept: false });
  expect(await metric(proxy, 's3mirror_mirror_operations_total', { action: 'delete' })).toBe(1);
  expect(await metric(proxy, 's3mirror_mirror_operations_total', { action: 'keep' })).toBe(0);
});
