/**
 * What an idle proxy costs: CPU ms per second and RSS of proxy processes that receive no requests, beside a
 * bare `node -e 'setInterval(() => {}, 1000)'` on the same node (the floor). Each arm is a proxy main.js
 * (default: the shipped bundle, proxy/dist/bundle/main.js, through the bench entry) with the image's environment, static keys,
 * sinks as main and mirror and an embedded Postgres of its own. Every round starts all arms together (so
 * the machine's other load hits them alike), lets them settle, then samples /proc for the window.
 *
 *   node test/dist/bench/idle-probe.js [--rounds 2] [--settle 20] [--seconds 60] [--buckets N]
 *        [--arm 'NAME=path/to/main.js[;--v8-flag ...]' ...] [--node-args "--cpu-prof --cpu-prof-dir=DIR"]
 *        [--env [ARM:]K=V ...]
 *
 * An arm's flags after `;` join its NODE_OPTIONS. Snapshots for A/B: copy proxy/dist to e.g. .tmp/snap/a
 * (anywhere under the repository, so its modules resolve) and run its bundle/main.js, as shipped. `--buckets N`: N bucket databases in each arm's
 * Postgres, made as the scale scenario makes them; each round waits until its proxies have looked at every
 * bucket's scan state (a start-up cost), then 12 s for the pools that look opened to close, then settles.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

import { startPostgres, type PostgresServer } from '../harness/postgres';
import { sleep } from '../harness/wait';
import { sinkUpstreams, startSink } from './env';
import { sampleWindow, startRestingNode, type RestWindow } from './idle-sampling';
import type { Service } from './procs';
import { parseArmFlags, startProxyArm, type ProxyArm } from './proxy-arms';
import { createDatabases, waitSettled } from './scenarios/scale';
import { resetScanDue } from './scenarios/scan';
import { median } from './stats';

interface Options {
  rounds: number;
  settleSeconds: number;
  seconds: number;
  arms: ProxyArm[];
  nodeArgs: string[];
  env: Record<string, string>;
  buckets: number;
}

function parseArgs(argv: string[]): Options {
  const opts: Options = {
    rounds: 2,
    settleSeconds: 20,
    seconds: 60,
    arms: [],
    nodeArgs: [],
    env: {},
    buckets: 0,
  };
  parseArmFlags(argv, opts, (flag, value) => {
    if (flag === '--rounds') opts.rounds = Number(value());
    else if (flag === '--settle') opts.settleSeconds = Number(value());
    else if (flag === '--seconds') opts.seconds = Number(value());
    else if (flag === '--buckets') opts.buckets = Number(value());
    else if (flag === '--node-args') opts.nodeArgs = value().split(' ').filter(Boolean);
    else return false;
    return true;
  });
  return opts;
}

async function main(): Promise<void> {
  const opts = parseArgs(process.argv.slice(2));
  const logDir = fs.mkdtempSync(path.join(os.tmpdir(), 's3m-idle-'));
  console.log(`node ${process.version}; logs in ${logDir}`);
  const [main, mirror] = await Promise.all([
    startSink('sink-main', logDir),
    startSink('sink-mirror', logDir),
  ]);
  const postgres: PostgresServer[] = await Promise.all(
    opts.arms.map(() => startPostgres({ embedded: true })),
  );
  if (opts.buckets > 0) {
    const names = Array.from({ length: opts.buckets }, (_, i) => `idle-${i}`);
    await Promise.all(postgres.map((p) => createDatabases(p.url, names)));
    console.log(`${opts.buckets} bucket databases in each arm's Postgres`);
  }
  const results = new Map<string, RestWindow[]>();
  try {
    for (let round = 0; round < opts.rounds; round++) {
      const procs: Service[] = await Promise.all(
        opts.arms.map((arm, i) =>
          startProxyArm({
            arm,
            name: `${arm.name}-${round}`,
            upstreams: sinkUpstreams({ main, mirror }),
            postgresUrl: postgres[i]!.url,
            env: opts.env,
            nodeArgs: opts.nodeArgs,
            logDir,
          }),
        ),
      );
      if (opts.buckets > 0) {
        const settled = await Promise.all(postgres.map((p) => waitSettled(p.url, 600_000)));
        if (settled.includes(false)) console.log('start-up work had not settled after 10 minutes');
        // The pools the start-up look opened close after 10 s idle.
        await sleep(12_000);
      }
      procs.push(startRestingNode({ name: 'bare-node', nodeOptions: '--max-semi-space-size=2' }));
      await sleep(opts.settleSeconds * 1000);
      const windows = await sampleWindow(
        procs.map((p) => p.pid),
        opts.seconds,
      );
      procs.forEach((p, i) => {
        const name = i < opts.arms.length ? opts.arms[i]!.name : 'bare-node';
        const w = windows[i]!;
        results.set(name, [...(results.get(name) ?? []), w]);
        console.log(
          `round ${round + 1} ${name}: ${w.cpuMsPerSecond.toFixed(2)} ms CPU/s, RSS median ` +
            `${w.rssMedianMB.toFixed(1)} MB, max ${w.rssMaxMB.toFixed(1)} MB`,
        );
      });
      await Promise.all(procs.map((p) => p.stop()));
      // The next round's proxies look at every bucket's scan state again.
      if (opts.buckets > 0) await Promise.all(postgres.map((p) => resetScanDue(p.url)));
    }
  } finally {
    await Promise.all([main.stop(), mirror.stop(), ...postgres.map((p) => p.destroy())]);
  }
  console.log(`\nmedians over ${opts.rounds} rounds of ${opts.seconds} s (after ${opts.settleSeconds} s):`);
  for (const [name, ws] of results) {
    console.log(
      `${name}: ${median(ws.map((w) => w.cpuMsPerSecond)).toFixed(2)} ms CPU/s, RSS ` +
        `${median(ws.map((w) => w.rssMedianMB)).toFixed(1)} MB (max ${Math.max(...ws.map((w) => w.rssMaxMB)).toFixed(1)})`,
    );
  }
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
