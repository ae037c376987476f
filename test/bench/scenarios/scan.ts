import pg from 'pg';

import { CONTROL_DATABASE } from '@k8s-s3-mirror/proxy/dist/inventory/control-schema';
import { databaseNameFor } from '@k8s-s3-mirror/proxy/dist/inventory/naming';
import { migrate, urlForDatabase } from '@k8s-s3-mirror/proxy/dist/inventory/pools';
import { startHttpFaultProxy, type HttpFaultProxy } from '../../harness/http-fault-proxy';
import { startPostgres } from '../../harness/postgres';
import { sleep } from '../../harness/wait';
import { BenchClient, type Endpoint } from '../client';
import type { BenchContext } from '../context';
import { proxyEnvironment, startProxyService, withInventory } from '../env';
import { cpuSecondsOf } from '../procs';
import { fmtNumber, table, type Section } from '../report';

/**
 * One full anti-entropy pass over a large bucket (issue 11: "a full pass over a bucket of 100,000 objects
 * within a documented time"). Main, mirror and inventory are filled directly (equal, as after a healthy
 * run); then a proxy that knows only this bucket starts with a pass due, and the pass is timed from its
 * state row (pass_started_at → last_complete_at). Once at the default budget, once at a larger one: the
 * budget, not the proxy, should set the pace. Main's and mirror's request rates are counted at recording
 * forwarders in front of them, independently of the proxy's own accounting.
 */

/** The ETag of an empty object (MD5 of nothing). */
const EMPTY_ETAG = '"d41d8cd98f00b204e9800998ecf8427e"';

interface ScanRun {
  budget: number;
  objects: number;
  passSeconds: number;
  differences: number;
  /** Requests the scan sent to main and to the mirror during the pass. */
  requests: number;
  /** Highest rate of those requests over a sampling interval of about a second. */
  peakRequestsPerSecond: number;
  proxyCpuSeconds: number;
}

const keyOf = (i: number): string => `obj-${String(i).padStart(7, '0')}`;

/** Empty objects `0 … count-1`, PUT straight at one endpoint. */
async function fill(ctx: BenchContext, endpoint: Endpoint, bucket: string, count: number): Promise<void> {
  const client = new BenchClient(endpoint, 64);
  await client.send('PUT', `/${bucket}`, await client.headers('PUT', `/${bucket}`));
  let next = 0;
  const headers = { 'content-length': '0' };
  await Promise.all(
    Array.from({ length: 48 }, async () => {
      while (next < count) {
        const i = next++;
        if (i > 0 && i % 20_000 === 0) ctx.log(`  ${endpoint.name}: ${i} objects`);
        const path = `/${bucket}/${keyOf(i)}`;
        const status = await client.send('PUT', path, await client.headers('PUT', path, headers));
        if (status !== 200) throw new Error(`PUT ${path} at ${endpoint.name}: HTTP ${status}`);
      }
    }),
  );
  client.close();
}

/** The bucket's inventory database with one backed-up row per object, as a healthy sidecar leaves it. */
async function fillInventory(postgresUrl: string, bucket: string, count: number): Promise<void> {
  const db = databaseNameFor(bucket);
  const admin = new pg.Client({ connectionString: postgresUrl });
  await admin.connect();
  await admin.query(`CREATE DATABASE ${db}`);
  await admin.end();
  const pool = new pg.Pool({ connectionString: urlForDatabase(postgresUrl, db), max: 1 });
  const client = await pool.connect();
  try {
    await migrate(client);
    await client.query('INSERT INTO s3_mirror_bucket (id, bucket) VALUES (1, $1)', [bucket]);
    await client.query(
      `INSERT INTO files (path, size, content_type, is_backed_up, last_modified, deleted, etag, mirror_etag,
          last_operation, mirrored_generation, updated_at)
       SELECT 'obj-' || lpad(i::text, 7, '0'), 0, 'application/octet-stream', TRUE, now(), FALSE, $1, $1,
          'PutObject', 1, LOCALTIMESTAMP - interval '1 hour'
       FROM generate_series(0, $2 - 1) AS i`,
      [EMPTY_ETAG, count],
    );
  } finally {
    client.release();
    await pool.end();
  }
}

/**
 * Makes the control database say a scan may be due (for `bucket`, or every bucket): a finished pass set its
 * bucket's `scan_due_at` a scan interval ahead, and a proxy only looks at buckets whose time has come.
 * Nothing to do before the first proxy has created the control database.
 */
export async function resetScanDue(postgresUrl: string, bucket?: string): Promise<void> {
  // Before any proxy ran there is no control database, and so no hint that could hold a pass back.
  const exists = await withInventory(postgresUrl, 'postgres', async (admin) => {
    const r = await admin.query('SELECT 1 FROM pg_database WHERE datname = $1', [CONTROL_DATABASE]);
    return r.rowCount === 1;
  });
  if (!exists) return;
  await withInventory(postgresUrl, CONTROL_DATABASE, (control) =>
    bucket === undefined
      ? control.query('UPDATE mirror_work SET scan_due_at = NULL')
      : control.query('UPDATE mirror_work SET scan_due_at = NULL WHERE bucket = $1', [bucket]),
  );
}

/** The bucket's scan state row: whether a pass has started, and the last completed pass. */
async function scanState(
  postgresUrl: string,
  bucket: string,
): Promise<{ started: boolean; done?: { seconds: number; objects: number; differences: number } }> {
  return withInventory(postgresUrl, databaseNameFor(bucket), async (client) => {
    const r = await client.query<{
      started: boolean;
      seconds: number | null;
      objects: string | null;
      differences: number | null;
    }>(
      `SELECT pass_started_at IS NOT NULL AS started,
          extract(epoch FROM last_complete_at - pass_started_at)::double precision AS seconds,
          last_pass_objects::text AS objects, last_pass_differences AS differences
       FROM s3_mirror_scan WHERE id = 1`,
    );
    const row = r.rows[0];
    if (row?.seconds == null) return { started: row?.started ?? false };
    return {
      started: true,
      done: { seconds: row.seconds, objects: Number(row.objects), differences: row.differences ?? 0 },
    };
  });
}

async function passAt(
  ctx: BenchContext,
  postgresUrl: string,
  bucket: string,
  budget: number,
  recorders: HttpFaultProxy[],
): Promise<ScanRun> {
  const c = ctx.ceph!;
  // A pass is due at once: the state row never completed one.
  await withInventory(postgresUrl, databaseNameFor(bucket), (db) =>
    db.query(
      `UPDATE s3_mirror_scan SET cursor = NULL, last_complete_at = NULL, pass_started_at = NULL,
          pass_objects = 0, pass_differences = 0, lease_owner = NULL, lease_until = NULL WHERE id = 1`,
    ),
  );
  // The previous pass (the lower budget's) set the next one a day ahead.
  await resetScanDue(postgresUrl, bucket);
  const proxy = await startProxyService({
    name: `proxy-scan-${budget}`,
    env: proxyEnvironment(
      {
        mainUrl: recorders[0]!.url,
        main: c.cluster.main,
        mirrorUrl: recorders[1]!.url,
        mirror: c.cluster.mirror,
        postgresUrl,
      },
      {
        ALLOWED_BUCKETS: bucket,
        SCAN_INTERVAL_SECONDS: '86400',
        SCAN_REQUESTS_PER_SECOND: String(budget),
      },
    ),
    logDir: ctx.logDir,
  });
  try {
    const seen0 = recorders.map((r) => r.requests.length);
    const counted = (): number => recorders.reduce((n, r) => n + r.requests.length, 0);
    let peak = 0;
    let last = counted();
    let lastAt = Date.now();
    // CPU from the first look that sees the pass under way (within a second of its start) to its end: the
    // first look at a bucket is spread over up to a minute, and that idle wait is not the pass's cost.
    let cpu0: number | undefined;
    let done;
    for (let waited = 0; ; waited++) {
      const state = await scanState(postgresUrl, bucket);
      if (state.started) cpu0 ??= cpuSecondsOf(proxy.pid);
      if ((done = state.done)) break;
      if (waited > 3_600) throw new Error(`no scan pass of ${bucket} completed within an hour`);
      await sleep(1_000);
      const now = counted();
      peak = Math.max(peak, (now - last) / ((Date.now() - lastAt) / 1000));
      last = now;
      lastAt = Date.now();
    }
    const cpu = cpuSecondsOf(proxy.pid) - (cpu0 ?? NaN);
    const requests = recorders.reduce((n, r, i) => {
      const ours = r.requests.slice(seen0[i]).filter((q) => q.url.startsWith(`/${bucket}`));
      return n + ours.length;
    }, 0);
    const state = done;
    ctx.log(`  budget ${budget}/s: ${state.objects} objects in ${fmtNumber(state.seconds)} s`);
    return {
      budget,
      objects: state.objects,
      passSeconds: state.seconds,
      differences: state.differences,
      requests,
      peakRequestsPerSecond: peak,
      proxyCpuSeconds: cpu,
    };
  } finally {
    await proxy.stop();
  }
}

export async function runScan(ctx: BenchContext): Promise<Section> {
  const c = ctx.ceph!;
  const count = ctx.quick ? 5_000 : 100_000;
  const budgets = ctx.quick ? [10] : [10, 50];
  const bucket = `bench-scan-${ctx.runId}`;
  const postgres = await startPostgres({ embedded: true });
  const recorders = await Promise.all([
    startHttpFaultProxy(c.cluster.mainEndpoint, { maxRecorded: 1_000_000 }),
    startHttpFaultProxy(c.cluster.mirrorEndpoint, { maxRecorded: 1_000_000 }),
  ]);
  const runs: ScanRun[] = [];
  try {
    ctx.log(`scan: filling main, mirror and inventory with ${count} objects`);
    await Promise.all([fill(ctx, c.direct, bucket, count), fill(ctx, c.mirrorDirect, bucket, count)]);
    await fillInventory(postgres.url, bucket, count);
    for (const budget of budgets) runs.push(await passAt(ctx, postgres.url, bucket, budget, recorders));
  } finally {
    await Promise.allSettled(recorders.map((r) => r.close()));
    await postgres.destroy();
  }
  const pages = count / 1000;
  return {
    id: 'scan',
    title: `Anti-entropy scan: one full pass over ${fmtNumber(count)} objects`,
    body: [
      `Main, mirror and inventory hold the same ${fmtNumber(count)} objects (filled directly, as a healthy run ` +
        'leaves them). A proxy that knows only this bucket (ALLOWED_BUCKETS) starts with a pass due; the pass ' +
        'is timed from its state row in Postgres (pass start → completion). A page is 1,000 keys and costs one ' +
        'listing of main and one of the mirror (plus a HEAD per object whose listed ETag is empty), so a pass ' +
        `needs about ${fmtNumber(pages * 2)} requests; SCAN_REQUESTS_PER_SECOND spaces them. "requests" and ` +
        '"peak/s" are counted at recording forwarders in front of main and mirror, not by the proxy.',
      table(
        [
          'SCAN_REQUESTS_PER_SECOND',
          'objects',
          'pass time',
          'objects/s',
          'requests',
          'peak requests/s',
          'differences',
          'proxy CPU',
          'CPU per 1,000 objects',
        ],
        runs.map((r) => [
          String(r.budget),
          fmtNumber(r.objects),
          `${fmtNumber(r.passSeconds)} s`,
          fmtNumber(r.objects / r.passSeconds),
          String(r.requests),
          fmtNumber(r.peakRequestsPerSecond),
          String(r.differences),
          `${fmtNumber(r.proxyCpuSeconds)} s`,
          `${fmtNumber((r.proxyCpuSeconds * 1000 * 1000) / Math.max(1, r.objects))} ms`,
        ]),
      ),
    ],
    charts: [],
    checks: runs.map((r) => ({
      goal: `a full pass over ${fmtNumber(count)} objects at ${r.budget} requests/s stays within its budget`,
      measured: `${fmtNumber(r.passSeconds)} s, peak ${fmtNumber(r.peakRequestsPerSecond)} requests/s, ${r.differences} differences`,
      met: r.peakRequestsPerSecond <= r.budget * 1.2 && r.differences === 0,
    })),
    raw: runs,
  };
}
