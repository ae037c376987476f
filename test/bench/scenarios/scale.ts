/**
 * Cluster scale (issue 15): what sidecars cost the one shared Postgres as bucket databases and sidecars
 * multiply. Every sidecar reaches Postgres through its own TCP forwarder, which counts the connections it
 * opens and the statements it sends; Postgres's own counters (pg_stat_database) give new sessions. The sink
 * backend stands in for main and mirror, so S3 costs nothing here and every difference is Postgres work.
 */
import pg from 'pg';

import { CONTROL_DATABASE } from '@k8s-s3-mirror/proxy/dist/inventory/control-schema';
import { DEFAULT_POOL_LIMITS, InventoryPools } from '@k8s-s3-mirror/proxy/dist/inventory/pools';
import { createLogger } from '@k8s-s3-mirror/proxy/dist/log';
import { startPostgres, type PostgresServer } from '../../harness/postgres';
import { startTcpFaultProxy, type TcpFaultProxy } from '../../harness/tcp-fault-proxy';
import { sleep } from '../../harness/wait';
import {
  APP_CREDENTIALS,
  proxyEnvironment,
  sinkUpstreams,
  startProxyService,
  type ProxyUnderTest,
} from '../env';
import { BenchClient, openLoop } from '../client';
import type { BenchContext } from '../context';
import { readProcStat } from '../procs';
import { fmtMs, fmtNumber, table, type Section } from '../report';
import { distribution, max, median, type Distribution } from '../stats';
import { backedUpTimes } from './mirror-lag';
import { SMALL_SIZE } from './small';

/** One sidecar and the forwarder that counts its Postgres traffic. */
interface Sidecar {
  proxy: ProxyUnderTest;
  forwarder: TcpFaultProxy;
}

interface WindowCost {
  sidecars: number;
  databases: number;
  seconds: number;
  /** Connections open to Postgres when the window began: all sidecars, and the most any one held. */
  openConnections: number;
  maxPerSidecar: number;
  newConnections: number;
  /** Chunks the sidecars sent to Postgres (one per statement, or per pipelined batch of them). */
  statements: number;
  /** New Postgres sessions counted by Postgres itself (all databases). */
  newSessions: number;
  /** Proxy CPU over the window, summed over sidecars. */
  cpuSeconds: number;
  /** Median RSS of the sidecars at the end of the window. */
  rssMb: number;
}

interface LoadRun {
  label: string;
  buckets: number;
  perPod: WritePattern['perPod'];
  rate: number;
  sent: number;
  failed: number;
  unmirrored: number;
  lag: Distribution;
  /** The most connections one sidecar had open at any sample, and all of them together. */
  peakPerSidecar: number;
  peakTotal: number;
  newConnections: number;
  /** Connections opened in the second half of the sending (every pool warm by then): the steady state. */
  openedSecondHalf: number;
  /**
   * Connections opened beyond each sidecar's first opens of the pools of the buckets it writes (2 per
   * bucket): reopens, or pools of other pods' buckets. 0: every connection, once open, was reused.
   */
  reopened: number;
  secondHalfSeconds: number;
  statementsPerWrite: number;
  /**
   * The same over the second half of the sending (chunks sent then ÷ writes sent then): the steady state,
   * without each sidecar's first use of its databases.
   */
  statementsPerWriteSecondHalf: number;
}

const BUCKET_PREFIX = 'scale';
const bucketName = (runId: string, i: number): string => `${BUCKET_PREFIX}-${runId}-${i}`;

/**
 * Bucket databases as a conformance run or a real cluster leaves them: created by the proxy's own code
 * (schema, hint), one mirrored row, a scan just completed.
 */
export async function createDatabases(postgresUrl: string, buckets: readonly string[]): Promise<void> {
  const pools = new InventoryPools(postgresUrl, createLogger('off'));
  try {
    let next = 0;
    const worker = async (): Promise<void> => {
      while (next < buckets.length) {
        const bucket = buckets[next++]!;
        await pools.withBucket(bucket, async (pool) => {
          await pool.query(
            `INSERT INTO files (path, size, content_type, last_modified, is_backed_up)
             VALUES ('k', 1, 'x', now(), true) ON CONFLICT DO NOTHING`,
          );
          await pool.query(`UPDATE s3_mirror_scan SET last_complete_at = now() WHERE id = 1`);
        });
      }
    };
    await Promise.all([worker(), worker(), worker()]);
  } finally {
    await pools.close();
  }
}

async function startSidecars(ctx: BenchContext, postgres: PostgresServer, n: number): Promise<Sidecar[]> {
  const sink = ctx.sink!;
  const target = new URL(postgres.url);
  const sidecars: Sidecar[] = [];
  // A few at a time: twenty node processes starting at once on two cores is a start-up storm, not a measure.
  for (let i = 0; i < n; i += 4) {
    const batch = await Promise.all(
      Array.from({ length: Math.min(4, n - i) }, async (_, j) => {
        const forwarder = await startTcpFaultProxy(target.hostname, Number(target.port));
        const via = new URL(postgres.url);
        via.host = forwarder.address;
        const proxy = await startProxyService({
          name: `proxy-scale-${sidecars.length + j}`,
          env: proxyEnvironment({ ...sinkUpstreams(sink), postgresUrl: via.toString() }),
          logDir: ctx.logDir,
        });
        return { proxy, forwarder };
      }),
    );
    sidecars.push(...batch);
  }
  return sidecars;
}

async function stopSidecars(sidecars: readonly Sidecar[]): Promise<void> {
  await Promise.all(sidecars.map((s) => s.proxy.stop()));
  await Promise.all(sidecars.map((s) => s.forwarder.close()));
}

/** Postgres's own count of sessions ever started, over every database (one long-lived client asks). */
async function sessionsSoFar(admin: pg.Client): Promise<number> {
  const r = await admin.query<{ n: string }>('SELECT sum(sessions)::text AS n FROM pg_stat_database');
  return Number(r.rows[0]?.n ?? 0);
}

/** Until every bucket's scan state has been looked at once and no hint is due: start-up work is over. */
export async function waitSettled(postgresUrl: string, timeoutMs: number): Promise<boolean> {
  const url = new URL(postgresUrl);
  url.pathname = `/${CONTROL_DATABASE}`;
  const control = new pg.Client({ connectionString: url.toString() });
  await control.connect();
  try {
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
      const r = await control.query<{ busy: string }>(
        `SELECT count(*) FILTER (WHERE scan_due_at IS NULL OR (due_at IS NOT NULL AND due_at <= now()))::text AS busy
         FROM mirror_work`,
      );
      if (r.rows[0]?.busy === '0') return true;
      await sleep(1_000);
    }
    return false;
  } finally {
    await control.end();
  }
}

async function idleWindow(
  admin: pg.Client,
  sidecars: readonly Sidecar[],
  databases: number,
  windowMs: number,
): Promise<WindowCost> {
  const totals = (): { connections: number; statements: number; cpu: number } => ({
    connections: sidecars.reduce((s, c) => s + c.forwarder.totalConnections, 0),
    statements: sidecars.reduce((s, c) => s + c.forwarder.clientChunks, 0),
    cpu: sidecars.reduce((s, c) => s + (readProcStat(c.proxy.pid)?.cpuSeconds ?? 0), 0),
  });
  const open = sidecars.map((s) => s.forwarder.activeConnections);
  const before = totals();
  const sessionsBefore = await sessionsSoFar(admin);
  await sleep(windowMs);
  // Backends report their counters when idle, at most once a second: give the last ones time.
  await sleep(1_500);
  const after = totals();
  const sessionsAfter = await sessionsSoFar(admin);
  return {
    sidecars: sidecars.length,
    databases,
    seconds: windowMs / 1000,
    openConnections: open.reduce((a, b) => a + b, 0),
    maxPerSidecar: max(open),
    newConnections: after.connections - before.connections,
    statements: after.statements - before.statements,
    newSessions: sessionsAfter - sessionsBefore,
    cpuSeconds: after.cpu - before.cpu,
    rssMb: median(sidecars.map((s) => (readProcStat(s.proxy.pid)?.rssBytes ?? NaN) / 1e6)),
  };
}

/** Which buckets the pods write: one shared by all, or `perPod` of their own each (from `all`). */
interface WritePattern {
  all: readonly string[];
  perPod: number | 'shared';
}

/** The bucket of the `seq`th write: pods take turns (seq mod pods), each cycling through its own buckets. */
export function bucketIndex(pattern: WritePattern, pods: number, seq: number): number {
  if (pattern.perPod === 'shared') return 0;
  const pod = seq % pods;
  return pod * pattern.perPod + (Math.floor(seq / pods) % pattern.perPod);
}

function bucketsOf(pattern: WritePattern, pods: number): number {
  return pattern.perPod === 'shared' ? 1 : pods * pattern.perPod;
}

/**
 * Writes at a fixed total rate, spread over the sidecars and over `buckets` buckets, and how long each took
 * to be mirrored (as in the mirror-lag scenario: main's 2xx to the row turning `is_backed_up`).
 */
async function loadRun(
  ctx: BenchContext,
  postgres: PostgresServer,
  sidecars: readonly Sidecar[],
  label: string,
  pattern: WritePattern,
  rate: number,
  durationMs: number,
): Promise<LoadRun> {
  const buckets = bucketsOf(pattern, sidecars.length);
  const clients = sidecars.map(
    (s) => new BenchClient({ name: s.proxy.name, url: s.proxy.url, ...APP_CREDENTIALS }, 64),
  );
  const body = Buffer.alloc(SMALL_SIZE, 'scale-');
  const extra = { 'content-length': String(SMALL_SIZE), 'content-type': 'application/octet-stream' };
  const total = Math.round((rate * durationMs) / 1000);
  const target = (seq: number): { client: BenchClient; bucket: string; path: string } => {
    const pod = seq % clients.length;
    const bucket = pattern.all[bucketIndex(pattern, clients.length, seq)]!;
    return { client: clients[pod]!, bucket, path: `/${bucket}/${label}-${seq}` };
  };
  const headers = await Promise.all(
    Array.from({ length: total }, (_, seq) => target(seq).client.headers('PUT', target(seq).path, extra)),
  );
  // Every sidecar down to its control connection first: the previous run's pools are not this run's.
  const quietBy = Date.now() + 60_000;
  while (Date.now() < quietBy && sidecars.some((s) => s.forwarder.activeConnections > 1)) await sleep(500);
  const opened = (): number => sidecars.reduce((s, c) => s + c.forwarder.totalConnections, 0);
  const connectionsBefore = opened();
  const perSidecarBefore = sidecars.map((s) => s.forwarder.totalConnections);
  const firstOpens =
    (pattern.perPod === 'shared' ? 1 : pattern.perPod) * DEFAULT_POOL_LIMITS.connectionsPerPool;
  const chunks = (): number => sidecars.reduce((s, c) => s + c.forwarder.clientChunks, 0);
  const statementsBefore = chunks();
  let peakPerSidecar = 0;
  let peakTotal = 0;
  const sample = (): void => {
    const open = sidecars.map((s) => s.forwarder.activeConnections);
    peakPerSidecar = Math.max(peakPerSidecar, max(open));
    peakTotal = Math.max(
      peakTotal,
      open.reduce((a, b) => a + b, 0),
    );
  };
  const sampler = setInterval(sample, 100);
  let openedAtHalf = NaN;
  let chunksAtHalf = NaN;
  const halfway = setTimeout(() => {
    openedAtHalf = opened();
    chunksAtHalf = chunks();
  }, durationMs / 2);
  let sends: Awaited<ReturnType<typeof openLoop>>;
  try {
    sends = await openLoop({
      ratePerSec: rate,
      durationMs,
      request: (seq) => target(seq).client.send('PUT', target(seq).path, headers[seq]!, body),
    });
    const openedSecondHalf = opened() - openedAtHalf;
    const chunksSecondHalf = chunks() - chunksAtHalf;
    for (const c of clients) c.close();
    // Until every acknowledged write is mirrored (bounded), still sampling connections.
    const acked = sends.filter((s) => s.status === 200);
    const deadline = Date.now() + (ctx.quick ? 30_000 : 90_000);
    let done = new Map<string, number>();
    const written = new Set(acked.map((s) => target(s.seq).bucket));
    while (Date.now() < deadline) {
      done = new Map();
      for (const bucket of written) {
        for (const [key, v] of await backedUpTimes(postgres.url, bucket, `${label}-`)) done.set(key, v.t);
      }
      if (acked.every((s) => done.has(`${label}-${s.seq}`))) break;
      await sleep(1_000);
    }
    clearInterval(sampler);
    const statements = chunks() - statementsBefore;
    const lags: number[] = [];
    let unmirrored = 0;
    for (const s of acked) {
      const t = done.get(`${label}-${s.seq}`);
      if (t === undefined) unmirrored++;
      else lags.push(Math.max(0, t - s.doneAt));
    }
    return {
      label,
      buckets,
      perPod: pattern.perPod,
      rate,
      sent: sends.length,
      failed: sends.length - acked.length,
      unmirrored,
      lag: distribution(lags),
      peakPerSidecar,
      peakTotal,
      newConnections: opened() - connectionsBefore,
      reopened: sidecars.reduce(
        (sum, s, i) => sum + Math.max(0, s.forwarder.totalConnections - perSidecarBefore[i]! - firstOpens),
        0,
      ),
      openedSecondHalf,
      secondHalfSeconds: durationMs / 2000,
      statementsPerWrite: acked.length ? statements / acked.length : NaN,
      statementsPerWriteSecondHalf: chunksSecondHalf / Math.max(1, sends.length / 2),
    };
  } finally {
    clearInterval(sampler);
    clearTimeout(halfway);
  }
}

/**
 * The connection budget docs/inventory-and-mirroring.md gives for N pods, each busy in B buckets at once:
 * the control connection and one pool of 2 per busy bucket, up to 8 pools. M, the number of bucket
 * databases, is not a term.
 */
export function connectionBudget(pods: number, busyBucketsPerPod: number): number {
  return pods * (1 + 2 * Math.min(busyBucketsPerPod, 8));
}

/** A comma-separated list from the environment (for A/B runs of one case), or the fallback. */
function envList(name: string, fallback: readonly string[]): string[] {
  const raw = process.env[name]?.trim();
  return raw ? raw.split(',').map((s) => s.trim()) : [...fallback];
}

export async function runScale(ctx: BenchContext): Promise<Section> {
  // BENCH_SCALE_SIZES, BENCH_SCALE_FLEET and BENCH_SCALE_PATTERNS narrow a run to one case (A/B runs).
  const sizes = envList('BENCH_SCALE_SIZES', ctx.quick ? ['10', '100'] : ['10', '100', '1000']).map(Number);
  const fleet = Number(process.env.BENCH_SCALE_FLEET ?? (ctx.quick ? 4 : 20));
  const wanted = new Set(envList('BENCH_SCALE_PATTERNS', ['shared', 'own', 'many']));
  const windowMs = ctx.quick ? 10_000 : 30_000;
  // Long enough that the second half, which the per-write rows count, is past each pod's first use of its
  // bucket databases: 100 pools opening at once took up to 16 s on a slow day, and a 20 s load's second half
  // then counted the first half's catch-up (test/bench/notes.md, "Claims only where a look is left").
  const loadMs = ctx.quick ? 8_000 : 40_000;
  const rate = ctx.quick ? 20 : 50;
  /** Buckets each pod writes in the multi-bucket case: more than a pod keeps pools for (4). */
  const manyPerPod = 5;
  // Room for every sidecar's worst case (1 + 2 × 8) and the bench's own sessions: pods busy in five buckets
  // each need 20 × 11 = 220 sessions. Below that Postgres refuses sessions ("too many clients"), and the
  // refusals, not the proxy, set lag and churn (the "slow mode" of earlier runs, at max_connections 200).
  const postgres = await startPostgres({ embedded: true, maxConnections: 20 + connectionBudget(fleet, 8) });
  const admin = new pg.Client({ connectionString: postgres.url });
  await admin.connect();
  const idle: WindowCost[] = [];
  const loads: LoadRun[] = [];
  const notes: string[] = [];
  try {
    let created = 0;
    for (const size of sizes) {
      const from = Date.now();
      await createDatabases(
        postgres.url,
        Array.from({ length: size - created }, (_, i) => bucketName(ctx.runId, created + i)),
      );
      ctx.log(`scale: ${size} bucket databases (${size - created} created in ${fmtMs(Date.now() - from)})`);
      created = size;
      const [one] = await startSidecars(ctx, postgres, 1);
      try {
        if (!(await waitSettled(postgres.url, 300_000)))
          notes.push(`${size} databases: start-up work had not settled after 5 minutes.`);
        // Pools opened by the start-up look close after 10 s idle.
        await sleep(12_000);
        idle.push(await idleWindow(admin, [one!], size, windowMs));
        ctx.log(`  idle, 1 sidecar: ${JSON.stringify(idle.at(-1))}`);
      } finally {
        await stopSidecars([one!]);
      }
    }
    const all = Array.from({ length: created }, (_, i) => bucketName(ctx.runId, i));
    ctx.log(`scale: ${fleet} sidecars over ${created} databases`);
    const sidecars = await startSidecars(ctx, postgres, fleet);
    try {
      if (!(await waitSettled(postgres.url, 300_000)))
        notes.push(`${fleet} sidecars: start-up work had not settled after 5 minutes.`);
      await sleep(12_000);
      idle.push(await idleWindow(admin, sidecars, created, windowMs));
      ctx.log(`  idle, ${fleet} sidecars: ${JSON.stringify(idle.at(-1))}`);
      // The same rate to one bucket shared by every pod, to one bucket per pod, to several per pod.
      const patterns = (
        [
          ['shared', { all, perPod: 'shared' }],
          ['own', { all, perPod: 1 }],
          ['many', { all, perPod: manyPerPod }],
        ] satisfies [string, WritePattern][]
      ).filter(([label]) => wanted.has(label));
      for (const [label, pattern] of patterns) {
        await waitSettled(postgres.url, 60_000);
        await sleep(12_000);
        const run = await loadRun(ctx, postgres, sidecars, label, pattern, rate, loadMs);
        loads.push(run);
        ctx.log(
          `  load, ${run.buckets} buckets: ${JSON.stringify({ ...run, lag: undefined })} p50 ${fmtMs(run.lag.p50)} p99 ${fmtMs(run.lag.p99)}`,
        );
      }
    } finally {
      await stopSidecars(sidecars);
    }
  } finally {
    await admin.end();
    await postgres.destroy();
  }
  return renderScale({ idle, loads, notes, fleet, rate, windowMs, loadMs });
}

function renderScale(r: {
  idle: WindowCost[];
  loads: LoadRun[];
  notes: string[];
  fleet: number;
  rate: number;
  windowMs: number;
  loadMs: number;
}): Section {
  const perSecond = (n: number, w: WindowCost): number => n / w.seconds;
  const single = r.idle.filter((w) => w.sidecars === 1);
  const fleetIdle = r.idle.find((w) => w.sidecars > 1);
  const one = r.loads.find((l) => l.perPod === 'shared');
  const spread = r.loads.find((l) => l.perPod === 1);
  const many = r.loads.find((l) => typeof l.perPod === 'number' && l.perPod > 1);
  const typical = r.loads.filter((l) => l !== many);
  const idleMet =
    single.length > 0 && single.every((w) => w.newConnections === 0 && perSecond(w.statements, w) <= 1);
  const lagRatio = one && spread ? spread.lag.p99 / one.lag.p99 : NaN;
  return {
    id: 'scale',
    title: 'Cluster scale: Postgres cost by bucket databases and sidecars (sink backend)',
    body: [
      'Bucket databases are created by the proxy’s own code, each with one mirrored row and a scan just ' +
        'completed (as a cluster’s inventory looks between writes). Each sidecar is the shipped proxy process ' +
        'reaching a dedicated embedded Postgres through its own TCP forwarder, which counts the connections it ' +
        'opens and the chunks it sends (one per statement, or per pipelined batch); Postgres’s pg_stat_database ' +
        'counts new sessions. Idle windows start once every hint is settled and every bucket’s scan state has ' +
        `been looked at once (a start-up cost, paid once per bucket per scan interval by one sidecar of the cluster), ` +
        `and last ${r.windowMs / 1000} s.`,
      table(
        [
          'sidecars',
          'bucket DBs',
          'open connections',
          'most per sidecar',
          'new connections',
          'statements/s per sidecar',
          'new sessions',
          'proxy CPU per sidecar',
          'RSS (median)',
        ],
        r.idle.map((w) => [
          String(w.sidecars),
          String(w.databases),
          String(w.openConnections),
          String(w.maxPerSidecar),
          String(w.newConnections),
          fmtNumber(perSecond(w.statements, w) / w.sidecars),
          String(w.newSessions),
          `${fmtNumber((1000 * w.cpuSeconds) / w.sidecars / w.seconds)} ms/s`,
          `${fmtNumber(w.rssMb)} MB`,
        ]),
      ),
      `Under load: ${r.rate} PUTs/s of 4 KiB in total for ${fmtNumber(r.loadMs / 1000)} s, ` +
        `spread round-robin over the ${r.fleet} sidecars: all to ` +
        'one bucket every pod shares; each pod to a bucket of its own; each pod to several buckets of its own ' +
        '(5: with 4 pools a sidecar closed and reopened them all the time, 18 s lag p50). Lag is main’s 2xx to the row turning `is_backed_up`; ' +
        'connections are sampled every 100 ms at the forwarders, during the load and until every write was ' +
        'mirrored; each run starts once the previous one’s pools have closed. Rows "in the second half" count ' +
        'the second half of the sending, past each pod’s first use of its buckets’ databases. "Opened beyond first use" counts, ' +
        'per sidecar, connections beyond two per bucket it writes (a pool’s two, opened once): reopens, or ' +
        'pools of other pods’ buckets it helped mirror. The server allows every sidecar’s worst case ' +
        '(max_connections 20 + 17 per sidecar).',
      table(
        [
          'writes to',
          'sent',
          'failed',
          'unmirrored',
          'lag p50',
          'lag p99',
          'peak connections per sidecar',
          'peak in total',
          'connections opened',
          'opened in the second half of the sending',
          'opened beyond first use',
          'statements per write',
          'statements per write, second half',
        ],
        r.loads.map((l) => [
          l.perPod === 'shared' ? '1 bucket, shared' : `${l.buckets} buckets, ${l.perPod} per pod`,
          String(l.sent),
          String(l.failed),
          String(l.unmirrored),
          fmtMs(l.lag.p50),
          fmtMs(l.lag.p99),
          String(l.peakPerSidecar),
          String(l.peakTotal),
          String(l.newConnections),
          `${l.openedSecondHalf} in ${l.secondHalfSeconds} s`,
          String(l.reopened),
          fmtNumber(l.statementsPerWrite),
          fmtNumber(l.statementsPerWriteSecondHalf),
        ]),
      ),
      'Connection budget for N pods, each busy in B buckets at a time: N × (1 + 2 × min(B, 8)); idle: N. ' +
        `For ${r.fleet} pods writing one bucket each: ${connectionBudget(r.fleet, 1)}; the worst case is ` +
        `${connectionBudget(r.fleet, 8)} (17 per pod). The number of bucket databases M does not appear: ` +
        'an idle sidecar opens none of them, and a scan pass (one sidecar, once per bucket per SCAN_INTERVAL_SECONDS) ' +
        'opens each for the pass only.',
      ...r.notes,
    ],
    charts: [],
    checks: [
      {
        goal: 'idle sidecar: ≤ 1 statement/s and no new connection at 10, 100, 1,000 bucket databases',
        measured: single
          .map((w) => `${w.databases}: ${fmtNumber(perSecond(w.statements, w))}/s, ${w.newConnections} new`)
          .join('; '),
        met: single.length ? idleMet : undefined,
      },
      {
        goal: `${r.fleet} sidecars × ${fleetIdle?.databases ?? '?'} databases: ≤ 3 connections per sidecar (pods writing one bucket each)`,
        measured:
          `idle ${fleetIdle?.maxPerSidecar ?? '?'}, under load ${max(typical.map((l) => l.peakPerSidecar))} at most` +
          (many
            ? `; a pod busy in ${String(many.perPod)} buckets: ${many.peakPerSidecar} (by design ≤ 11)`
            : ''),
        met:
          fleetIdle && typical.length
            ? max([fleetIdle.maxPerSidecar, ...typical.map((l) => l.peakPerSidecar)]) <= 3
            : undefined,
      },
      {
        goal: `mirror lag at ${r.rate} PUT/s over ${spread?.buckets ?? '?'} buckets (one per pod) is the same as over 1`,
        measured:
          one && spread
            ? `p99 ${fmtMs(spread.lag.p99)} vs ${fmtMs(one.lag.p99)} (×${fmtNumber(lagRatio)})`
            : 'n/a',
        met: Number.isFinite(lagRatio) ? lagRatio <= 1.5 && spread!.unmirrored === 0 : undefined,
      },
      {
        goal: 'statements per mirrored write constant as buckets grow (second half of the sending, within 25 % of one shared bucket’s)',
        measured: r.loads
          .map((l) => `${l.buckets} buckets: ${fmtNumber(l.statementsPerWriteSecondHalf)}`)
          .join('; '),
        met:
          one && r.loads.length > 1
            ? r.loads.every((l) => l.statementsPerWriteSecondHalf <= 1.25 * one.statementsPerWriteSecondHalf)
            : undefined,
      },
      {
        goal:
          'new sessions near zero at steady state under load: connections reused (none opened beyond each ' +
          'pool’s first use), or < 1/s in the second half of the sending',
        measured: r.loads
          .map(
            (l) =>
              `${l.buckets} buckets: ${l.reopened} beyond first use, ` +
              `${fmtNumber(l.openedSecondHalf / l.secondHalfSeconds)}/s in the second half ` +
              `(${l.newConnections} opened in the whole run, ${l.sent} writes)`,
          )
          .join('; '),
        met: r.loads.length
          ? r.loads.every((l) => l.reopened === 0 || l.openedSecondHalf / l.secondHalfSeconds < 1)
          : undefined,
      },
    ],
    raw: { idle: r.idle, loads: r.loads },
  };
}
