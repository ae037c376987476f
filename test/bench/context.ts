import { BenchClient, type Endpoint } from './client';
import { APP_CREDENTIALS, type CephEnv, type ProxyUnderTest, type SinkEnv } from './env';
import { waitIdle, type ForeignLoadMonitor, type ReferenceHop, type RssSampler } from './procs';
import { roundOrder } from './stats';

/** What every scenario gets: the mode, the running backends, the samplers. */
export interface BenchContext {
  quick: boolean;
  runId: string;
  /** Where service logs go. */
  logDir: string;
  log(line: string): void;
  rss: RssSampler;
  load: ForeignLoadMonitor;
  ceph?: CephEnv;
  sink?: SinkEnv;
  /** Extra proxy arm built from another proxy/dist (before/after comparisons of a code change). */
  baseline?: ProxyUnderTest;
  /** The reference hop in front of each backend (absent when nginx is missing or did not start). */
  nginx?: Partial<Record<Backend, ReferenceHop>>;
  /** The bare Node.js hop in front of each backend (node-hop-main.ts): the floor under a Node proxy. */
  nodeHop?: Partial<Record<Backend, ReferenceHop>>;
  /** Processes whose background work must settle before a measured round (proxies, sinks, daemons). */
  quietPids(backend: Backend): number[];
  /** The backend's own processes: RGW and the Ceph daemons, or the two sinks. */
  backendPids(backend: Backend): number[];
}

export type Backend = 'sink' | 'ceph';

/** One side of an interleaved comparison: where requests go, and the proxy or nginx process if any. */
export interface Arm {
  name: string;
  endpoint: Endpoint;
  proxy?: ProxyUnderTest;
  hop?: ReferenceHop;
}

/** The processes whose CPU time is the arm's own cost: the proxy, or nginx's master and workers. */
export function armCpuPids(arm: Arm): number[] {
  if (arm.proxy) return [arm.proxy.pid];
  return arm.hop ? arm.hop.pids() : [];
}

/** The reference arms (nginx, the bare Node hop): signed for the backend (`url`), sent through the hop (`via`). */
function referenceArms(ctx: BenchContext, backend: Backend, direct: Endpoint): Arm[] {
  const hops = { nginx: ctx.nginx?.[backend], 'node-hop': ctx.nodeHop?.[backend] };
  return Object.entries(hops).flatMap(([name, hop]) =>
    hop ? [{ name, endpoint: { ...direct, name, via: hop.url }, hop }] : [],
  );
}

export const BACKEND_LABEL: Record<Backend, string> = {
  sink: 'sink backend (isolates the proxy’s own cost)',
  ceph: 'Ceph RGW backend (realistic)',
};

/** The proxy as shipped and the same proxy with the tracker off (the data path alone), on one backend. */
export function shippedAndDataPathArms(ctx: BenchContext, backend: Backend): Arm[] {
  const env = backend === 'ceph' ? ctx.ceph! : ctx.sink!;
  return [
    { name: 'proxy', endpoint: { name: 'proxy', url: env.proxy.url, ...APP_CREDENTIALS }, proxy: env.proxy },
    {
      name: 'no-background',
      endpoint: { name: 'no-background', url: env.noBackground.url, ...APP_CREDENTIALS },
      proxy: env.noBackground,
    },
  ];
}

/**
 * The arms for one backend: direct first, then the reference hops (when they run), then the proxy as
 * shipped, then any comparison proxies.
 */
export function armsFor(ctx: BenchContext, backend: Backend, withVariants = true): Arm[] {
  if (backend === 'ceph') {
    const c = ctx.ceph!;
    return [
      { name: 'direct', endpoint: c.direct },
      ...referenceArms(ctx, backend, c.direct),
      { name: 'proxy', endpoint: c.viaProxy, proxy: c.proxy },
    ];
  }
  const s = ctx.sink!;
  const direct: Endpoint = { name: 'direct', url: s.main.url, ...APP_CREDENTIALS };
  const [shipped, dataPath] = shippedAndDataPathArms(ctx, 'sink') as [Arm, Arm];
  const arms: Arm[] = [{ name: 'direct', endpoint: direct }, ...referenceArms(ctx, backend, direct), shipped];
  if (withVariants) {
    arms.push(dataPath);
    arms.push({
      name: 'node-http',
      endpoint: { name: 'node-http', url: s.nodeHttp.url, ...APP_CREDENTIALS },
      proxy: s.nodeHttp,
    });
    if (ctx.baseline) {
      arms.push({
        name: 'baseline',
        endpoint: { name: 'baseline', url: ctx.baseline.url, ...APP_CREDENTIALS },
        proxy: ctx.baseline,
      });
    }
  }
  return arms;
}

/**
 * Runs `measure` for every arm, round after round, alternating which arm goes first (A B, B A, …) so that
 * drifts in machine load hit every arm alike. Before each measurement the backend's processes are let settle
 * (a proxy's mirror copies from the previous round must not run during the next arm's round).
 */
export async function interleave<T>(
  ctx: BenchContext,
  backend: Backend,
  arms: readonly Arm[],
  rounds: number,
  measure: (arm: Arm, client: BenchClient, round: number) => Promise<T>,
): Promise<Map<string, T[]>> {
  const results = new Map<string, T[]>(arms.map((a) => [a.name, []]));
  const clients = new Map(arms.map((a) => [a.name, new BenchClient(a.endpoint)]));
  try {
    for (let round = 0; round < rounds; round++) {
      for (const arm of roundOrder(arms, round)) {
        const settled = await waitIdle(ctx.quietPids(backend), { maxMs: ctx.quick ? 1_500 : 90_000 });
        if (!settled.idle) ctx.log(`  (background work still running after ${settled.waitedMs} ms)`);
        results.get(arm.name)!.push(await measure(arm, clients.get(arm.name)!, round));
      }
    }
  } finally {
    for (const c of clients.values()) c.close();
  }
  return results;
}
