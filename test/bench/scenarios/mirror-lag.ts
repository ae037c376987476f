import os from 'node:os';

import { DEFAULT_MIRROR_CONCURRENCY } from '@k8s-s3-mirror/proxy/dist/config';
import { databaseNameFor } from '@k8s-s3-mirror/proxy/dist/inventory/naming';
import { sleep } from '../../harness/wait';
import { startPostgres } from '../../harness/postgres';
import { BenchClient, openLoop, type Endpoint } from '../client';
import type { BenchContext } from '../context';
import {
  cephUpstreams,
  proxyEnvironment,
  startProxyService,
  withInventory,
  type ProxyUnderTest,
} from '../env';
import { waitIdle } from '../procs';
import { fmtMs, fmtNumber, outOfReachBy, table, type Section } from '../report';
import { distribution } from '../stats';
import { renderLineChart } from '../svg-chart';
import {
  measureDirectReplication,
  sendingCores,
  type DirectReplicationRun,
  type SendingCores,
} from './direct-replication';
import { summarizeLags } from './lag-summary';
import { SMALL_SIZE } from './small';
import { postgresPids } from './write-cost';

/**
 * When each inventory row turned is_backed_up, as ms epoch: the row's updated_at, which the tracker sets in
 * the same statement that marks it backed up (TIMESTAMP without time zone, written in the session's zone).
 */
export async function backedUpTimes(
  postgresUrl: string,
  bucket: string,
  prefix: string,
): Promise<Map<string, { t: number; size: number }>> {
  try {
    return await withInventory(postgresUrl, databaseNameFor(bucket), async (client) => {
      const r = await client.query<{ path: string; t: number; size: string }>(
        `SELECT path, size, extract(epoch FROM updated_at AT TIME ZONE current_setting('TimeZone')) * 1000 AS t
         FROM files WHERE is_backed_up AND NOT deleted AND starts_with(path, $1)`,
        [prefix],
      );
      return new Map(r.rows.map((row) => [row.path, { t: Number(row.t), size: Number(row.size) }]));
    });
  } catch {
    // The database appears with the first recorded write.
    return new Map();
  }
}

/** A proxy in front of RGW main and the endpoint that reaches it. */
export interface Via {
  proxy: ProxyUnderTest;
  endpoint: Endpoint;
}

const shippedVia = (ctx: BenchContext): Via => ({ proxy: ctx.ceph!.proxy, endpoint: ctx.ceph!.viaProxy });

/** PUTs one object through the proxy and waits until it is mirrored: the bucket database and mirror bucket exist. */
export async function primeBucket(ctx: BenchContext, bucket: string, via = shippedVia(ctx)): Promise<void> {
  const { direct } = ctx.ceph!;
  const { endpoint: viaProxy, proxy } = via;
  const admin = new BenchClient(direct);
  await admin.send('PUT', `/${bucket}`, await admin.headers('PUT', `/${bucket}`));
  admin.close();
  const app = new BenchClient(viaProxy);
  const key = `/${bucket}/prime`;
  const headers = await app.headers('PUT', key, { 'content-length': '5' });
  await app.send('PUT', key, headers, Buffer.from('prime'));
  app.close();
  const deadline = Date.now() + 60_000;
  while (Date.now() < deadline) {
    if ((await backedUpTimes(proxy.postgresUrl, bucket, 'prime')).size > 0) return;
    await sleep(200);
  }
  throw new Error(`priming ${bucket}: not mirrored within 60 s`);
}

export interface LagRun {
  rate: number;
  mirrorConcurrency: number;
  sent: number;
  failed: number;
  mirrored: number;
  /** Lags (ms) of mirrored writes. */
  lag: ReturnType<typeof distribution>;
  /** Writes not mirrored when the wait ended: their lag is at least `waitedMs` after their ack. */
  unmirrored: number;
  waitedMs: number;
  /** Median lag of the first and last fifth of the writes: rising means the mirror falls behind. */
  earlyMedianMs: number;
  lateMedianMs: number;
  /** Mirrored writes per second, over the run and the catch-up. */
  mirrorRate: number;
  /** Where the machine's CPU went while the PUTs were sent. */
  cores: SendingCores;
}

export async function measureLag(
  ctx: BenchContext,
  bucket: string,
  rate: number,
  durationMs: number,
  waitAfterMs: number,
  via = shippedVia(ctx),
  mirrorConcurrency = DEFAULT_MIRROR_CONCURRENCY,
): Promise<LagRun> {
  const { endpoint: viaProxy, proxy } = via;
  const app = new BenchClient(viaProxy, 512);
  const body = Buffer.alloc(SMALL_SIZE, 'lag-');
  const extra = { 'content-length': String(SMALL_SIZE), 'content-type': 'application/octet-stream' };
  const total = Math.round((rate * durationMs) / 1000);
  // Sign before the clock starts.
  const headers = await Promise.all(
    Array.from({ length: total }, (_, i) => app.headers('PUT', `/${bucket}/k-${i}`, extra)),
  );
  const { result: sends, cores } = await sendingCores(
    {
      backend: () => ctx.backendPids('ceph'),
      proxy: () => [proxy.pid],
      postgres: () => postgresPids(proxy.postgresUrl),
    },
    () =>
      openLoop({
        ratePerSec: rate,
        durationMs,
        request: (seq) => app.send('PUT', `/${bucket}/k-${seq}`, headers[seq]!, body),
      }),
  );
  app.close();
  const acked = new Map(sends.filter((s) => s.status === 200).map((s) => [`k-${s.seq}`, s.doneAt]));
  const deadline = Date.now() + waitAfterMs;
  let done = new Map<string, { t: number; size: number }>();
  while (Date.now() < deadline) {
    done = await backedUpTimes(proxy.postgresUrl, bucket, 'k-');
    if ([...acked.keys()].every((k) => done.has(k))) break;
    await sleep(250);
  }
  const end = Date.now();
  const summary = summarizeLags(
    sends
      .filter((s) => s.status === 200)
      .map((s) => ({ ackedAt: s.doneAt, copiedAt: done.get(`k-${s.seq}`)?.t })),
    end,
  );
  const times = [...done.values()].map((v) => v.t);
  const firstAck = Math.min(...acked.values());
  return {
    rate,
    mirrorConcurrency,
    sent: sends.length,
    failed: sends.length - acked.size,
    mirrored: summary.copied,
    lag: summary.lag,
    unmirrored: summary.uncopied,
    waitedMs: end - Math.max(...acked.values()),
    earlyMedianMs: summary.earlyMedianMs,
    lateMedianMs: summary.lateMedianMs,
    mirrorRate: times.length ? times.length / ((Math.max(...times) - firstAck) / 1000) : NaN,
    cores,
  };
}

/** Lag grows without bound when the late writes wait much longer than the early ones, or some never arrive. */
export function growsWithoutBound(r: LagRun): boolean {
  return r.unmirrored > 0 || (r.lateMedianMs > 1000 && r.lateMedianMs > 3 * r.earlyMedianMs);
}

/** One lag run through an extra sidecar with more mirror workers, then that sidecar is stopped. */
async function withMoreWorkers(
  ctx: BenchContext,
  workers: number,
  rate: number,
  durationMs: number,
  waitAfterMs: number,
): Promise<LagRun> {
  const c = ctx.ceph!;
  const postgres = await startPostgres({ embedded: true });
  const proxy = await startProxyService({
    name: `proxy-ceph-mirror-${workers}`,
    env: proxyEnvironment(
      { ...cephUpstreams(c.cluster), postgresUrl: postgres.url },
      { MIRROR_CONCURRENCY: String(workers) },
    ),
    logDir: ctx.logDir,
  });
  try {
    const via: Via = { proxy, endpoint: { ...c.viaProxy, url: proxy.url } };
    const bucket = `bench-lag-${rate}-w${workers}-${ctx.runId}`;
    ctx.log(`mirror lag at ${rate} PUT/s with MIRROR_CONCURRENCY=${workers}`);
    await primeBucket(ctx, bucket, via);
    await waitIdle([...ctx.quietPids('ceph'), proxy.pid], { maxMs: 60_000 });
    const run = await measureLag(ctx, bucket, rate, durationMs, waitAfterMs, via, workers);
    ctx.log(`  p50 ${fmtMs(run.lag.p50)} p99 ${fmtMs(run.lag.p99)} unmirrored ${run.unmirrored}`);
    await waitIdle([...ctx.quietPids('ceph'), proxy.pid], { maxMs: 60_000 });
    return run;
  } finally {
    await proxy.stop();
    await postgres.destroy();
  }
}

export async function runMirrorLag(ctx: BenchContext): Promise<Section> {
  const rates = ctx.quick ? [100] : [25, 50, 100, 200, 400];
  const durationMs = ctx.quick ? 3_000 : 10_000;
  const waitAfterMs = ctx.quick ? 10_000 : 45_000;
  const runs: LagRun[] = [];
  for (const rate of rates) {
    const bucket = `bench-lag-${rate}-${ctx.runId}`;
    ctx.log(`mirror lag at ${rate} PUT/s for ${durationMs / 1000} s`);
    await primeBucket(ctx, bucket);
    await waitIdle(ctx.quietPids('ceph'), { maxMs: ctx.quick ? 1_500 : 60_000 });
    const run = await measureLag(ctx, bucket, rate, durationMs, waitAfterMs);
    ctx.log(
      `  p50 ${fmtMs(run.lag.p50)} p99 ${fmtMs(run.lag.p99)} max ${fmtMs(run.lag.max)} unmirrored ${run.unmirrored}`,
    );
    runs.push(run);
    // Let a backlog from an overloaded rate drain before going on (bounded); higher rates only add backlog.
    await waitIdle(ctx.quietPids('ceph'), { maxMs: ctx.quick ? 1_500 : 90_000 });
    // Higher rates only add backlog once lag grows; the goals' rates (100/s, and issue 12's 200/s) are
    // always measured.
    if (growsWithoutBound(run) && rate >= 200) break;
  }
  const at100Default = runs.find((r) => r.rate === 100);
  if (!ctx.quick && at100Default && (growsWithoutBound(at100Default) || at100Default.lag.p99 >= 2000)) {
    // Is the copy concurrency the limit? The same rate through a sidecar with twice the workers (its own
    // Postgres, so the default sidecar's workers do not share the work).
    runs.push(await withMoreWorkers(ctx, 2 * DEFAULT_MIRROR_CONCURRENCY, 100, durationMs, waitAfterMs));
  }
  // The reference at the goal's rate: replication with no proxy and no Postgres, on the same machine.
  const directRate = ctx.quick ? 100 : 200;
  ctx.log(`direct replication at ${directRate} PUT/s (no proxy, no inventory)`);
  await waitIdle(ctx.quietPids('ceph'), { maxMs: ctx.quick ? 1_500 : 60_000 });
  const direct = await measureDirectReplication({
    main: ctx.ceph!.direct,
    mirror: ctx.ceph!.mirrorDirect,
    bucket: `bench-lag-direct-${directRate}-${ctx.runId}`,
    rate: directRate,
    durationMs,
    waitAfterMs,
    workers: DEFAULT_MIRROR_CONCURRENCY,
    backendPids: () => ctx.backendPids('ceph'),
  });
  ctx.log(`  p50 ${fmtMs(direct.lag.p50)} p99 ${fmtMs(direct.lag.p99)} uncopied ${direct.uncopied}`);
  await waitIdle(ctx.quietPids('ceph'), { maxMs: ctx.quick ? 1_500 : 60_000 });
  const defaults = runs.filter((r) => r.mirrorConcurrency === DEFAULT_MIRROR_CONCURRENCY);
  const firstUnbounded = defaults.find(growsWithoutBound);
  const at100 = defaults.find((r) => r.rate === 100);
  const p99At100 = at100 ? (at100.unmirrored > 0 ? Infinity : at100.lag.p99) : NaN;
  const at200 = defaults.find((r) => r.rate === 200);
  const met200 = at200 ? at200.unmirrored === 0 && at200.lag.p99 < 1000 : undefined;
  return {
    id: 'mirror-lag',
    title: 'Mirror lag under sustained writes (Ceph RGW)',
    body: [
      'An open loop sends 4 KiB PUTs through the proxy at a fixed rate (new key each time, as independent ' +
        'clients would, whatever the answers) to the realistic Ceph RGW backend. Lag is measured per write from ' +
        'the moment the client got main’s 2xx to the moment the inventory row turned `is_backed_up` (its ' +
        '`updated_at`, set by the same statement). The rows that were still not mirrored when the wait ended ' +
        `(${waitAfterMs / 1000} s after the last write) count as "unmirrored". For comparison: AWS S3 ` +
        'Replication Time Control promises 99.99 % of objects within 15 minutes.',
      table(
        [
          'offered PUT/s',
          'mirror workers',
          'sent',
          'failed',
          'mirrored',
          'unmirrored',
          'lag p50',
          'lag p99',
          'lag max',
          'early → late median',
          'mirrored/s',
          'bounded?',
        ],
        runs.map((r) => [
          String(r.rate),
          String(r.mirrorConcurrency),
          String(r.sent),
          String(r.failed),
          String(r.mirrored),
          String(r.unmirrored),
          fmtMs(r.lag.p50),
          fmtMs(r.lag.p99),
          fmtMs(r.lag.max),
          `${fmtMs(r.earlyMedianMs)} → ${fmtMs(r.lateMedianMs)}`,
          fmtNumber(r.mirrorRate),
          growsWithoutBound(r) ? 'grows' : 'yes',
        ]),
      ),
      firstUnbounded
        ? `Lag starts to grow without bound at about ${firstUnbounded.rate} PUT/s on this machine ` +
          `(the mirror managed ${fmtNumber(firstUnbounded.mirrorRate)} writes/s); higher rates were not tried.`
        : `Lag stayed bounded at every rate tried (up to ${rates[rates.length - 1]} PUT/s).`,
      ...runs
        .filter((r) => r.mirrorConcurrency !== DEFAULT_MIRROR_CONCURRENCY)
        .map(
          (r) =>
            `With MIRROR_CONCURRENCY=${r.mirrorConcurrency} (default ${DEFAULT_MIRROR_CONCURRENCY}) the same ${r.rate} PUT/s gave lag p50 ` +
            `${fmtMs(r.lag.p50)}, p99 ${fmtMs(r.lag.p99)}, ${r.unmirrored} unmirrored, ` +
            `${fmtNumber(r.mirrorRate)} mirrored/s against ${fmtNumber(at100?.mirrorRate ?? NaN)} with ${DEFAULT_MIRROR_CONCURRENCY} workers` +
            (r.mirrorRate > 1.5 * (at100?.mirrorRate ?? Infinity)
              ? ': the number of copy workers bounds the mirror’s rate.'
              : ': more workers did not raise the rate much, so the bound is elsewhere (RGW, CPU, Postgres).'),
        ),
      ...directSection(
        defaults.find((r) => r.rate === directRate),
        direct,
      ),
    ],
    charts: [
      {
        file: 'mirror-lag.svg',
        alt: 'Mirror lag by sustained PUT rate',
        svg: renderLineChart({
          title: 'Mirror lag by sustained PUT rate (Ceph RGW)',
          xLabel: 'PUT/s (4 KiB)',
          yLabel: 'seconds',
          xLog: true,
          series: [
            { name: 'p50', points: defaults.map((r) => [r.rate, r.lag.p50 / 1000]) },
            { name: 'p99', points: defaults.map((r) => [r.rate, r.lag.p99 / 1000]) },
            { name: 'max', points: defaults.map((r) => [r.rate, r.lag.max / 1000]) },
          ],
          reference: { y: 2, label: 'goal p99 2 s @100/s' },
        }),
      },
    ],
    checks: [
      {
        goal: 'mirror lag p99 < 2 s at 100 small PUT/s',
        measured: at100
          ? at100.unmirrored > 0
            ? `${at100.unmirrored} writes not mirrored after ${fmtMs(at100.waitedMs)}`
            : `p99 ${fmtMs(at100.lag.p99)}`
          : 'n/a',
        met: at100 ? p99At100 < 2000 : undefined,
      },
      outOfReachBy(
        {
          goal: ISSUE_12_LAG_GOAL,
          measured: at200
            ? (at200.unmirrored > 0
                ? `${at200.unmirrored} writes not mirrored after ${fmtMs(at200.waitedMs)}`
                : `p99 ${fmtMs(at200.lag.p99)}`) +
              ` (${fmtNumber(at200.mirrorRate)} mirrored/s, the machine ${fmtNumber(at200.cores.machine)} of ` +
              `${os.cpus().length} cores busy` +
              (direct.rate === 200 ? `; ${describeDirect(direct)})` : ')')
            : 'n/a',
          met: met200,
        },
        lagOutOfReachByDirect(direct, 200),
      ),
      {
        goal: 'report where lag grows without bound',
        measured: firstUnbounded
          ? `from about ${firstUnbounded.rate} PUT/s`
          : `not reached up to ${rates.at(-1)} PUT/s`,
        met: 'reported',
      },
    ],
    raw: { runs, direct },
  };
}

/** The direct arm in a few words, for the goal table. */
function describeDirect(d: DirectReplicationRun): string {
  return (
    `replication with no proxy and no Postgres at the same rate, to the mirror’s 2xx: p99 ${fmtMs(d.lag.p99)}` +
    (d.uncopied ? `, ${d.uncopied} not copied` : '') +
    `, the machine ${fmtNumber(d.cores.machine)} cores busy (RGW and Ceph ${fmtNumber(d.cores.backend)})`
  );
}

/** The proxied run and the direct arm at one rate: lag, and where the machine's CPU went while sending. */
function directSection(proxied: LagRun | undefined, direct: DirectReplicationRun): Section['body'] {
  const fmtCores = (c: number | undefined): string => (c === undefined ? '' : fmtNumber(c));
  const row = (arm: string, lag: LagRun['lag'], rate: number, c: SendingCores): string[] => [
    arm,
    fmtMs(lag.p50),
    fmtMs(lag.p99),
    fmtNumber(rate),
    fmtNumber(c.machine),
    fmtNumber(c.backend),
    fmtCores(c.proxy),
    fmtCores(c.postgres),
    fmtNumber(c.client),
  ];
  return [
    `**At ${direct.rate} PUT/s, against replication with no sidecar.** The same open loop straight to RGW ` +
      `main; each write acknowledged is copied by one of ${direct.workers} workers in the bench's own process ` +
      '(a HEAD on main, a PUT of the same bytes to the mirror; no proxy, no Postgres, no retries). Lag through ' +
      'the proxy ends when the inventory row turns backed up; in the direct arm, at the mirror’s 2xx. ' +
      'Copies/s are over the sending and the catch-up; CPU in cores is averaged over the sending only, and ' +
      'counts a process only while it lived through it (a lower bound). RGW’s CPU at one rate is what it got, ' +
      'not what it needs: it does the same work with less when the proxy takes a share.',
    table(
      [
        'arm',
        'lag p50',
        'lag p99',
        'copies/s',
        'machine cores busy',
        'RGW and Ceph',
        'proxy',
        'Postgres',
        'bench client',
      ],
      [
        ...(proxied ? [row('through the proxy', proxied.lag, proxied.mirrorRate, proxied.cores)] : []),
        row('direct replication', direct.lag, direct.copiesPerSec, direct.cores),
      ],
    ),
    direct.uncopied > 0 ? `The direct arm left ${direct.uncopied} writes uncopied.` : '',
  ].filter(Boolean);
}

export const ISSUE_12_LAG_GOAL = 'mirror lag p99 < 1 s at 200 small PUT/s (issue 12)';

/**
 * The same question answered by the direct arm: replication with no sidecar makes the same requests of RGW per
 * write (the app's PUT, a HEAD on main, the copy's PUT) from the bench's light client, with nothing else taking
 * the machine's CPU. When it misses the goal at `rate` itself, a sidecar, which only adds work, cannot meet it
 * on this machine.
 */
export function lagOutOfReachByDirect(d: DirectReplicationRun, rate: number): string | undefined {
  if (d.rate !== rate || (d.uncopied === 0 && d.lag.p99 < 1000)) return undefined;
  return (
    `: out of reach here: replication with no sidecar (the same requests of RGW, at ${rate} PUT/s in this run) ` +
    `misses the goal itself, at ${fmtNumber(d.copiesPerSec)} copies/s` +
    (d.uncopied ? ` with ${d.uncopied} not copied` : '')
  );
}

/**
 * Why lag at `rate` mirrored PUT/s cannot stay bounded here, if it cannot: every mirrored write is the app's
 * PUT on main and the copy's PUT on the mirror (plus a HEAD), all on the one RGW cluster of this machine, so
 * it must take 2 × rate small PUTs a second. `directPutCeiling` is the most it took from a client that costs
 * almost nothing (the small scenario's direct arm on RGW, same run).
 */
export function lagOutOfReach(rate: number, directPutCeiling: number): string | undefined {
  if (!(directPutCeiling < 2 * rate)) return undefined;
  return (
    `: out of reach here: ${rate} mirrored PUT/s are ${2 * rate} PUT/s (and ${rate} HEAD/s) on the one RGW ` +
    `cluster, which took at most ${fmtNumber(directPutCeiling)} small PUT/s directly in this run`
  );
}

/**
 * The same question by CPU: each mirrored write is two small PUTs and a HEAD on this machine's RGW (the
 * HEAD costed as a small GET), at the machine's CPU per request measured straight at RGW (`putCoreSeconds`,
 * `getCoreSeconds`: the cheapest direct arm, client included). The proxy's and Postgres's own work come on
 * top, so when these alone exceed the machine's cores, no proxy keeps lag bounded at `rate` here.
 */
export function lagOutOfReachByCores(
  rate: number,
  costs: { putCoreSeconds: number; getCoreSeconds: number },
  cores: number,
): string | undefined {
  const needed = rate * (2 * costs.putCoreSeconds + costs.getCoreSeconds);
  if (!(needed > cores)) return undefined;
  return (
    `: out of reach on ${cores} cores: RGW's own work for ${rate} mirrored PUT/s (${2 * rate} PUTs and ` +
    `${rate} HEADs a second, at the CPU a small PUT, ${fmtNumber(costs.putCoreSeconds * 1000)} ms, and GET, ` +
    `${fmtNumber(costs.getCoreSeconds * 1000)} ms, cost straight at RGW in this run) keeps ` +
    `${fmtNumber(needed)} cores busy before the proxy and Postgres do anything`
  );
}
