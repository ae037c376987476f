/**
 * What one mirrored write costs the proxy (issue 12): CPU per 4 KiB PUT from request to settle (journal,
 * inventory, claim, copy, settle). Each round sends `writes` PUTs of new keys at a fixed concurrency, then
 * waits until the proxy, its Postgres and the backend are idle again (every copy done); CPU comes from /proc,
 * split into what the proxy spent while the PUTs were answered and after. On the sink the tracker-off proxy
 * is the data path alone, so the difference is the mirroring's own cost.
 */
import fs from 'node:fs';

import { EVENT_LOOP_SAMPLE_MS } from '@k8s-s3-mirror/proxy/dist/metrics';

import { BenchClient, FILLER } from '../client';
import { forEachConcurrently } from '../concurrently';
import { copyFloorInChild, type CopyFloor } from '../copy-floor';
import {
  BACKEND_LABEL,
  interleave,
  shippedAndDataPathArms,
  type Backend,
  type BenchContext,
} from '../context';
import {
  cephUpstreams,
  readMetric,
  readMetrics,
  sinkUpstreams,
  type ProxyEnvInput,
  type ProxyUnderTest,
} from '../env';
import { startMirrorHop } from '../mirror-hop';
import { cpuSecondsOf, cpuSecondsOfAll, readProcStat, waitIdle } from '../procs';
import { fmtNumber, fmtPercent, table, verdictOf, type GoalCheck, type Section } from '../report';
import { median } from '../stats';
import { startPostgres } from '../../harness/postgres';
import { SMALL_SIZE, type HopPutMs } from './small';

export interface WriteCostRound {
  /** Proxy CPU ms per write while the PUTs were answered. */
  answeringMs: number;
  /** Proxy CPU ms per write after the last answer, until idle (copies and settles left over). */
  afterMs: number;
  /** The kernel's share of the proxy's CPU (system time ÷ total). */
  systemShare: number;
  /** Postgres CPU ms per write (the server and its backends, answering and after). */
  postgresMs: number;
  putsPerSecond: number;
  failed: number;
  /** Copies the proxy counted (0 with the tracker off). */
  mirrored: number;
  /**
   * The proxy's event-loop delay while the PUTs were answered (prom-client's histogram, reset by the scrape
   * before the round): what work on the loop made an app's request wait. The histogram records the time
   * between samples; the delay is what lies above the sampling interval.
   */
  loopDelayP99Ms: number;
  loopDelayMaxMs: number;
}

export interface WriteCostOptions {
  writes: number;
  concurrency: number;
  size: number;
  bucket: string;
  /** Besides the proxy and its Postgres: processes that must be idle before the round counts as done. */
  quietPids?: number[];
}

/** The postmaster of the server at `postgresUrl` (found by its `-p PORT` argument) and its backends. */
export function postgresPids(postgresUrl: string): number[] {
  const port = new URL(postgresUrl).port;
  const procs = fs.readdirSync('/proc').filter((d) => /^\d+$/.test(d));
  const postmaster = procs.find((d) => {
    let argv: string[];
    try {
      argv = fs.readFileSync(`/proc/${d}/cmdline`, 'utf8').split('\0');
    } catch {
      return false;
    }
    const flag = argv.indexOf('-p');
    return /postgres$/.test(argv[0] ?? '') && flag >= 0 && argv[flag + 1] === port;
  });
  if (!postmaster) return [];
  const children = procs.filter((d) => readProcStat(Number(d))?.ppid === Number(postmaster));
  return [postmaster, ...children].map(Number);
}

async function sendWrites(client: BenchClient, opts: WriteCostOptions, prefix: string): Promise<number> {
  // FILLER is 1 MiB: a larger --size gets a body of its own (the header must not promise more than is sent).
  const body = opts.size <= FILLER.length ? FILLER.subarray(0, opts.size) : Buffer.alloc(opts.size, FILLER);
  let failed = 0;
  await forEachConcurrently(opts.writes, opts.concurrency, async (i) => {
    const key = `/${opts.bucket}/${prefix}-${i}`;
    const headers = await client.headers('PUT', key, { 'content-length': String(opts.size) });
    if ((await client.send('PUT', key, headers, body)) !== 200) failed++;
  });
  return failed;
}

const LOOP_DELAY_P99 = 's3mirror_proxy_nodejs_eventloop_lag_p99_seconds';
const LOOP_DELAY_MAX = 's3mirror_proxy_nodejs_eventloop_lag_max_seconds';

/** One round through `client` (signed for the proxy): new keys under `prefix`. */
export async function measureWriteCost(
  proxy: ProxyUnderTest,
  client: BenchClient,
  opts: WriteCostOptions,
  prefix: string,
): Promise<WriteCostRound> {
  // A proxy with the tracker off has no such counter: 0 copies.
  const copies = async (): Promise<number> => {
    const n = await readMetric(proxy.adminUrl, 's3mirror_mirror_copies_total').catch(() => 0);
    return Number.isFinite(n) ? n : 0;
  };
  // This scrape also starts the event-loop delay histogram afresh for the round.
  const mirroredBefore = await copies();
  const pgBefore = postgresPids(proxy.postgresUrl);
  const sys0 = readProcStat(proxy.pid)?.systemSeconds ?? NaN;
  const cpu0 = cpuSecondsOf(proxy.pid);
  const pg0 = cpuSecondsOfAll(pgBefore);
  const t0 = performance.now();
  const failed = await sendWrites(client, opts, prefix);
  const seconds = (performance.now() - t0) / 1000;
  const cpu1 = cpuSecondsOf(proxy.pid);
  const loop = await readMetrics(proxy.adminUrl, [LOOP_DELAY_P99, LOOP_DELAY_MAX]);
  await waitIdle([proxy.pid, ...pgBefore, ...(opts.quietPids ?? [])], { maxMs: 120_000 });
  const cpu2 = cpuSecondsOf(proxy.pid);
  const sys2 = readProcStat(proxy.pid)?.systemSeconds ?? NaN;
  // Backends that exited meanwhile take their CPU with them: a lower bound.
  const pg2 = cpuSecondsOfAll(postgresPids(proxy.postgresUrl));
  const perWrite = (s: number): number => (s * 1000) / opts.writes;
  return {
    answeringMs: perWrite(cpu1 - cpu0),
    afterMs: perWrite(cpu2 - cpu1),
    systemShare: (sys2 - sys0) / (cpu2 - cpu0),
    postgresMs: perWrite(pg2 - pg0),
    putsPerSecond: opts.writes / seconds,
    failed,
    mirrored: (await copies()) - mirroredBefore,
    loopDelayP99Ms: loop.get(LOOP_DELAY_P99)! * 1000 - EVENT_LOOP_SAMPLE_MS,
    loopDelayMaxMs: loop.get(LOOP_DELAY_MAX)! * 1000 - EVENT_LOOP_SAMPLE_MS,
  };
}

export interface WriteCostCase {
  backend: Backend;
  concurrency: number;
  arm: string;
  rounds: WriteCostRound[];
}

const totalMs = (r: WriteCostRound): number => r.answeringMs + r.afterMs;

/** One figure of a case (write cost or floor), the median over its rounds. */
const medianOf = <R>(c: { rounds: R[] }, f: (r: R) => number): number => median(c.rounds.map(f));

/**
 * The spread of a case's rounds and how many met the goal: this VM's speed drifts by a third within one run
 * (test/bench/notes.md), so a median near 1 ms says less than the rounds around it.
 */
function roundSpread(c: WriteCostCase): string {
  const ms = c.rounds.map(totalMs);
  const within = ms.filter((m) => m <= 1).length;
  return `rounds ${fmtNumber(Math.min(...ms))}–${fmtNumber(Math.max(...ms))}, ${within} of ${ms.length} ≤ 1 ms`;
}

/** The copy's parts alone on one backend at one concurrency, rounds of copy-floor.ts. */
export interface FloorCase {
  backend: Backend;
  concurrency: number;
  rounds: CopyFloor[];
}

/** What a copy costs at least: the proxy's copy function from memory and the completion statement. */
const copyFloorMs = (f: CopyFloor): number => f.copyMs + f.settleMs;

export async function runWriteCost(
  ctx: BenchContext,
  backends: Backend[],
  hopPutMs?: HopPutMs,
): Promise<Section> {
  const writes = ctx.quick ? 300 : 1500;
  const rounds = ctx.quick ? 1 : 6;
  const cases: WriteCostCase[] = [];
  const floors: FloorCase[] = [];
  // The floor's own inventory: a tracking proxy would take the floor's rows for its own to mirror.
  const floorPostgres = await startPostgres({ embedded: true });
  try {
    for (const backend of backends) {
      // The shipped proxy, the same code with the tracker off (the data path alone), and the least a Node
      // sidecar that mirrors does (mirror-hop-server.ts) in front of the same backend.
      const upstreams = upstreamsOf(ctx, backend, floorPostgres.url);
      const hop = await startMirrorHop({ name: `mirror-hop-${backend}`, upstreams, logDir: ctx.logDir });
      const arms = [
        ...shippedAndDataPathArms(ctx, backend),
        { name: MIRROR_HOP, endpoint: { name: MIRROR_HOP, url: hop.url, ...upstreams.main }, proxy: hop },
      ];
      const bucket = `write-cost-${ctx.runId}`;
      for (const concurrency of [1, 16]) {
        const opts = { writes, concurrency, size: SMALL_SIZE, bucket, quietPids: ctx.quietPids(backend) };
        const byArm = await interleave(ctx, backend, arms, rounds, async (arm, client, round) => {
          if (round === 0) await client.send('PUT', `/${bucket}`, await client.headers('PUT', `/${bucket}`));
          return measureWriteCost(arm.proxy!, client, opts, `c${concurrency}-r${round}`);
        });
        for (const [arm, rs] of byArm) cases.push({ backend, concurrency, arm, rounds: rs });
        ctx.log(
          `  write cost ${backend} c=${concurrency}: ` +
            [...byArm].map(([a, rs]) => `${a} ${fmtNumber(median(rs.map(totalMs)))} ms/write`).join(', '),
        );
        const floorOpts = { backend, concurrency, copies: writes, rounds, postgresUrl: floorPostgres.url };
        floors.push(await measureFloor(ctx, floorOpts));
      }
      await hop.stop();
    }
  } finally {
    await floorPostgres.destroy();
  }
  return renderWriteCost(cases, floors, writes, rounds, hopPutMs);
}

/** The arm of the mirroring reference hop (mirror-hop-server.ts) in each case. */
export const MIRROR_HOP = 'mirror-hop';

/** The backend's main and mirror, with their keys, and an inventory at `postgresUrl`. */
function upstreamsOf(ctx: BenchContext, backend: Backend, postgresUrl: string): ProxyEnvInput {
  const upstreams = backend === 'ceph' ? cephUpstreams(ctx.ceph!.cluster) : sinkUpstreams(ctx.sink!);
  return { ...upstreams, postgresUrl };
}

/** The copy's parts in a process of their own, against the backend's main and mirror. */
async function measureFloor(
  ctx: BenchContext,
  opts: { backend: Backend; concurrency: number; copies: number; rounds: number; postgresUrl: string },
): Promise<FloorCase> {
  const { backend, concurrency } = opts;
  const ends =
    backend === 'ceph'
      ? {
          mainUrl: ctx.ceph!.cluster.mainEndpoint,
          mirrorUrl: ctx.ceph!.cluster.mirrorEndpoint,
          mainKeys: ctx.ceph!.cluster.main,
          mirrorKeys: ctx.ceph!.cluster.mirror,
        }
      : { mainUrl: ctx.sink!.main.url, mirrorUrl: ctx.sink!.mirror.url };
  const floor: FloorCase = { backend, concurrency, rounds: [] };
  for (let round = 0; round < opts.rounds; round++) {
    floor.rounds.push(
      await copyFloorInChild({
        ...ends,
        postgresUrl: opts.postgresUrl,
        bucket: `copy-floor-${ctx.runId}-c${concurrency}-r${round}`,
        copies: opts.copies,
        concurrency,
        size: SMALL_SIZE,
      }),
    );
    await waitIdle(ctx.quietPids(backend), { maxMs: 60_000 });
  }
  ctx.log(`  copy floor ${backend} c=${concurrency}: ${fmtNumber(medianOf(floor, copyFloorMs))} ms/write`);
  return floor;
}

/**
 * Beside each shipped case: its data path (the tracker-off proxy), the floor with the proxy's own parts (data
 * path, copy function, completion), and the floor under any Node sidecar.
 */
function floorsOf(cases: readonly WriteCostCase[], floors: readonly FloorCase[], hopPutMs?: HopPutMs) {
  const dataPath = (c: WriteCostCase): number | undefined => {
    const off = cases.find(
      (o) => o.arm === 'no-background' && o.backend === c.backend && o.concurrency === c.concurrency,
    );
    return off ? medianOf(off, totalMs) : undefined;
  };
  const floorCaseOf = (c: WriteCostCase): FloorCase | undefined =>
    floors.find((f) => f.backend === c.backend && f.concurrency === c.concurrency);
  /** Data path + copy floor. */
  const floorOf = (c: WriteCostCase): number | undefined => {
    const floor = floorCaseOf(c);
    const base = dataPath(c);
    return floor && base !== undefined ? base + medianOf(floor, copyFloorMs) : undefined;
  };
  /**
   * What no Node sidecar can go below, none of it the proxy's own code: node-hop's CPU per PUT of the same case
   * (the small scenario, same run) for the app's request, a signed HEAD on main and a signed PUT to the mirror
   * for the copy, and two statements as cheap as the completion (the write's record, and the completion).
   */
  const nodeFloorOf = (c: WriteCostCase): number | undefined => {
    const floorCase = floorCaseOf(c);
    const hop = hopPutMs?.(c.backend, c.concurrency);
    if (!floorCase || hop === undefined || !Number.isFinite(hop)) return undefined;
    return hop + medianOf(floorCase, (f) => f.headMs + f.putMs + 2 * f.settleMs);
  };
  /**
   * The mirroring reference hop in the same case: node-hop's pass-through, a signed HEAD and PUT and one
   * statement per write, in one process in the same closed loop, so at the rate the backend sets.
   */
  const mirrorHopOf = (c: WriteCostCase): WriteCostCase | undefined =>
    cases.find((o) => o.arm === MIRROR_HOP && o.backend === c.backend && o.concurrency === c.concurrency);
  return { dataPath, floorOf, nodeFloorOf, mirrorHopOf };
}

/**
 * Issue 12's goal row: each shipped case, its data path and floor. Out of reach when every miss sits above
 * the floor of any Node sidecar (`nodeFloorOf`), which needs node-hop's figures (`hopPutMs`); the data path's
 * floor is the proxy's own code, so above it alone a miss still counts as the proxy's. Pure.
 */
export function writeCostCheck(
  cases: readonly WriteCostCase[],
  floors: readonly FloorCase[],
  hopPutMs?: HopPutMs,
): GoalCheck | undefined {
  const shipped = cases.filter((c) => c.arm === 'proxy');
  if (!shipped.length) return undefined;
  const { dataPath, floorOf, nodeFloorOf, mirrorHopOf } = floorsOf(cases, floors, hopPutMs);
  const missed = shipped.filter((c) => !(medianOf(c, totalMs) <= 1));
  const mirrorHopMs = (c: WriteCostCase): number | undefined => {
    const hop = mirrorHopOf(c);
    return hop ? medianOf(hop, totalMs) : undefined;
  };
  // Either floor above the goal puts it out of reach: the parts timed apart, or the mirroring hop as a whole.
  const beyondFloor = (c: WriteCostCase): boolean => (nodeFloorOf(c) ?? 0) > 1 || (mirrorHopMs(c) ?? 0) > 1;
  const nodeFloorText = (c: WriteCostCase): string => {
    const nodeFloor = nodeFloorOf(c);
    const hop = mirrorHopOf(c);
    const hopMs = mirrorHopMs(c);
    return (
      (nodeFloor === undefined
        ? ''
        : `; any Node sidecar ${fmtNumber(nodeFloor)} (node-hop's PUT, a signed HEAD and PUT, two statements)` +
          (nodeFloor > 1 ? ': out of reach here' : '')) +
      (hop === undefined || hopMs === undefined
        ? ''
        : `; the mirroring hop ${fmtNumber(hopMs)} at ${fmtNumber(medianOf(hop, (r) => r.putsPerSecond))} PUT/s ` +
          `(the proxy ${fmtNumber(medianOf(c, (r) => r.putsPerSecond))})` +
          (hopMs > 1 ? ': out of reach here' : ''))
    );
  };
  return {
    goal: 'a mirrored 4 KiB PUT costs ≤ 1 ms of proxy CPU in total, on the sink and on RGW (issue 12)',
    measured: shipped
      .map((c) => {
        const base = dataPath(c);
        const floor = floorOf(c);
        return (
          `${c.backend} c=${c.concurrency} ${fmtNumber(medianOf(c, totalMs))} ms (${roundSpread(c)}` +
          (base === undefined ? '' : `; data path ${fmtNumber(base)}`) +
          (floor === undefined ? '' : `, floor ${fmtNumber(floor)}`) +
          nodeFloorText(c) +
          ')'
        );
      })
      .join('; '),
    met: verdictOf(missed.length, missed.filter(beyondFloor).length),
  };
}

function renderWriteCost(
  cases: WriteCostCase[],
  floors: FloorCase[],
  writes: number,
  rounds: number,
  hopPutMs: HopPutMs | undefined,
): Section {
  const { dataPath, floorOf } = floorsOf(cases, floors);
  const check = writeCostCheck(cases, floors, hopPutMs);
  return {
    id: 'write-cost',
    title: 'CPU per mirrored write (4 KiB PUT, request to settle)',
    body: [
      `Each round sends ${writes} PUTs of new 4 KiB keys at the given concurrency, then waits until the proxy, ` +
        'its Postgres and the backend are idle (every copy made and settled); ' +
        `${rounds} interleaved round(s), medians. "Proxy CPU" is the proxy process's CPU time per write ` +
        '(/proc), split into what it spent while the PUTs were answered and after; "Postgres CPU" is the ' +
        'server and its backends per write; "loop delay" is how late the proxy’s event loop ran while the PUTs ' +
        'were answered (sampled every 100 ms), which work on the loop adds to an app’s request. **no-background** is the same proxy with the tracker ' +
        'off: the data path alone, so "mirroring" (proxy − no-background) is the journal, inventory, claim, ' +
        `copy (HEAD on main, PUT to the mirror) and settle together. **${MIRROR_HOP}** is the least a Node ` +
        'sidecar that mirrors does, in the same loop against the same backend (test/bench/mirror-hop-server.ts): ' +
        'node-hop’s pass-through, then for each PUT a signed HEAD on main, a signed PUT of the body held in ' +
        'memory to the mirror and one statement, with no journal, spool, scheduling or checks. A Node process’s ' +
        'CPU per request grows as its request rate falls (each event wakes an idle loop), so this floor is ' +
        'measured at the rate the backend sets rather than summed from parts timed at their own rates. ' +
        `Backends: ${BACKEND_LABEL.sink}; ${BACKEND_LABEL.ceph}.`,
      table(
        [
          'backend',
          'case',
          'arm',
          'proxy CPU ms/write',
          'while answering',
          'after',
          'kernel share',
          'mirroring (− data path)',
          'Postgres CPU ms/write',
          'PUT/s',
          'loop delay p99 / max (ms)',
          'copies',
          'failed',
        ],
        cases.map((c) => {
          const base = c.arm === 'proxy' ? dataPath(c) : undefined;
          return [
            c.backend,
            `PUT c=${c.concurrency}`,
            c.arm,
            fmtNumber(medianOf(c, totalMs)),
            fmtNumber(medianOf(c, (r) => r.answeringMs)),
            fmtNumber(medianOf(c, (r) => r.afterMs)),
            fmtPercent(medianOf(c, (r) => r.systemShare)),
            base === undefined ? '' : fmtNumber(medianOf(c, totalMs) - base),
            // The tracker-off proxy uses no Postgres; on RGW it shares the shipped proxy's server.
            c.arm === 'no-background' ? '' : fmtNumber(medianOf(c, (r) => r.postgresMs)),
            fmtNumber(medianOf(c, (r) => r.putsPerSecond)),
            `${fmtNumber(medianOf(c, (r) => r.loopDelayP99Ms))} / ${fmtNumber(medianOf(c, (r) => r.loopDelayMaxMs))}`,
            String(c.rounds.reduce((s, r) => s + r.mirrored, 0)),
            String(c.rounds.reduce((s, r) => s + r.failed, 0)),
          ];
        }),
      ),
      ...(floors.length ? renderFloor(floors, cases, floorOf) : []),
    ],
    charts: [],
    checks: check ? [check] : [],
    raw: { cases, floors },
  };
}

function renderFloor(
  floors: FloorCase[],
  cases: WriteCostCase[],
  floorOf: (c: WriteCostCase) => number | undefined,
): string[] {
  return [
    '**The floor**: what a copy costs with the proxy’s own parts and nothing of the tracker around ' +
      'them, measured in a process of its own (test/bench/copy-floor.ts) at the same concurrency: a signed ' +
      'HEAD on main, a signed 4 KiB PUT to the mirror, the proxy’s copy function making both from a body in ' +
      'memory (as the spool holds a small upload), and the completion statement through the proxy’s own ' +
      'repository and pools. The floor of a mirrored write is the data path (no-background) plus the copy ' +
      'function and the completion; what the shipped proxy spends above it is the tracker’s own work ' +
      '(journal, spool, flush, hints, scheduling) and the garbage all of it leaves.',
    table(
      [
        'backend',
        'case',
        'HEAD on main (ms)',
        'PUT to mirror (ms)',
        'copy function (ms)',
        'completion (ms)',
        'floor per write',
        'shipped proxy',
        'above the floor',
      ],
      floors.map((f) => {
        const shipped = cases.find(
          (c) => c.backend === f.backend && c.arm === 'proxy' && c.concurrency === f.concurrency,
        );
        const floor = shipped ? floorOf(shipped) : undefined;
        const total = shipped ? medianOf(shipped, totalMs) : undefined;
        return [
          f.backend,
          `PUT c=${f.concurrency}`,
          fmtNumber(medianOf(f, (r) => r.headMs)),
          fmtNumber(medianOf(f, (r) => r.putMs)),
          fmtNumber(medianOf(f, (r) => r.copyMs)),
          fmtNumber(medianOf(f, (r) => r.settleMs)),
          floor === undefined ? '' : fmtNumber(floor),
          total === undefined ? '' : fmtNumber(total),
          floor === undefined || total === undefined ? '' : fmtNumber(total - floor),
        ];
      }),
    ),
  ];
}
