/**
 * The anti-entropy scan through the proxy process, against RGW and real Postgres: it finds what the proxy
 * never recorded (a write made straight to main, a write whose journal entry was lost) and rows parked after
 * too many failed copies, re-queues them, and the copier repairs them: main, mirror and inventory end equal.
 * The scan runs every few seconds here (SCAN_INTERVAL_SECONDS); no assertion is about time. Each proxy serves
 * only its test's bucket (ALLOWED_BUCKETS): late in a full run it would otherwise also scan, and rightly
 * repair, the buckets earlier tests left different on purpose, and its counters would include them.
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';

import { CreateBucketCommand, PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { Client } from 'pg';

import { databaseNameFor } from '../../proxy/src/inventory/naming';
import { startHttpFaultProxy } from '../harness/http-fault-proxy';
import { inventoryRows } from '../harness/inventory-rows';
import { spawnNode } from '../harness/process';
import { appClient, directClient, proxyEnv, startProxyProcess, type ProxyInstance } from '../harness/proxy';
import { metricValue, scrapeMetrics, tempStateDir } from '../harness/proxies';
import { controls, loadServices, type TestServices } from '../harness/services';
import { waitForThreeWayEqual } from '../harness/three-way';
import { pollUntil } from '../harness/wait';

const services: TestServices = loadServices();
const ctl = controls(services);
const rnd = (): string => crypto.randomBytes(4).toString('hex');
const SCAN = { SCAN_INTERVAL_SECONDS: '2', SCAN_SETTLE_SECONDS: '1' };

const running: ProxyInstance[] = [];
const clients: S3Client[] = [];
const main = directClient(services.ceph.mainEndpoint, services.ceph.main);

async function start(
  overrides: Record<string, string> = {},
): Promise<{ proxy: ProxyInstance; app: S3Client }> {
  const proxy = await startProxyProcess(proxyEnv(services, { ...SCAN, ...overrides }));
  running.push(proxy);
  const app = appClient(proxy.url);
  clients.push(app);
  return { proxy, app };
}

afterEach(async () => {
  for (const c of clients.splice(0)) c.destroy();
  await Promise.allSettled(running.splice(0).map((p) => p.stop()));
});
afterAll(() => main.destroy());

const metric = async (proxy: ProxyInstance, name: string, labels: Record<string, string> = {}) =>
  metricValue(await scrapeMetrics(proxy), name, labels);

async function scanState(bucket: string): Promise<Record<string, unknown>> {
  const url = new URL(services.postgres.url);
  url.pathname = `/${databaseNameFor(bucket)}`;
  const pg = new Client({ connectionString: url.toString() });
  await pg.connect();
  try {
    return (await pg.query<Record<string, unknown>>('SELECT * FROM s3_mirror_scan')).rows[0]!;
  } finally {
    await pg.end();
  }
}

test('a write made straight to main, behind two proxies: one of them finds it (one scanner per bucket), and it is mirrored and recorded', async () => {
  const bucket = `ae-${rnd()}`;
  const a = await start({ ALLOWED_BUCKETS: bucket });
  const b = await start({ ALLOWED_BUCKETS: bucket });
  await a.app.send(new CreateBucketCommand({ Bucket: bucket }));
  await a.app.send(new PutObjectCommand({ Bucket: bucket, Key: 'through-proxy', Body: 'p' }));
  await b.app.send(new PutObjectCommand({ Bucket: bucket, Key: 'through-other-proxy', Body: 'q' }));
  await waitForThreeWayEqual(services, bucket);

  await main.send(
    new PutObjectCommand({ Bucket: bucket, Key: 'behind/the-back', Body: 'not through the proxy' }),
  );
  await waitForThreeWayEqual(services, bucket);
  const rows = await inventoryRows(services, bucket);
  expect(rows.get('behind/the-back')).toMatchObject({ last_operation: 'Scan:copy', is_backed_up: true });

  // Found once, by whichever sidecar held the bucket's scan lease; passes complete and are recorded.
  const found = async (p: ProxyInstance) => metric(p, 's3mirror_scan_differences_total', { kind: 'copy' });
  expect((await found(a.proxy)) + (await found(b.proxy))).toBe(1);
  expect(
    (await metric(a.proxy, 's3mirror_scan_objects_total')) +
      (await metric(b.proxy, 's3mirror_scan_objects_total')),
  ).toBeGreaterThan(0);
  await pollUntil(
    'a complete pass recorded',
    async () => (await scanState(bucket)).last_complete_at !== null,
  );
  await pollUntil(
    'the last-complete gauge on both sidecars',
    async () =>
      (await metric(a.proxy, 's3mirror_scan_last_complete_timestamp_seconds', { bucket })) > 0 &&
      (await metric(b.proxy, 's3mirror_scan_last_complete_timestamp_seconds', { bucket })) > 0,
  );
  const log = a.proxy.process.output() + b.proxy.process.output();
  expect(log).toMatch(/anti-entropy scan: differences found and re-queued/);
  expect(log).toContain('behind/the-back');
});

test('a write whose journal entry was removed by hand (killed with Postgres down) is found and repaired', async () => {
  if (!services.postgres.controllable) return;
  const dir = tempStateDir();
  try {
    const bucket = `aj-${rnd()}`;
    const first = await start({ STATE_DIR: dir, ALLOWED_BUCKETS: bucket });
    const { app } = first;
    let proxy = first.proxy;
    await app.send(new CreateBucketCommand({ Bucket: bucket }));
    await app.send(new PutObjectCommand({ Bucket: bucket, Key: 'warm', Body: 'w' }));
    await waitForThreeWayEqual(services, bucket);
    await ctl.stopPostgres();
    await ctl.stopMirrorGateway();
    try {
      await app.send(
        new PutObjectCommand({ Bucket: bucket, Key: 'journal/lost', Body: 'only in the journal' }),
      );
      proxy.process.kill('SIGKILL');
      await proxy.process.exited;
      const journal = path.join(dir, 'journal');
      const segments = fs.readdirSync(journal);
      expect(segments.some((f) => fs.statSync(path.join(journal, f)).size > 0)).toBe(true);
      for (const f of segments) fs.rmSync(path.join(journal, f));
    } finally {
      await ctl.startPostgres();
      await ctl.startMirrorGateway();
    }
    proxy = await startProxyProcess(proxy.env);
    running.push(proxy);
    await waitForThreeWayEqual(services, bucket);
    expect((await inventoryRows(services, bucket)).get('journal/lost')).toMatchObject({
      last_operation: 'Scan:copy',
    });
    expect(await metric(proxy, 's3mirror_scan_differences_total', { kind: 'copy' })).toBe(1);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

/** `npm run status -- --bucket B --json` with the proxy's environment: its exit code and its one bucket. */
async function status(
  env: Record<string, string>,
  bucket: string,
): Promise<{ code: number | null; json: Record<string, unknown> & { lastScan?: unknown } }> {
  const cli = spawnNode(require.resolve('@k8s-s3-mirror/proxy/dist/cli/status.js'), {
    env,
    args: ['--bucket', bucket, '--json'],
  });
  const { code } = await cli.exited;
  return { code, json: (JSON.parse(cli.stdout()) as Record<string, Record<string, unknown>>)[bucket]! };
}

test('a mirror that fails every copy: the row parks after MIRROR_MAX_ATTEMPTS, shows in the metric and the parked command; once the mirror recovers the scan re-queues it and it is repaired', async () => {
  const gate = await startHttpFaultProxy(services.ceph.mirrorEndpoint);
  try {
    const bucket = `ap-${rnd()}`;
    const { proxy, app } = await start({
      MIRROR_S3_ENDPOINT: gate.url,
      MIRROR_MAX_ATTEMPTS: '2',
      ALLOWED_BUCKETS: bucket,
    });
    await app.send(new CreateBucketCommand({ Bucket: bucket }));
    await app.send(new PutObjectCommand({ Bucket: bucket, Key: 'warm', Body: 'w' }));
    await waitForThreeWayEqual(services, bucket);

    gate.setFaults({ errorRate: 1, statuses: [503] });
    await app.send(new PutObjectCommand({ Bucket: bucket, Key: 'parks', Body: 'mirror refuses me' }));
    await pollUntil('the row parked', async () => {
      const row = (await inventoryRows(services, bucket)).get('parks');
      return row?.parked_at !== null && row?.parked_at !== undefined;
    });
    const row = (await inventoryRows(services, bucket)).get('parks')!;
    expect(row).toMatchObject({ is_backed_up: false, attempts: 2 });
    expect(await metric(proxy, 's3mirror_mirror_parked_total')).toBeGreaterThanOrEqual(1);
    await pollUntil(
      's3mirror_mirror_parked counts it',
      async () => (await metric(proxy, 's3mirror_mirror_parked')) >= 1,
    );
    expect(proxy.process.output()).toMatch(/write parked after too many failed copies/);

    const cli = spawnNode(require.resolve('@k8s-s3-mirror/proxy/dist/cli/parked.js'), {
      env: proxy.env,
      args: ['--bucket', bucket, '--json'],
    });
    expect((await cli.exited).code).toBe(1);
    const listed = JSON.parse(cli.stdout()) as Record<string, { path: string; attempts: number }[]>;
    expect(listed[bucket]!.map((r) => r.path)).toEqual(['parks']);
    // `status` counts it as parked, not pending, with its bytes behind.
    const parkedStatus = await status(proxy.env, bucket);
    expect(parkedStatus.code).toBe(1);
    expect(parkedStatus.json).toMatchObject({ objects: 2, pending: 0, parked: 1, bytesBehind: 17 });

    gate.setFaults({ errorRate: 0 });
    await waitForThreeWayEqual(services, bucket);
    expect(await metric(proxy, 's3mirror_scan_differences_total', { kind: 'parked' })).toBeGreaterThanOrEqual(
      1,
    );
    expect((await inventoryRows(services, bucket)).get('parks')).toMatchObject({
      is_backed_up: true,
      parked_at: null,
      attempts: 0,
    });
    const repaired = await status(proxy.env, bucket);
    expect(repaired.code).toBe(0);
    expect(repaired.json).toMatchObject({ objects: 2, pending: 0, parked: 0, bytesBehind: 0 });
    // The pass that re-queued the parked row completed and counted it.
    expect(repaired.json.lastScan).toMatchObject({ objects: 2 });
  } finally {
    await gate.close();
  }
});
