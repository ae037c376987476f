/**
 * An idle sidecar (issue 12: "idle ≤ 60 MB"): a shipped proxy that gets no request, against the sinks, with an
 * embedded Postgres of its own (so no other proxy's buckets give it work), beside three Node processes under
 * the same flags: a bare node; one that has loaded only the libraries the data path cannot do without
 * (node:http, net, tls, crypto, undici's Pool, pg); and the bench's node-hop, the cheapest pass-through Node
 * can serve (node:http in front of undici's Pool, no Postgres client; listening, a pool to main, one request
 * answered), given the proxy's start-up reclaim. The hop is the floor under any Node sidecar: where it rests
 * above the goal, no proxy built on Node can meet it.
 */
import path from 'node:path';

import { startPostgres } from '../../harness/postgres';
import { sleep } from '../../harness/wait';
import type { BenchContext } from '../context';
import { POD_NODE_ENV } from '../../harness/proxy';
import { sampleWindow, startRestingNode, type RestWindow } from '../idle-sampling';
import type { Service } from '../procs';
import { startNodeHop } from '../node-hop';
import { sinkUpstreams } from '../env';
import { SHIPPED_ARM, startProxyArm } from '../proxy-arms';
import { fmtNumber, table, verdictOf, type GoalCheck, type Section } from '../report';

const ROOT = path.resolve(__dirname, '../../../..');
const GOAL_MB = 60;

/** What a proxy cannot run without; resolved from the repository, as the proxy resolves them. */
export const DATA_PATH_LIBRARIES = [
  'node:http',
  'node:net',
  'node:tls',
  'node:crypto',
  'undici/lib/dispatcher/pool.js',
  'pg',
] as const;

const residentParts = (w: RestWindow): string =>
  `${fmtNumber(w.anonMedianMB)} anonymous, ${fmtNumber(w.fileMedianMB)} file-backed`;

export interface IdleWindows {
  proxy: RestWindow;
  bare: RestWindow;
  libraries: RestWindow;
  nodeHop: RestWindow;
}

/** The idle goal's row. Pure: the proxy against the goal, with the floors beside it that tell why. */
export function idleRssCheck(w: IdleWindows): GoalCheck {
  const { proxy, bare, libraries, nodeHop } = w;
  const reach =
    nodeHop.rssMedianMB > GOAL_MB
      ? `: out of reach for any Node sidecar, since the cheapest Node pass-through rests above ${GOAL_MB} MB`
      : '';
  return {
    goal: `an idle proxy’s RSS ≤ ${GOAL_MB} MB (issue 12)`,
    measured:
      `${fmtNumber(proxy.rssMedianMB)} MB (${residentParts(proxy)}), ${fmtNumber(proxy.cpuMsPerSecond)} ms ` +
      `CPU/s; node-hop ${fmtNumber(nodeHop.rssMedianMB)} MB (${residentParts(nodeHop)}), the data path’s ` +
      `libraries alone ${fmtNumber(libraries.rssMedianMB)} MB, a bare node ${fmtNumber(bare.rssMedianMB)} MB` +
      reach,
    met: Number.isFinite(proxy.rssMedianMB)
      ? verdictOf(proxy.rssMedianMB <= GOAL_MB ? 0 : 1, reach ? 1 : 0)
      : undefined,
  };
}

export async function runIdle(ctx: BenchContext): Promise<Section> {
  const sink = ctx.sink!;
  const settleSeconds = ctx.quick ? 5 : 20;
  const seconds = ctx.quick ? 5 : 15;
  ctx.log(
    `idle: a proxy at rest for ${settleSeconds + seconds} s beside node-hop, a bare node and the libraries alone`,
  );
  const postgres = await startPostgres({ embedded: true });
  const resting = {
    nodeOptions: POD_NODE_ENV.NODE_OPTIONS,
    env: { MALLOC_ARENA_MAX: POD_NODE_ENV.MALLOC_ARENA_MAX },
  };
  // Each process joins `procs` as it starts, so a start that fails stops the ones before it.
  const procs: Service[] = [];
  let windows: RestWindow[];
  try {
    procs.push(
      await startProxyArm({
        arm: SHIPPED_ARM,
        name: 'proxy-idle',
        upstreams: sinkUpstreams({ main: sink.main, mirror: sink.mirror }),
        postgresUrl: postgres.url,
        logDir: ctx.logDir,
      }),
    );
    procs.push(startRestingNode({ name: 'bare-node', ...resting }));
    procs.push(startRestingNode({ name: 'libraries', modules: DATA_PATH_LIBRARIES, cwd: ROOT, ...resting }));
    // With the proxy's start-up reclaim (a collection and malloc_trim once at rest): the floor under the same treatment.
    procs.push(
      await startNodeHop({
        name: 'node-hop-idle',
        backendUrl: sink.main.url,
        logDir: ctx.logDir,
        env: { HOP_RECLAIM_AFTER_MS: '5000' },
      }),
    );
    await sleep(settleSeconds * 1000);
    windows = await sampleWindow(
      procs.map((p) => p.pid),
      seconds,
    );
  } finally {
    await Promise.all(procs.map((p) => p.stop()));
    await postgres.destroy();
  }
  const [proxy, bare, libraries, nodeHop] = windows as [RestWindow, RestWindow, RestWindow, RestWindow];
  const label = [
    'proxy as shipped',
    'bare node',
    'the data path’s libraries alone',
    'node-hop (the cheapest Node pass-through)',
  ];
  return {
    id: 'idle',
    title: 'Idle sidecar (sink backend)',
    body: [
      `A proxy as shipped, started and given no request (its own Postgres, sinks as main and mirror), sampled ` +
        `every second for ${seconds} s after ${settleSeconds} s at rest, beside three Node processes under the ` +
        `same flags (the image's and the pod's heap limit): one that loads nothing; one that loads only the ` +
        `libraries the data path cannot do without (${DATA_PATH_LIBRARIES.join(', ')}) and then waits; and ` +
        `node-hop, the bench's plain Node pass-through (node:http in front of undici's Pool, no Postgres ` +
        `client), listening with a pool to main after answering one request, and given what the proxy does ` +
        `once quiet after start-up (a full collection, then malloc_trim). RSS is split as ` +
        `/proc/<pid>/status splits it: anonymous memory (heap, stacks, malloc) and file-backed pages, nearly ` +
        `all of them the node binary's own code and data (clean pages the kernel can drop and read again; ` +
        `one copy in the page cache for every sidecar of the same image on a node).`,
      table(
        ['process', 'RSS median (MB)', 'RSS max (MB)', 'anonymous (MB)', 'file-backed (MB)', 'CPU ms per s'],
        windows.map((w, i) => [
          label[i]!,
          fmtNumber(w.rssMedianMB),
          fmtNumber(w.rssMaxMB),
          fmtNumber(w.anonMedianMB),
          fmtNumber(w.fileMedianMB),
          fmtNumber(w.cpuMsPerSecond),
        ]),
      ),
    ],
    charts: [],
    checks: [idleRssCheck({ proxy, bare, libraries, nodeHop })],
    raw: { settleSeconds, seconds, proxy, bare, libraries, nodeHop },
  };
}
