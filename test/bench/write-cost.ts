/**
 * What one mirrored write costs the proxy: CPU ms per 4 KiB PUT, request to settle (journal, inventory, claim,
 * copy, settle), on the sink backend (or Ceph RGW: `--backend ceph`). Each arm is a proxy main.js (default: the shipped bundle, through the bench entry) with the
 * image's environment, sinks as main and mirror and an embedded Postgres of its own; all arms run at once,
 * and every round sends each arm, in alternating order, `--writes` PUTs of new keys at `--concurrency`, then
 * waits until the proxy and its Postgres are idle again (every copy done). CPU comes from /proc, split into
 * what the proxy spent while the PUTs were answered and what it spent after, until idle.
 *
 *   node test/dist/bench/write-cost.js [--rounds 4] [--writes 2000] [--concurrency 1] [--size 4096]
 *        [--backend sink|ceph] [--mirror-hop] [--arm 'NAME=path/to/main.js[;--node-flag ...]' ...] [--env [ARM:]K=V ...]
 *
 * `--mirror-hop` adds the mirroring reference hop (mirror-hop-server.ts, its own Postgres) as one more arm: the
 * floor under a mirrored write at the rate the backend sets.
 *
 * A profile of one arm: `--arm 'p=test/dist/bench/shipped-proxy-main.js;--cpu-prof --cpu-prof-dir=DIR'`
 * (written when the arm's proxy stops). Snapshots for A/B as in idle-probe.ts. The measurement itself is the
 * bench's `write-cost` scenario (scenarios/write-cost.ts); this runs it arm against arm.
 */
import { peakRssBytes } from '../harness/memory';
import { startPostgres } from '../harness/postgres';
import { BenchClient } from './client';
import { startMirrorHop } from './mirror-hop';
import { parseArmFlags, parseBackend, startArmsBench, type ProxyArm, type ToolBackend } from './proxy-arms';
import { median, roundOrder } from './stats';
import { measureWriteCost, type WriteCostRound } from './scenarios/write-cost';

interface Options {
  rounds: number;
  writes: number;
  concurrency: number;
  size: number;
  backend: ToolBackend;
  mirrorHop: boolean;
  arms: ProxyArm[];
  env: Record<string, string>;
}

function parseArgs(argv: string[]): Options {
  const opts: Options = {
    rounds: 4,
    writes: 2000,
    concurrency: 1,
    size: 4096,
    backend: 'sink',
    mirrorHop: false,
    arms: [],
    env: {},
  };
  parseArmFlags(argv, opts, (flag, value) => {
    if (flag === '--rounds') opts.rounds = Number(value());
    else if (flag === '--writes') opts.writes = Number(value());
    else if (flag === '--concurrency') opts.concurrency = Number(value());
    else if (flag === '--size') opts.size = Number(value());
    else if (flag === '--backend') opts.backend = parseBackend(value());
    else if (flag === '--mirror-hop') opts.mirrorHop = true;
    else return false;
    return true;
  });
  return opts;
}

async function main(): Promise<void> {
  const opts = parseArgs(process.argv.slice(2));
  const bench = await startArmsBench({
    tool: 'write-cost',
    arms: opts.arms,
    env: opts.env,
    backend: opts.backend,
  });
  const proxies = [...bench.proxies];
  const clients = [...bench.clients];
  const names = opts.arms.map((a) => a.name);
  const references: { stop(): Promise<void> }[] = [];
  const costOpts = { writes: opts.writes, concurrency: opts.concurrency, size: opts.size, bucket: 'bench' };
  const results = new Map<string, WriteCostRound[]>();
  const peakRss = new Map<string, number>();
  try {
    if (opts.mirrorHop) {
      const postgres = await startPostgres({ embedded: true });
      references.push({ stop: () => postgres.destroy() });
      const hop = await startMirrorHop({
        name: 'mirror-hop',
        upstreams: { ...bench.upstreams, postgresUrl: postgres.url },
        logDir: bench.logDir,
      });
      references.unshift(hop);
      proxies.push(hop);
      clients.push(new BenchClient({ name: hop.name, url: hop.url, ...bench.upstreams.main }));
      names.push(hop.name);
    }
    // RGW needs the bucket (the sinks take any); the arms share main, so one answers 409 to its own bucket.
    for (const c of clients)
      await c.send('PUT', `/${costOpts.bucket}`, await c.headers('PUT', `/${costOpts.bucket}`));
    for (const n of names) results.set(n, []);
    // Warm-up: every arm's first writes (JIT, pools, the bucket's database) are not measured.
    await Promise.all(
      proxies.map((p, i) => measureWriteCost(p, clients[i]!, { ...costOpts, writes: 300 }, 'warm')),
    );
    for (let round = 0; round < opts.rounds; round++) {
      for (const i of roundOrder(
        names.map((_, i) => i),
        round,
      )) {
        const r = await measureWriteCost(proxies[i]!, clients[i]!, costOpts, `r${round}`);
        results.get(names[i]!)!.push(r);
        console.log(`round ${round + 1} ${names[i]!}: ${describe(r)}, ${r.mirrored} copied`);
      }
    }
    // Over each proxy's whole life, warm-up included.
    for (const [i, p] of proxies.entries()) peakRss.set(names[i]!, peakRssBytes(p.pid) / 1024 / 1024);
  } finally {
    for (const c of clients.slice(bench.clients.length)) c.close();
    for (const r of references) await r.stop();
    await bench.stop();
  }
  console.log(
    `\nmedians over ${opts.rounds} rounds of ${opts.writes} PUTs of ${opts.size} B at c=${opts.concurrency}:`,
  );
  for (const [name, rs] of results) {
    const m = (f: (r: WriteCostRound) => number): number => median(rs.map(f));
    console.log(
      `${name}: ${describe({
        answeringMs: m((r) => r.answeringMs),
        afterMs: m((r) => r.afterMs),
        systemShare: m((r) => r.systemShare),
        postgresMs: m((r) => r.postgresMs),
        putsPerSecond: m((r) => r.putsPerSecond),
        loopDelayP99Ms: m((r) => r.loopDelayP99Ms),
        loopDelayMaxMs: m((r) => r.loopDelayMaxMs),
      })}, peak RSS ${peakRss.get(name)?.toFixed(0) ?? '?'} MB`,
    );
  }
}

function describe(r: Omit<WriteCostRound, 'mirrored' | 'failed'>): string {
  return (
    `proxy ${(r.answeringMs + r.afterMs).toFixed(2)} ms CPU/write (answering ${r.answeringMs.toFixed(2)}, ` +
    `after ${r.afterMs.toFixed(2)}, ${(r.systemShare * 100).toFixed(0)} % kernel), Postgres ` +
    `${r.postgresMs.toFixed(2)} ms/write, ${r.putsPerSecond.toFixed(0)} PUT/s, ` +
    `loop delay p99 ${r.loopDelayP99Ms.toFixed(1)} max ${r.loopDelayMaxMs.toFixed(1)} ms`
  );
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
