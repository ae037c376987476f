/**
 * What one mirrored write costs the proxy: CPU ms per 4 KiB PUT, request to settle (journal, inventory, claim,
 * copy, settle), on the sink backend. Each arm is a proxy main.js (default: proxy/dist as shipped) with the
 * image's environment, sinks as main and mirror and an embedded Postgres of its own; all arms run at once,
 * and every round sends each arm, in alternating order, `--writes` PUTs of new keys at `--concurrency`, then
 * waits until the proxy and its Postgres are idle again (every copy done). CPU comes from /proc, split into
 * what the proxy spent while the PUTs were answered and what it spent after, until idle.
 *
 *   node test/dist/bench/write-cost.js [--rounds 4] [--writes 2000] [--concurrency 1] [--size 4096]
 *        [--arm 'NAME=path/to/main.js[;--node-flag ...]' ...] [--env [ARM:]K=V ...]
 *
 * A profile of one arm: `--arm 'p=test/dist/bench/shipped-proxy-main.js;--cpu-prof --cpu-prof-dir=DIR'`
 * (written when the arm's proxy stops). Snapshots for A/B as in idle-probe.ts.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

import { startPostgres, type PostgresServer } from '../harness/postgres';
import { BenchClient, FILLER } from './client';
import {
  APP_CREDENTIALS,
  proxyEnvironment,
  readMetric,
  startProxyService,
  startSink,
  type ProxyUnderTest,
} from './env';
import { cpuSecondsOf, cpuSecondsOfAll, readProcStat, waitIdle } from './procs';

const SHIPPED = path.resolve(__dirname, 'shipped-proxy-main.js');

interface Options {
  rounds: number;
  writes: number;
  concurrency: number;
  size: number;
  arms: { name: string; script: string; nodeArgs: string[]; env: Record<string, string> }[];
  env: Record<string, string>;
}

function parseArgs(argv: string[]): Options {
  const opts: Options = { rounds: 4, writes: 2000, concurrency: 1, size: 4096, arms: [], env: {} };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    const value = (): string => {
      const v = argv[++i];
      if (v === undefined) throw new Error(`${arg} needs a value`);
      return v;
    };
    if (arg === '--rounds') opts.rounds = Number(value());
    else if (arg === '--writes') opts.writes = Number(value());
    else if (arg === '--concurrency') opts.concurrency = Number(value());
    else if (arg === '--size') opts.size = Number(value());
    else if (arg === '--arm') {
      const [name, rest = ''] = value().split(/=(.*)/s, 2) as [string, string | undefined];
      const [script = '', flags = ''] = rest.split(';', 2);
      opts.arms.push({
        name,
        script: path.resolve(script),
        nodeArgs: flags.split(' ').filter(Boolean),
        env: {},
      });
    } else if (arg === '--env') {
      // K=V for every arm, or ARM:K=V for one (an arm named before).
      const [target, k, v] = /^(?:([^:=]+):)?([^=]+)=(.*)$/.exec(value())?.slice(1) ?? [];
      if (!k) throw new Error('--env needs K=V or ARM:K=V');
      const arm = target === undefined ? undefined : opts.arms.find((a) => a.name === target);
      if (target !== undefined && !arm) throw new Error(`--env ${target}: no arm of that name (yet)`);
      (arm ? arm.env : opts.env)[k] = v ?? '';
    } else throw new Error(`unknown argument ${arg}`);
  }
  if (opts.arms.length === 0) opts.arms.push({ name: 'shipped', script: SHIPPED, nodeArgs: [], env: {} });
  return opts;
}

interface Round {
  /** Proxy CPU ms per write while the PUTs were answered. */
  sendingMs: number;
  /** Proxy CPU ms per write after the last answer, until idle (copies and settles left over). */
  afterMs: number;
  /** The kernel's share of the proxy's CPU (system time ÷ total). */
  systemShare: number;
  /** Postgres CPU ms per write (all its processes, sending and after). */
  postgresMs: number;
  putsPerSecond: number;
  mirrored: number;
}

async function sendWrites(client: BenchClient, opts: Options, prefix: string): Promise<number> {
  const body = FILLER.subarray(0, opts.size);
  let next = 0;
  let failed = 0;
  const worker = async (): Promise<void> => {
    while (next < opts.writes) {
      const key = `/bench/${prefix}-${next++}`;
      const headers = await client.headers('PUT', key, { 'content-length': String(opts.size) });
      if ((await client.send('PUT', key, headers, body)) !== 200) failed++;
    }
  };
  await Promise.all(Array.from({ length: opts.concurrency }, worker));
  return failed;
}

async function measureRound(
  proxy: ProxyUnderTest,
  postgres: PostgresServer,
  opts: Options,
  prefix: string,
): Promise<Round> {
  const client = new BenchClient({ name: proxy.name, url: proxy.url, ...APP_CREDENTIALS });
  const pgPids = postgresPids(postgres);
  try {
    const mirroredBefore = await readMetric(proxy.adminUrl, 's3mirror_mirror_copies_total');
    const sys0 = readProcStat(proxy.pid)?.systemSeconds ?? NaN;
    const cpu0 = cpuSecondsOf(proxy.pid);
    const pg0 = cpuSecondsOfAll(pgPids);
    const t0 = performance.now();
    const failed = await sendWrites(client, opts, prefix);
    const seconds = (performance.now() - t0) / 1000;
    const cpu1 = cpuSecondsOf(proxy.pid);
    if (failed) console.log(`  ${failed} PUTs failed`);
    await waitIdle([proxy.pid, ...pgPids], { maxMs: 120_000 });
    const cpu2 = cpuSecondsOf(proxy.pid);
    const sys2 = readProcStat(proxy.pid)?.systemSeconds ?? NaN;
    const pg2 = cpuSecondsOfAll(postgresPids(postgres));
    const mirrored = (await readMetric(proxy.adminUrl, 's3mirror_mirror_copies_total')) - mirroredBefore;
    const perWrite = (s: number): number => (s * 1000) / opts.writes;
    return {
      sendingMs: perWrite(cpu1 - cpu0),
      afterMs: perWrite(cpu2 - cpu1),
      systemShare: (sys2 - sys0) / (cpu2 - cpu0),
      postgresMs: perWrite(pg2 - pg0),
      putsPerSecond: opts.writes / seconds,
      mirrored,
    };
  } finally {
    client.close();
  }
}

/** The postmaster (found by its `-p PORT` argument) and its backends (its children). */
function postgresPids(server: PostgresServer): number[] {
  const port = new URL(server.url).port;
  const procs = fs.readdirSync('/proc').filter((d) => /^\d+$/.test(d));
  const read = (file: string): string => {
    try {
      return fs.readFileSync(file, 'utf8');
    } catch {
      return '';
    }
  };
  const postmaster = procs.find((d) => {
    const argv = read(`/proc/${d}/cmdline`).split('\0');
    return /postgres$/.test(argv[0] ?? '') && argv.includes('-p') && argv[argv.indexOf('-p') + 1] === port;
  });
  if (!postmaster) return [];
  const children = procs.filter((d) => readProcStat(Number(d))?.ppid === Number(postmaster));
  return [postmaster, ...children].map(Number);
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
}

async function main(): Promise<void> {
  const opts = parseArgs(process.argv.slice(2));
  const logDir = fs.mkdtempSync(path.join(os.tmpdir(), 's3m-write-cost-'));
  console.log(`node ${process.version}; logs in ${logDir}`);
  const [main, mirror] = await Promise.all([
    startSink('sink-main', logDir),
    startSink('sink-mirror', logDir),
  ]);
  const postgres = await Promise.all(opts.arms.map(() => startPostgres({ embedded: true })));
  const proxies = await Promise.all(
    opts.arms.map((arm, i) => {
      const env = proxyEnvironment(
        {
          mainUrl: main.url,
          main: { accessKeyId: 'SINKMAIN', secretAccessKey: 'sink-main-secret' },
          mirrorUrl: mirror.url,
          mirror: { accessKeyId: 'SINKMIRROR', secretAccessKey: 'sink-mirror-secret' },
          postgresUrl: postgres[i]!.url,
        },
        { ...opts.env, ...arm.env },
      );
      if (arm.nodeArgs.length) env.NODE_OPTIONS = `${env.NODE_OPTIONS ?? ''} ${arm.nodeArgs.join(' ')}`;
      return startProxyService({ name: arm.name, env, logDir, script: arm.script });
    }),
  );
  const results = new Map<string, Round[]>(opts.arms.map((a) => [a.name, []]));
  try {
    // Warm-up: every arm's first writes (JIT, pools, the bucket's database) are not measured.
    await Promise.all(proxies.map((p, i) => measureRound(p, postgres[i]!, { ...opts, writes: 300 }, 'warm')));
    for (let round = 0; round < opts.rounds; round++) {
      const order = opts.arms.map((_, i) => i);
      if (round % 2) order.reverse();
      for (const i of order) {
        const r = await measureRound(proxies[i]!, postgres[i]!, opts, `r${round}`);
        results.get(opts.arms[i]!.name)!.push(r);
        console.log(
          `round ${round + 1} ${opts.arms[i]!.name}: ${(r.sendingMs + r.afterMs).toFixed(2)} ms CPU/write ` +
            `(${r.sendingMs.toFixed(2)} answering, ${r.afterMs.toFixed(2)} after, ${(r.systemShare * 100).toFixed(0)} % kernel), Postgres ` +
            `${r.postgresMs.toFixed(2)} ms/write, ${r.putsPerSecond.toFixed(0)} PUT/s, ${r.mirrored} copied`,
        );
      }
    }
  } finally {
    await Promise.all(proxies.map((p) => p.stop()));
    await Promise.all([main.stop(), mirror.stop(), ...postgres.map((p) => p.destroy())]);
  }
  console.log(
    `\nmedians over ${opts.rounds} rounds of ${opts.writes} PUTs of ${opts.size} B at c=${opts.concurrency}:`,
  );
  for (const [name, rs] of results) {
    const m = (f: (r: Round) => number): string => median(rs.map(f)).toFixed(2);
    console.log(
      `${name}: proxy ${m((r) => r.sendingMs + r.afterMs)} ms CPU/write (answering ${m((r) => r.sendingMs)}, ` +
        `after ${m((r) => r.afterMs)}, ${m((r) => r.systemShare * 100)} % kernel), Postgres ${m((r) => r.postgresMs)} ms/write, ${m((r) => r.putsPerSecond)} PUT/s`,
    );
  }
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
