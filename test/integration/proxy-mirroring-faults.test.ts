/**
 * Faults around the proxy PROCESS (its bundle, as the image runs it): SIGKILL mid-mirror and right after
 * acknowledged writes, the mirror gateway down, Postgres down. Every scenario ends with three-way equality of
 * main, mirror and inventory. Tests that stop a shared service start it again in `finally`.
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
  GetObjectCommand,
  HeadObjectCommand,
  PutObjectCommand,
  PutObjectTaggingCommand,
  UploadPartCommand,
  type S3Client,
} from '@aws-sdk/client-s3';
import { Client } from 'pg';

import { inventoryRows, workHint as hintOf } from '../harness/inventory-rows';
import { startHttpFaultProxy } from '../harness/http-fault-proxy';
import { spawnNode } from '../harness/process';
import {
  appClient,
  directClient,
  PROXY_MAIN,
  proxyEnv,
  startProxyProcess,
  type ProxyInstance,
} from '../harness/proxy';
import {
  canRunOnReadOnlyRoot,
  metricValue,
  readOnlyRootWrapper,
  scrapeMetrics,
  startProxyOnReadOnlyRoot,
  tempStateDir,
} from '../harness/proxies';
import { controls, loadServices, type TestServices } from '../harness/services';
import { threeWayDiff, waitForThreeWayEqual } from '../harness/three-way';
import { nonJsonLines } from '../harness/json-lines';
import { pollUntil } from '../harness/wait';

const services: TestServices = loadServices();
const ctl = controls(services);
const rnd = (): string => crypto.randomBytes(4).toString('hex');
const MiB = 1024 * 1024;

const running: ProxyInstance[] = [];
const clients: S3Client[] = [];
const stateDirs: string[] = [];
const mirror = directClient(services.ceph.mirrorEndpoint, services.ceph.mirror);

async function start(
  overrides: Record<string, string> = {},
): Promise<{ proxy: ProxyInstance; app: S3Client }> {
  const proxy = await startProxyProcess(proxyEnv(services, overrides));
  running.push(proxy);
  const app = appClient(proxy.url);
  clients.push(app);
  return { proxy, app };
}

/** The same proxy again after a kill: same environment (ports, STATE_DIR). */
async function restart(old: ProxyInstance): Promise<{ proxy: ProxyInstance; app: S3Client }> {
  const proxy = await startProxyProcess(old.env);
  running.push(proxy);
  const app = appClient(proxy.url);
  clients.push(app);
  return { proxy, app };
}

async function sigkill(proxy: ProxyInstance): Promise<void> {
  proxy.process.kill('SIGKILL');
  const exit = await proxy.process.exited;
  expect(exit.signal).toBe('SIGKILL');
}

function stateDir(): string {
  const dir = tempStateDir();
  stateDirs.push(dir);
  return dir;
}

// Each test's proxies stop with it: idle proxies of earlier tests would only add load and log noise.
afterEach(async () => {
  for (const c of clients.splice(0)) c.destroy();
  const stopped = running.splice(0);
  await Promise.allSettled(stopped.map((p) => p.stop()));
  // Whatever the faults, every line a proxy printed is JSON (the AWS SDK's own warnings included).
  const notJson = stopped.flatMap((p) => nonJsonLines(p.process.output()));
  expect(notJson).toEqual([]);
  for (const d of stateDirs.splice(0)) fs.rmSync(d, { recursive: true, force: true });
});

afterAll(() => mirror.destroy());

const metric = async (proxy: ProxyInstance, name: string, labels: Record<string, string> = {}) =>
  metricValue(await scrapeMetrics(proxy), name, labels);

/** Whether the Postgres server's clock is still before `t` (leases are compared with its now()). */
/**
 * Runs `work` while three loops GET `key` through the proxy without a pause (an app always busy, so catch-up
 * copies give way); the GETs made, and the loops' errors.
 */
async function whileAppReads(
  app: S3Client,
  bucket: string,
  key: string,
  work: () => Promise<void>,
): Promise<{ reads: number; errors: unknown[] }> {
  let busy = true;
  let reads = 0;
  const errors: unknown[] = [];
  const readLoop = async (): Promise<void> => {
    while (busy) {
      const r = await app.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
      await r.Body!.transformToString();
      reads++;
    }
  };
  const loops = Promise.all([1, 2, 3].map(() => readLoop().catch((err: unknown) => void errors.push(err))));
  try {
    await work();
  } finally {
    busy = false;
    await loops;
  }
  return { reads, errors };
}

async function databaseTimeIsBefore(t: Date): Promise<boolean> {
  const pg = new Client({ connectionString: services.postgres.url });
  await pg.connect();
  try {
    return (await pg.query<{ before: boolean }>('SELECT now() < $1 AS before', [t])).rows[0]!.before;
  } finally {
    await pg.end();
  }
}

/** Bytes of journal segments on disk under a STATE_DIR. */
function journalBytes(dir: string): number {
  const j = path.join(dir, 'journal');
  if (!fs.existsSync(j)) return 0;
  return fs.readdirSync(j).reduce((n, f) => n + fs.statSync(path.join(j, f)).size, 0);
}

/** One of each tracked write type on `bucket`; every request must be acknowledged (2xx). */
async function burstOfWrites(app: S3Client, bucket: string, tag: string): Promise<void> {
  for (let i = 0; i < 12; i++) {
    await app.send(
      new PutObjectCommand({
        Bucket: bucket,
        Key: `${tag}/put-${i}`,
        Body: `body ${i} of ${tag}`,
        ContentType: 'text/x-burst',
        Metadata: { n: String(i) },
      }),
    );
  }
  await app.send(new DeleteObjectCommand({ Bucket: bucket, Key: `${tag}/put-0` }));
  await app.send(
    new DeleteObjectsCommand({
      Bucket: bucket,
      Delete: { Objects: [{ Key: `${tag}/put-1` }, { Key: `${tag}/put-2` }] },
    }),
  );
  await app.send(
    new CopyObjectCommand({ Bucket: bucket, Key: `${tag}/copy`, CopySource: `${bucket}/${tag}/put-3` }),
  );
  await app.send(
    new PutObjectTaggingCommand({
      Bucket: bucket,
      Key: `${tag}/put-4`,
      Tagging: { TagSet: [{ Key: 'burst', Value: tag }] },
    }),
  );
  const { UploadId } = await app.send(
    new CreateMultipartUploadCommand({ Bucket: bucket, Key: `${tag}/mpu` }),
  );
  const part = await app.send(
    new UploadPartCommand({ Bucket: bucket, Key: `${tag}/mpu`, UploadId, PartNumber: 1, Body: 'one part' }),
  );
  await app.send(
    new CompleteMultipartUploadCommand({
      Bucket: bucket,
      Key: `${tag}/mpu`,
      UploadId,
      MultipartUpload: { Parts: [{ PartNumber: 1, ETag: part.ETag }] },
    }),
  );
}

describe('durability of the need to mirror (proxy process)', () => {
  test('SIGKILL right after acknowledged writes while Postgres and the mirror are down: with STATE_DIR, and with the default (unset), every write reaches inventory and mirror after a restart; with STATE_DIR=off they are lost', async () => {
    if (!services.postgres.controllable) return; // POSTGRES_URL: the harness cannot stop that server
    const dir = stateDir();
    let journaled = await start({ STATE_DIR: dir });
    // Nothing configured: the proxy's own default state directory (one per port under the temp directory).
    let defaulted = await start({ STATE_DIR: '' });
    stateDirs.push(path.join(os.tmpdir(), `k8s-s3-mirror-${defaulted.proxy.port}`));
    const memoryOnly = await start({ STATE_DIR: 'off' });
    // Not killed: a memory queue of 4 (the rest waits on disk and is read back), and a journal of 1 KiB
    // (the rest is held in memory only, counted as unjournaled).
    const spilling = await start({ STATE_DIR: stateDir(), PENDING_MEMORY_LIMIT: '4' });
    const smallJournal = await start({ STATE_DIR: stateDir(), JOURNAL_MAX_BYTES: '1024' });
    const bucketJ = `pj-${rnd()}`;
    const bucketM = `pm-${rnd()}`;
    const bucketS = `ps-${rnd()}`;
    const bucketF = `pf-${rnd()}`;
    const bucketD = `pd-${rnd()}`;
    const pairs = [
      [journaled, bucketJ],
      [defaulted, bucketD],
      [memoryOnly, bucketM],
      [spilling, bucketS],
      [smallJournal, bucketF],
    ] as const;
    for (const [p, bucket] of pairs) {
      await p.app.send(new CreateBucketCommand({ Bucket: bucket }));
      // Warm: the inventory databases exist and the mirror buckets too.
      await p.app.send(new PutObjectCommand({ Bucket: bucket, Key: 'warm', Body: 'w' }));
    }
    for (const [, bucket] of pairs) await waitForThreeWayEqual(services, bucket);

    await ctl.stopPostgres();
    await ctl.stopMirrorGateway();
    try {
      for (const [p, bucket] of pairs) await burstOfWrites(p.app, bucket, 'burst');
      // Acknowledged to the app, and on disk before that: the journal holds the whole burst.
      expect(journalBytes(dir)).toBeGreaterThan(0);
      const large = crypto.randomBytes(64 * MiB);
      await defaulted.app.send(new PutObjectCommand({ Bucket: bucketD, Key: 'burst/large', Body: large }));
      await sigkill(journaled.proxy);
      await sigkill(defaulted.proxy);
      await sigkill(memoryOnly.proxy);
    } finally {
      await ctl.startPostgres();
      await ctl.startMirrorGateway();
    }

    journaled = await restart(journaled.proxy);
    defaulted = await restart(defaulted.proxy);
    await restart(memoryOnly.proxy);
    await waitForThreeWayEqual(services, bucketD);
    expect((await inventoryRows(services, bucketD)).get('burst/large')).toMatchObject({
      size: String(64 * MiB),
      is_backed_up: true,
    });
    expect(await metric(defaulted.proxy, 's3mirror_inventory_journal_enabled')).toBe(1);
    expect(await metric(defaulted.proxy, 's3mirror_inventory_journal_replayed_total')).toBeGreaterThan(0);
    await waitForThreeWayEqual(services, bucketJ);
    const rows = await inventoryRows(services, bucketJ);
    expect(rows.get('burst/put-0')).toMatchObject({ deleted: true, is_backed_up: true });
    expect(rows.get('burst/put-1')).toMatchObject({ deleted: true, last_operation: 'DeleteObjects' });
    expect(rows.get('burst/copy')).toMatchObject({ deleted: false, last_operation: 'CopyObject' });
    expect(rows.get('burst/mpu')).toMatchObject({ last_operation: 'CompleteMultipartUpload' });
    expect(rows.get('burst/put-4')).toMatchObject({ last_operation: 'PutObjectTagging' });
    expect(await metric(journaled.proxy, 's3mirror_inventory_journal_replayed_total')).toBeGreaterThanOrEqual(
      16,
    );
    await pollUntil('journal emptied once Postgres has every entry', async () => journalBytes(dir) === 0);

    // Memory full: entries waited on disk and were read back; journal full: held in memory instead.
    await waitForThreeWayEqual(services, bucketS);
    expect(await metric(spilling.proxy, 's3mirror_inventory_journal_replayed_total')).toBeGreaterThan(10);
    await waitForThreeWayEqual(services, bucketF);
    expect(
      await metric(smallJournal.proxy, 's3mirror_inventory_journal_unjournaled_total', { reason: 'full' }),
    ).toBeGreaterThan(0);
    for (const p of [spilling, smallJournal]) {
      expect(await metric(p.proxy, 's3mirror_inventory_events_dropped_total')).toBe(0);
    }

    // The control: the memory-only proxy forgot its burst (its restart had nothing to replay).
    const lost = await threeWayDiff(services, bucketM);
    expect(lost).toEqual(
      expect.arrayContaining([expect.stringMatching(/inventory: no row for "burst\/put-5"/)]),
    );
    expect(lost).toEqual(expect.arrayContaining([expect.stringMatching(/mirror: missing "burst\/put-5"/)]));
  });

  test('SIGTERM while mirror copies hang and no app request runs: the proxy exits 0 at once, nothing reported unrecorded, and the leased row is released for any sidecar', async () => {
    const slowMirror = await startHttpFaultProxy(services.ceph.mirrorEndpoint);
    try {
      const { proxy, app } = await start({ MIRROR_S3_ENDPOINT: slowMirror.url });
      const bucket = `pt-${rnd()}`;
      await app.send(new CreateBucketCommand({ Bucket: bucket }));
      await app.send(new PutObjectCommand({ Bucket: bucket, Key: 'warm', Body: 'w' }));
      await waitForThreeWayEqual(services, bucket);
      slowMirror.setFaults({ delayMs: 120_000 });
      await app.send(new PutObjectCommand({ Bucket: bucket, Key: 'hanging', Body: 'h' }));
      await pollUntil('the copy of "hanging" leased and waiting on the mirror', async () => {
        const row = (await inventoryRows(services, bucket)).get('hanging');
        return row !== undefined && row.lease_owner !== null;
      });
      const exit = await proxy.process.stop(60_000);
      expect(exit).toEqual({ code: 0, signal: null });
      const out = proxy.process.output();
      expect(out).not.toMatch(/shutdown did not finish in time/);
      expect(out).not.toMatch(/writes not yet in Postgres/);
      expect((await inventoryRows(services, bucket)).get('hanging')).toMatchObject({
        is_backed_up: false,
        lease_owner: null,
        attempts: 0,
      });
    } finally {
      await slowMirror.close();
    }
  });

  test('kill -9 during a large mirror upload: the restarted proxy (same STATE_DIR) takes the copy over at once and converges', async () => {
    const dir = stateDir();
    const { proxy, app } = await start({ STATE_DIR: dir });
    const bucket = `pk-${rnd()}`;
    await app.send(new CreateBucketCommand({ Bucket: bucket }));
    const size = 128 * MiB;
    await app.send(
      new PutObjectCommand({
        Bucket: bucket,
        Key: 'large.bin',
        Body: crypto.randomBytes(size),
        ContentType: 'application/x-large',
        Metadata: { large: 'yes' },
      }),
    );
    // Kill once the mirror copy is under way: parts are on the mirror, the row is leased and not done.
    await pollUntil(
      'the mirror upload in progress',
      async () => {
        const [bytes, row] = await Promise.all([
          metric(proxy, 's3mirror_mirror_bytes_total'),
          inventoryRows(services, bucket).then((r) => r.get('large.bin')),
        ]);
        return bytes > 0 && bytes < size && row?.lease_owner !== null && row?.is_backed_up === false;
      },
      { intervalMs: 10, maxIntervalMs: 20 },
    );
    await sigkill(proxy);
    const killed = (await inventoryRows(services, bucket)).get('large.bin')!;
    expect(killed).toMatchObject({ is_backed_up: false });
    expect(killed.lease_owner).toEqual(expect.any(String));
    const deadLeaseUntil = killed.lease_until as Date;
    await expect(
      mirror.send(new HeadObjectCommand({ Bucket: bucket, Key: 'large.bin' })),
    ).rejects.toMatchObject({
      $metadata: { httpStatusCode: 404 },
    });

    await restart(proxy);
    await waitForThreeWayEqual(services, bucket, { timeoutMs: 240_000 });
    // Converged while the dead process's lease was still running: taken over, not waited out.
    expect(await databaseTimeIsBefore(deadLeaseUntil)).toBe(true);
    expect((await inventoryRows(services, bucket)).get('large.bin')!.lease_owner).toBeNull();
  });
});

describe('degraded modes (proxy process)', () => {
  test('mirror gateway stopped: app requests unaffected, failures visible in rows and metrics, backlog drains when it is back', async () => {
    const { proxy, app } = await start();
    const bucket = `po-${rnd()}`;
    await app.send(new CreateBucketCommand({ Bucket: bucket }));
    await app.send(new PutObjectCommand({ Bucket: bucket, Key: 'before', Body: 'b' }));
    await waitForThreeWayEqual(services, bucket);

    await ctl.stopMirrorGateway();
    try {
      for (let i = 0; i < 10; i++) {
        const r = await app.send(new PutObjectCommand({ Bucket: bucket, Key: `during/${i}`, Body: `d${i}` }));
        expect(r.$metadata.httpStatusCode).toBe(200);
      }
      const del = await app.send(new DeleteObjectCommand({ Bucket: bucket, Key: 'before' }));
      expect(del.$metadata.httpStatusCode).toBe(204);
      await pollUntil('a failed attempt recorded in a row', async () =>
        [...(await inventoryRows(services, bucket)).values()].some(
          (r) => r.attempts > 0 && r.last_error !== null,
        ),
      );
      await pollUntil('failures, pending and lag visible on /metrics', async () => {
        const m = await scrapeMetrics(proxy);
        return (
          metricValue(m, 's3mirror_mirror_operations_total', { result: 'failure' }) > 0 &&
          metricValue(m, 's3mirror_mirror_pending') > 0 &&
          metricValue(m, 's3mirror_mirror_lag_seconds') > 0
        );
      });
    } finally {
      await ctl.startMirrorGateway();
    }
    await waitForThreeWayEqual(services, bucket, { timeoutMs: 240_000 });
    let gauges = {};
    await pollUntil(
      'pending and lag back to 0',
      async () => {
        const m = await scrapeMetrics(proxy);
        gauges = {
          pending: metricValue(m, 's3mirror_mirror_pending'),
          lag: metricValue(m, 's3mirror_mirror_lag_seconds'),
          hint: await hintOf(services, bucket),
        };
        return (
          metricValue(m, 's3mirror_mirror_pending') === 0 &&
          metricValue(m, 's3mirror_mirror_lag_seconds') === 0
        );
      },
      { describe: () => JSON.stringify(gauges) },
    );
  });

  test('a backlog after a mirror outage gives way to busy app traffic and still converges; a fresh write copied while the app is busy never waits', async () => {
    // 4 MiB/s while the app is busy: an 8 MiB copy takes about 2 s, so even a fast gateway's copy is held.
    const { proxy, app } = await start({ MIRROR_CATCHUP_BYTES_PER_SECOND: String(4 * MiB) });
    const bucket = `pw-${rnd()}`;
    await app.send(new CreateBucketCommand({ Bucket: bucket }));
    await app.send(new PutObjectCommand({ Bucket: bucket, Key: 'small', Body: 'app reads this' }));
    const gaveWay = () => metric(proxy, 's3mirror_mirror_gave_way_seconds_total');

    const { reads, errors } = await whileAppReads(app, bucket, 'small', async () => {
      await ctl.stopMirrorGateway();
      try {
        for (const key of ['backlog-1', 'backlog-2']) {
          await app.send(
            new PutObjectCommand({ Bucket: bucket, Key: key, Body: crypto.randomBytes(8 * MiB) }),
          );
        }
        await pollUntil('both backlog writes failed a copy', async () => {
          const rows = await inventoryRows(services, bucket);
          return ['backlog-1', 'backlog-2'].every((k) => (rows.get(k)?.attempts ?? 0) > 0);
        });
      } finally {
        await ctl.startMirrorGateway();
      }
      await waitForThreeWayEqual(services, bucket, { timeoutMs: 240_000 });
      // The retried copies streamed only part of the time while the app read.
      const afterBacklog = await gaveWay();
      expect(afterBacklog).toBeGreaterThan(0);

      await app.send(
        new PutObjectCommand({ Bucket: bucket, Key: 'fresh', Body: crypto.randomBytes(8 * MiB) }),
      );
      await waitForThreeWayEqual(services, bucket, { timeoutMs: 120_000 });
      expect(await gaveWay()).toBe(afterBacklog);
    });
    expect(errors).toEqual([]);
    expect(reads).toBeGreaterThan(0);
  });

  test('a write made while a held backlog drains is copied by a worker kept for fresh writes, before any backlog row', async () => {
    // Two workers, one of them allowed on catch-up rows; 1 MiB/s for those while the app is busy: an 8 MiB
    // backlog row takes about 8 s. Without a worker kept for them, fresh rows are claimed after the backlog
    // rows due before them, once a worker is free: after a backlog row completed.
    const { proxy, app } = await start({
      MIRROR_CONCURRENCY: '2',
      MIRROR_CATCHUP_BYTES_PER_SECOND: String(MiB),
    });
    const bucket = `fw-${rnd()}`;
    const backlog = ['backlog-1', 'backlog-2'];
    await app.send(new CreateBucketCommand({ Bucket: bucket }));
    await app.send(new PutObjectCommand({ Bucket: bucket, Key: 'small', Body: 'app reads this' }));
    await waitForThreeWayEqual(services, bucket);

    const { errors } = await whileAppReads(app, bucket, 'small', async () => {
      await ctl.stopMirrorGateway();
      try {
        for (const key of backlog) {
          await app.send(
            new PutObjectCommand({ Bucket: bucket, Key: key, Body: crypto.randomBytes(8 * MiB) }),
          );
        }
        await pollUntil('both backlog writes failed a copy', async () => {
          const rows = await inventoryRows(services, bucket);
          return backlog.every((k) => (rows.get(k)?.attempts ?? 0) > 0);
        });
      } finally {
        await ctl.startMirrorGateway();
      }
      await pollUntil(
        'a catch-up copy held',
        async () => (await metric(proxy, 's3mirror_mirror_gave_way_seconds_total')) > 0,
      );
      await app.send(
        new PutObjectCommand({ Bucket: bucket, Key: 'fresh', Body: 'written during the drain' }),
      );
      // One read of the inventory: the fresh row backed up, and the backlog rows as they stood then.
      let rows = new Map<string, { is_backed_up: boolean }>();
      await pollUntil('the fresh write mirrored', async () => {
        rows = await inventoryRows(services, bucket);
        return rows.get('fresh')?.is_backed_up === true;
      });
      expect(backlog.map((k) => [k, rows.get(k)?.is_backed_up])).toEqual(backlog.map((k) => [k, false]));
      await waitForThreeWayEqual(services, bucket, { timeoutMs: 240_000 });
    });
    expect(errors).toEqual([]);
  });

  test('Postgres stopped: app requests still succeed, mirroring continues from memory, the inventory catches up', async () => {
    if (!services.postgres.controllable) return;
    const { proxy, app } = await start();
    const bucket = `pp-${rnd()}`;
    await app.send(new CreateBucketCommand({ Bucket: bucket }));
    await app.send(new PutObjectCommand({ Bucket: bucket, Key: 'warm', Body: 'w' }));
    await waitForThreeWayEqual(services, bucket);

    await ctl.stopPostgres();
    try {
      for (let i = 0; i < 10; i++) {
        const r = await app.send(new PutObjectCommand({ Bucket: bucket, Key: `pgdown/${i}`, Body: `p${i}` }));
        expect(r.$metadata.httpStatusCode).toBe(200);
      }
      await app.send(new DeleteObjectCommand({ Bucket: bucket, Key: 'warm' }));
      await pollUntil('inventory write failures and the memory queue on /metrics', async () => {
        const m = await scrapeMetrics(proxy);
        return (
          metricValue(m, 's3mirror_inventory_write_failures_total') > 0 &&
          metricValue(m, 's3mirror_inventory_memory_queue') > 0
        );
      });
      await pollUntil('mirrored from memory while Postgres is down', async () => {
        await mirror.send(new HeadObjectCommand({ Bucket: bucket, Key: 'pgdown/9' }));
        return true;
      });
    } finally {
      await ctl.startPostgres();
    }
    await waitForThreeWayEqual(services, bucket);
    await pollUntil(
      'memory queue drained',
      async () => (await metric(proxy, 's3mirror_inventory_memory_queue')) === 0,
    );
    expect(await metric(proxy, 's3mirror_inventory_events_dropped_total')).toBe(0);
  });
});

describe('writes whose answer never came back', () => {
  test('main carries out a PutObject, DeleteObject and quiet DeleteObjects but the connection resets before the answer: the app gets an error, and the writes are still recorded and mirrored', async () => {
    const lossyMain = await startHttpFaultProxy(services.ceph.proxyMainEndpoint);
    try {
      const { proxy } = await start({ MAIN_S3_ENDPOINT: lossyMain.url });
      const app = appClient(proxy.url, { maxAttempts: 1 });
      clients.push(app);
      const bucket = `pu-${rnd()}`;
      await app.send(new CreateBucketCommand({ Bucket: bucket }));
      for (const k of ['gone/1', 'gone/2', 'gone/3']) {
        await app.send(new PutObjectCommand({ Bucket: bucket, Key: k, Body: k }));
      }
      await waitForThreeWayEqual(services, bucket);

      lossyMain.setFaults({ dropAnswers: true });
      await expect(
        app.send(new PutObjectCommand({ Bucket: bucket, Key: 'unanswered', Body: 'main has me' })),
      ).rejects.toThrow();
      await expect(app.send(new DeleteObjectCommand({ Bucket: bucket, Key: 'gone/1' }))).rejects.toThrow();
      await expect(
        app.send(
          new DeleteObjectsCommand({
            Bucket: bucket,
            Delete: { Quiet: true, Objects: [{ Key: 'gone/2' }, { Key: 'gone/3' }] },
          }),
        ),
      ).rejects.toThrow();
      lossyMain.setFaults({ dropAnswers: false });

      await waitForThreeWayEqual(services, bucket);
      const rows = await inventoryRows(services, bucket);
      expect(rows.get('unanswered')).toMatchObject({ deleted: false, is_backed_up: true });
      for (const k of ['gone/1', 'gone/2', 'gone/3']) {
        expect(rows.get(k)).toMatchObject({ deleted: true, is_backed_up: true });
      }
    } finally {
      await lossyMain.close();
    }
  });
});

describe('Postgres down: per-key order of copies made from memory', () => {
  test('PUT/DELETE/PUT churn on the same keys while Postgres is stopped: the mirror follows main before Postgres returns (an older copy never wins), then all three agree', async () => {
    if (!services.postgres.controllable) return;
    // A mirror whose speed changes between writes makes copies of one key overlap unless they are ordered.
    const jitteryMirror = await startHttpFaultProxy(services.ceph.mirrorEndpoint);
    try {
      // Without the upload spool (which holds one lease per key) copies read main: only the tracker's own
      // per-key order keeps them apart.
      const { app } = await start({ MIRROR_S3_ENDPOINT: jitteryMirror.url, SPOOL_MAX_BYTES: '0' });
      const bucket = `po-${rnd()}`;
      await app.send(new CreateBucketCommand({ Bucket: bucket }));
      await app.send(new PutObjectCommand({ Bucket: bucket, Key: 'warm', Body: 'w' }));
      await waitForThreeWayEqual(services, bucket);
      await ctl.stopPostgres();
      try {
        const keys = ['churn/a', 'churn/b', 'churn/c'];
        for (let round = 0; round < 3; round++) {
          // The first write's copies meet a slow mirror; the later writes' copies would meet a fast one
          // and overtake them, unless copies of one key run one after the other.
          jitteryMirror.setFaults({ delayMs: 1_500 });
          const seen = jitteryMirror.requests.length;
          for (const key of keys) {
            await app.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: `first ${round}` }));
          }
          await pollUntil('the first copies wait on the slow mirror', async () =>
            keys.every((key) =>
              jitteryMirror.requests.slice(seen).some((r) => r.method === 'PUT' && r.url.includes(key)),
            ),
          );
          jitteryMirror.setFaults({ delayMs: 0 });
          for (const [i, key] of keys.entries()) {
            await app.send(new DeleteObjectCommand({ Bucket: bucket, Key: key }));
            if ((round + i) % 2 === 0) {
              await app.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: `last ${round}` }));
            }
          }
        }
        jitteryMirror.setFaults({ delayMs: 0 });
        await pollUntil(
          'the mirror equals main while Postgres is still down',
          async () => (await threeWayDiff(services, bucket, { withInventory: false })).length === 0,
        );
      } finally {
        await ctl.startPostgres();
      }
      await waitForThreeWayEqual(services, bucket);
    } finally {
      await jitteryMirror.close();
    }
  });
});

// Needs root with CAP_SYS_ADMIN (unshare a mount namespace); reported as skipped where that is missing.
const onReadOnlyRoot = canRunOnReadOnlyRoot() ? test : test.skip;

describe('read-only root filesystem (readOnlyRootFilesystem: true)', () => {
  onReadOnlyRoot(
    'the proxy runs with STATE_DIR=off, and with STATE_DIR as its only writable path; with nowhere to write its default, it stops at start naming STATE_DIR',
    async () => {
      const dir = stateDir();
      const nowhere = spawnNode(PROXY_MAIN, {
        env: {
          ...proxyEnv(services, { STATE_DIR: '' }),
          LISTEN_ADDR: '127.0.0.1:0',
          ADMIN_ADDR: '127.0.0.1:0',
        },
        wrapper: readOnlyRootWrapper(undefined),
      });
      expect((await nowhere.exited).code).toBe(2);
      expect(nowhere.stderr()).toMatch(
        /"message":"config error: STATE_DIR: the default state directory .* STATE_DIR=off/,
      );
      const plain = await startProxyOnReadOnlyRoot(proxyEnv(services, { STATE_DIR: 'off' }));
      const journaled = await startProxyOnReadOnlyRoot(proxyEnv(services, { STATE_DIR: dir }));
      running.push(plain, journaled);
      for (const [proxy, bucket] of [
        [plain, `pr-${rnd()}`],
        [journaled, `prj-${rnd()}`],
      ] as const) {
        const app = appClient(proxy.url);
        clients.push(app);
        await app.send(new CreateBucketCommand({ Bucket: bucket }));
        for (let i = 0; i < 5; i++) {
          await app.send(
            new PutObjectCommand({ Bucket: bucket, Key: `ro/${i}`, Body: `read-only root ${i}` }),
          );
        }
        await app.send(new DeleteObjectCommand({ Bucket: bucket, Key: 'ro/0' }));
        await waitForThreeWayEqual(services, bucket);
      }
      expect(plain.process.output()).toMatch(/STATE_DIR=off: acknowledged writes wait in memory/);
      expect(await metric(plain, 's3mirror_inventory_journal_enabled')).toBe(0);
      expect(journaled.process.output()).not.toMatch(/STATE_DIR=off/);
      // The journal and the upload spool: uploads were mirrored from there, and used files are removed.
      expect(fs.readdirSync(dir).sort()).toEqual(['instance-id', 'journal', 'lock', 'spool']);
      expect(await metric(journaled, 's3mirror_mirror_copies_total', { source: 'spool' })).toBeGreaterThan(0);
      await pollUntil(
        'used spool files removed',
        async () => fs.readdirSync(path.join(dir, 'spool')).length === 0,
      );
    },
  );
});
