import { startHttpFaultProxy, type HttpFaultProxy } from '../../harness/http-fault-proxy';
import { metricValue, parsePrometheusText } from '../../harness/proxies';
import { startPostgres, type PostgresServer } from '../../harness/postgres';
import { sleep } from '../../harness/wait';
import { BenchClient } from '../client';
import { forEachConcurrently } from '../concurrently';
import type { BenchContext } from '../context';
import { proxyEnvironment, startProxyService, type ProxyUnderTest } from '../env';
import { cpuSecondsOf, waitIdle } from '../procs';
import { fmtBytes, fmtMs, fmtNumber, fmtPercent, MiB, table, type Section } from '../report';
import { median, pairedRatios, percentile, roundOrder } from '../stats';
import { backedUpTimes, primeBucket, type Via } from './mirror-lag';

/**
 * The upload spool, on vs off (issue 3: "avoid a second read from main where the proxy already holds the
 * bytes … Measure the choice"). Two proxies in front of the same RGW, each with its own Postgres (a sidecar
 * mirrors every inventory database it finds) and its own STATE_DIR; one with the spool at its defaults, one
 * with SPOOL_MAX_BYTES=0. Both reach main through one recording forwarder, which counts what the mirror
 * copies read back from main independently of the proxy's own metrics. Per round and arm: a burst of PUTs,
 * then the wait until every row is backed up.
 */

interface SpoolCase {
  name: string;
  size: number;
  count: number;
  concurrency: number;
}

type ArmName = 'spool on' | 'spool off';

interface Run {
  arm: ArmName;
  round: number;
  caseName: string;
  sent: number;
  failed: number;
  mirrored: number;
  /** First PUT sent → last row backed up. */
  drainMs: number;
  /** Objects and bytes mirrored per second over `drainMs`. */
  objectsPerSec: number;
  bytesPerSec: number;
  lagP50: number;
  lagP99: number;
  /** Requests the mirror copies sent to main, counted at the forwarder. */
  getObjects: number;
  heads: number;
  bytesReadBack: number;
  copiesFromSpool: number;
  /** Uploads of the round not used from the spool, by reason (the proxy's metric). */
  abandoned: Record<string, number>;
  /** Proxy CPU (data path and mirror copies) per object. */
  cpuMsPerObject: number;
}

const CASES = (quick: boolean): SpoolCase[] => [
  { name: '4 KiB', size: 4 * 1024, count: quick ? 100 : 300, concurrency: 16 },
  { name: '1 MiB', size: MiB, count: quick ? 16 : 48, concurrency: 8 },
  { name: '16 MiB', size: 16 * MiB, count: quick ? 3 : 8, concurrency: 4 },
];

async function spoolMetrics(
  proxy: ProxyUnderTest,
): Promise<{ fromSpool: number; abandoned: Map<string, number> }> {
  const res = await fetch(`${proxy.adminUrl}/metrics`);
  const samples = parsePrometheusText(await res.text());
  const abandoned = new Map<string, number>();
  for (const s of samples) {
    if (s.name === 's3mirror_mirror_spool_abandoned_total') abandoned.set(s.labels.reason ?? '', s.value);
  }
  return {
    fromSpool: metricValue(samples, 's3mirror_mirror_copies_total', { source: 'spool' }),
    abandoned,
  };
}

/** Deletes a round's objects on main and mirror directly (memstore is RAM; no mirroring of these deletes). */
async function cleanUp(ctx: BenchContext, bucket: string, keys: string[]): Promise<void> {
  const c = ctx.ceph!;
  for (const endpoint of [c.direct, c.mirrorDirect]) {
    const client = new BenchClient(endpoint, 16);
    let next = 0;
    await Promise.all(
      Array.from({ length: 8 }, async () => {
        while (next < keys.length) {
          const p = `/${bucket}/${keys[next++]!}`;
          await client.send('DELETE', p, await client.headers('DELETE', p)).catch(() => 0);
        }
      }),
    );
    client.close();
  }
}

async function measure(
  ctx: BenchContext,
  via: Via,
  recorder: HttpFaultProxy,
  arm: ArmName,
  round: number,
  c: SpoolCase,
): Promise<Run> {
  const bucket = `bench-spool-${c.name.replace(/\W+/g, '').toLowerCase()}-${arm === 'spool on' ? 'on' : 'off'}-${round}-${ctx.runId}`;
  await primeBucket(ctx, bucket, via);
  await waitIdle([...ctx.quietPids('ceph'), via.proxy.pid], { maxMs: ctx.quick ? 3_000 : 60_000 });
  const keys = Array.from({ length: c.count }, (_, i) => `k-${i}`);
  const client = new BenchClient(via.endpoint, c.concurrency * 2);
  const small = c.size <= MiB ? Buffer.alloc(c.size, 'spool-bench-') : undefined;
  const headers = await Promise.all(
    keys.map((k) =>
      client.headers('PUT', `/${bucket}/${k}`, {
        'content-length': String(c.size),
        'content-type': 'application/octet-stream',
      }),
    ),
  );
  const seenFrom = recorder.requests.length;
  const before = await spoolMetrics(via.proxy);
  const cpuBefore = cpuSecondsOf(via.proxy.pid);
  const acked = new Map<string, number>();
  let failed = 0;
  const t0 = Date.now();
  await forEachConcurrently(keys.length, c.concurrency, async (i) => {
    const p = `/${bucket}/${keys[i]!}`;
    const status = small
      ? await client.send('PUT', p, headers[i]!, small)
      : await client.putStream(p, headers[i]!, c.size);
    if (status === 200) acked.set(keys[i]!, Date.now());
    else failed++;
  });
  client.close();
  const deadline = Date.now() + (ctx.quick ? 60_000 : 180_000);
  let done = new Map<string, { t: number; size: number }>();
  while (Date.now() < deadline) {
    done = await backedUpTimes(via.proxy.postgresUrl, bucket, 'k-');
    if ([...acked.keys()].every((k) => done.has(k))) break;
    await sleep(100);
  }
  const cpu = cpuSecondsOf(via.proxy.pid) - cpuBefore;
  const after = await spoolMetrics(via.proxy);
  const abandoned: Record<string, number> = {};
  for (const [reason, n] of after.abandoned) {
    const d = n - (before.abandoned.get(reason) ?? 0);
    if (d > 0) abandoned[reason] = d;
  }
  const lags = [...acked].flatMap(([k, at]) => (done.has(k) ? [Math.max(0, done.get(k)!.t - at)] : []));
  const last = Math.max(...[...done.values()].map((v) => v.t));
  const drainMs = last - t0;
  const prefix = `/${bucket}/k-`;
  const ours = recorder.requests.slice(seenFrom).filter((r) => r.url.startsWith(prefix));
  const gets = ours.filter((r) => r.method === 'GET' && !/[?&]tagging/.test(r.url)).length;
  const run: Run = {
    arm,
    round,
    caseName: c.name,
    sent: keys.length,
    failed,
    mirrored: lags.length,
    drainMs,
    objectsPerSec: lags.length / (drainMs / 1000),
    bytesPerSec: (lags.length * c.size) / (drainMs / 1000),
    lagP50: percentile(lags, 50),
    lagP99: percentile(lags, 99),
    getObjects: gets,
    heads: ours.filter((r) => r.method === 'HEAD').length,
    bytesReadBack: gets * c.size,
    copiesFromSpool: after.fromSpool - before.fromSpool,
    abandoned,
    cpuMsPerObject: (cpu * 1000) / c.count,
  };
  await cleanUp(ctx, bucket, keys);
  return run;
}

export async function runSpool(ctx: BenchContext): Promise<Section> {
  const c = ctx.ceph!;
  const rounds = ctx.quick ? 1 : 3;
  const recorder = await startHttpFaultProxy(c.cluster.mainEndpoint, { maxRecorded: 1_000_000 });
  const postgres: PostgresServer[] = [];
  const proxies: ProxyUnderTest[] = [];
  const arms: { name: ArmName; via: Via }[] = [];
  try {
    for (const [name, extra] of [
      ['spool on', {}],
      ['spool off', { SPOOL_MAX_BYTES: '0' }],
    ] as const) {
      const pg = await startPostgres({ embedded: true });
      postgres.push(pg);
      const slug = name.replace(' ', '-');
      // startProxyService gives each proxy its own STATE_DIR (journal and spool), as the webhook does.
      const proxy = await startProxyService({
        name: `proxy-ceph-${slug}`,
        env: proxyEnvironment(
          {
            mainUrl: recorder.url,
            main: c.cluster.main,
            mirrorUrl: c.cluster.mirrorEndpoint,
            mirror: c.cluster.mirror,
            postgresUrl: pg.url,
          },
          extra,
        ),
        logDir: ctx.logDir,
      });
      proxies.push(proxy);
      ctx.rss.watch(`proxy-ceph-${slug}`, proxy.pid);
      arms.push({ name, via: { proxy, endpoint: { ...c.viaProxy, url: proxy.url } } });
    }
    // Fresh processes run unoptimised code at first: warm both arms before anything counts.
    for (const arm of arms) {
      await measure(ctx, arm.via, recorder, arm.name, 0, {
        name: 'warmup',
        size: 64 * 1024,
        count: 64,
        concurrency: 8,
      });
    }
    const runs: Run[] = [];
    for (let round = 0; round < rounds; round++) {
      for (const sc of CASES(ctx.quick)) {
        for (const arm of roundOrder(arms, round)) {
          ctx.log(`spool: ${sc.count} × ${sc.name}, ${arm.name}, round ${round + 1}/${rounds}`);
          const r = await measure(ctx, arm.via, recorder, arm.name, round, sc);
          ctx.log(
            `  ${fmtNumber(r.objectsPerSec)} obj/s mirrored, lag p50 ${fmtMs(r.lagP50)} p99 ${fmtMs(r.lagP99)}, ` +
              `${r.getObjects} GETs to main, ${r.copiesFromSpool} from spool, ${fmtNumber(r.cpuMsPerObject)} ms CPU/object`,
          );
          runs.push(r);
        }
      }
    }
    return section(runs, rounds, ctx.quick);
  } finally {
    await Promise.allSettled(proxies.map((p) => p.stop()));
    await Promise.allSettled(postgres.map((p) => p.destroy()));
    await recorder.close();
  }
}

/** Uploads not used from the spool over the rounds, by reason: "slow_disk 1, full 2" (or "none"). */
function notSpooled(rs: Run[]): string {
  const total = new Map<string, number>();
  for (const r of rs) for (const [k, n] of Object.entries(r.abandoned)) total.set(k, (total.get(k) ?? 0) + n);
  return total.size === 0 ? 'none' : [...total].map(([k, n]) => `${k} ${n}`).join(', ');
}

function section(runs: Run[], rounds: number, quick: boolean): Section {
  const cases = CASES(quick);
  const of = (arm: ArmName, name: string): Run[] =>
    runs.filter((r) => r.arm === arm && r.caseName === name).sort((a, b) => a.round - b.round);
  const med = (rs: Run[], f: (r: Run) => number): number => median(rs.map(f));
  const rows: string[][] = [];
  const ratios: { name: string; throughput: string; cpu: string; lag: string }[] = [];
  for (const sc of cases) {
    for (const arm of ['spool on', 'spool off'] as const) {
      const rs = of(arm, sc.name);
      if (rs.length === 0) continue;
      const sent = rs.reduce((n, r) => n + r.sent, 0);
      rows.push([
        sc.name,
        arm,
        `${sc.count} × ${rs.length}`,
        String(rs.reduce((n, r) => n + r.failed + (r.sent - r.failed - r.mirrored), 0)),
        fmtNumber(med(rs, (r) => r.objectsPerSec)),
        `${fmtBytes(med(rs, (r) => r.bytesPerSec))}/s`,
        fmtMs(med(rs, (r) => r.lagP50)),
        fmtMs(med(rs, (r) => r.lagP99)),
        fmtNumber(rs.reduce((n, r) => n + r.getObjects, 0) / sent),
        fmtBytes(rs.reduce((n, r) => n + r.bytesReadBack, 0) / rs.length),
        fmtNumber(rs.reduce((n, r) => n + r.heads, 0) / sent),
        fmtPercent(rs.reduce((n, r) => n + r.copiesFromSpool, 0) / sent),
        arm === 'spool off' ? '(no spool)' : notSpooled(rs),
        fmtNumber(med(rs, (r) => r.cpuMsPerObject)),
      ]);
    }
    const on = of('spool on', sc.name);
    const off = of('spool off', sc.name);
    if (on.length > 0 && on.length === off.length) {
      const t = pairedRatios(
        off.map((r) => r.objectsPerSec),
        on.map((r) => r.objectsPerSec),
      );
      const cpu = pairedRatios(
        off.map((r) => r.cpuMsPerObject),
        on.map((r) => r.cpuMsPerObject),
      );
      const lag = pairedRatios(
        off.map((r) => r.lagP50),
        on.map((r) => r.lagP50),
      );
      const fmt = (s: typeof t): string =>
        `${fmtPercent(s.median)} (${fmtPercent(s.min)} – ${fmtPercent(s.max)})`;
      ratios.push({ name: sc.name, throughput: fmt(t), cpu: fmt(cpu), lag: fmt(lag) });
    }
  }
  return {
    id: 'spool',
    title: 'Upload spool: mirror copies from local disk vs a second read of main (Ceph RGW)',
    body: [
      'Two proxies in front of the same RGW, each with its own Postgres and STATE_DIR: **spool on** (defaults: ' +
        '256 MiB, 64 MiB per object) and **spool off** (`SPOOL_MAX_BYTES=0`: every copy reads the object back ' +
        'from main, as before). Both reach main through one recording forwarder, which counts the GetObject ' +
        'and HeadObject requests the mirror copies send to main. Per round and arm: a burst of PUTs (new keys, ' +
        `fixed concurrency), then the wait until every inventory row is backed up; ${rounds} interleaved ` +
        'round(s), medians over rounds. "Mirrored/s" counts from the first PUT to the last row backed up; lag ' +
        'is per object from the client’s 2xx to `is_backed_up`. CPU is the proxy process’s (data path and ' +
        'mirror copies) per object.',
      table(
        [
          'object',
          'arm',
          'PUTs × rounds',
          'failed or unmirrored',
          'mirrored/s',
          'mirrored bytes/s',
          'lag p50',
          'lag p99',
          'GETs to main per object',
          'read back from main per round',
          'HEADs per object',
          'copies from spool',
          'not spooled (why)',
          'proxy CPU ms/object',
        ],
        rows,
      ),
      'Spool on ÷ spool off, pair by pair (median and range over rounds):',
      table(
        ['object', 'mirrored/s', 'proxy CPU per object', 'lag p50'],
        ratios.map((r) => [r.name, r.throughput, r.cpu, r.lag]),
      ),
    ],
    charts: [],
    checks: [],
    raw: runs,
  };
}
