import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';

import { killOnExit } from '../harness/cleanup';
import { httpStatus, PollAborted, pollUntil, sleep } from '../harness/wait';

/** Process helpers for the benchmark: child services with logs in files, and /proc accounting. */

function getconf(name: string, fallback: number): number {
  try {
    return Number(execFileSync('getconf', [name], { encoding: 'utf8' }).trim()) || fallback;
  } catch {
    return fallback;
  }
}
const PAGE_SIZE = getconf('PAGESIZE', 4096);
const CLK_TCK = getconf('CLK_TCK', 100);

export interface ProcSample {
  ppid: number;
  /** user + system CPU, in seconds. */
  cpuSeconds: number;
  /** The system (kernel) part of cpuSeconds. */
  systemSeconds: number;
  rssBytes: number;
}

/** One /proc/<pid>/stat read; undefined when the process is gone. */
export function readProcStat(pid: number): ProcSample | undefined {
  let text: string;
  try {
    text = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return undefined;
  }
  // The command name (field 2) may hold spaces and parentheses: split after its closing parenthesis.
  const fields = text.slice(text.lastIndexOf(')') + 2).split(' ');
  // fields[0] is field 3 (state): field n is fields[n - 3].
  return {
    ppid: Number(fields[1]),
    cpuSeconds: (Number(fields[11]) + Number(fields[12])) / CLK_TCK,
    systemSeconds: Number(fields[12]) / CLK_TCK,
    rssBytes: Number(fields[21]) * PAGE_SIZE,
  };
}

export function cpuSecondsOf(pid: number): number {
  return readProcStat(pid)?.cpuSeconds ?? NaN;
}

/** CPU seconds of several processes together (nginx: its master and workers). */
export function cpuSecondsOfAll(pids: readonly number[]): number {
  return pids.reduce((sum, pid) => sum + cpuSecondsOf(pid), 0);
}

/** A node script running as a service, its output appended to a log file. */
export interface Service {
  name: string;
  pid: number;
  logFile: string;
  /** False once the process has exited (crashed, or stopped). */
  alive(): boolean;
  stop(): Promise<void>;
}

/** A reference hop in front of one backend (nginx, or the bare Node.js hop): where its arm's requests go. */
export interface ReferenceHop extends Service {
  /** http://127.0.0.1:PORT */
  url: string;
  /** The processes whose CPU time is the hop's cost (nginx: master and workers). */
  pids(): number[];
}

export async function startNodeService(opts: {
  name: string;
  script: string;
  env: Record<string, string>;
  logDir: string;
  /** Polled until it answers 200 (or what `ready` accepts). */
  readyUrl: string;
  ready?: (status: number) => boolean;
  nodeArgs?: string[];
  /** Pins the process to these CPUs (taskset list, e.g. "1"). */
  cpus?: string;
}): Promise<Service> {
  const logFile = path.join(opts.logDir, `${opts.name}.log`);
  const out = fs.openSync(logFile, 'a');
  const args = [...(opts.nodeArgs ?? []), opts.script];
  // taskset execs node, so the pid stays the service's own.
  const [cmd, argv] = opts.cpus
    ? ['taskset', ['-c', opts.cpus, process.execPath, ...args]]
    : [process.execPath, args];
  const child: ChildProcess = spawn(cmd, argv, {
    env: { PATH: process.env.PATH ?? '/usr/bin:/bin', ...opts.env },
    stdio: ['ignore', out, out],
  });
  fs.closeSync(out);
  killOnExit(child);
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  let gone = false;
  // eslint-disable-next-line @typescript-eslint/no-floating-promises -- cannot reject
  void exited.then(() => (gone = true));
  await pollUntil(
    `${opts.name} to answer on ${opts.readyUrl}`,
    async () => {
      if (gone)
        throw new PollAborted(`${opts.name} exited:\n${fs.readFileSync(logFile, 'utf8').slice(-4000)}`);
      const status = await httpStatus(opts.readyUrl);
      return opts.ready ? opts.ready(status) : status === 200;
    },
    { timeoutMs: 30_000 },
  );
  return {
    name: opts.name,
    pid: child.pid!,
    logFile,
    alive: () => !gone,
    async stop() {
      if (gone) return;
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
      await exited;
      clearTimeout(timer);
    },
  };
}

/** Samples the RSS of named processes every `everyMs` for the whole run; peaks per process and window. */
export class RssSampler {
  private readonly samples = new Map<string, { t: number; rss: number }[]>();
  private readonly pids = new Map<string, number>();
  private timer: NodeJS.Timeout | undefined;

  constructor(private readonly everyMs = 100) {}

  watch(name: string, pid: number): void {
    this.pids.set(name, pid);
    if (!this.samples.has(name)) this.samples.set(name, []);
  }

  start(): void {
    this.timer = setInterval(() => this.sampleNow(), this.everyMs);
    this.timer.unref();
  }

  sampleNow(): void {
    const t = Date.now();
    for (const [name, pid] of this.pids) {
      const s = readProcStat(pid);
      if (s) this.samples.get(name)!.push({ t, rss: s.rssBytes });
    }
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
  }

  /** Peak RSS of `name` between `from` and `to` (ms epoch); the whole run by default. */
  peak(name: string, from = 0, to = Infinity): number {
    let peak = NaN;
    for (const s of this.samples.get(name) ?? []) {
      if (s.t >= from && s.t <= to && !(s.rss <= peak)) peak = s.rss;
    }
    return peak;
  }

  names(): string[] {
    return [...this.pids.keys()];
  }
}

/**
 * Waits until the given processes are idle (together under `maxCpuShare` of one core over `windowMs`),
 * e.g. until the proxy's background mirror copies are done before the next measured round. Bounded: gives
 * up after `maxMs` and says so.
 */
export async function waitIdle(
  pids: readonly number[],
  opts: { windowMs?: number; maxCpuShare?: number; maxMs?: number } = {},
): Promise<{ idle: boolean; waitedMs: number }> {
  const windowMs = opts.windowMs ?? 400;
  const share = opts.maxCpuShare ?? 0.05;
  const started = Date.now();
  const total = (): number => pids.reduce((sum, pid) => sum + (cpuSecondsOf(pid) || 0), 0);
  for (;;) {
    const before = total();
    await sleep(windowMs);
    const used = total() - before;
    if (used <= (windowMs / 1000) * share + 1 / CLK_TCK)
      return { idle: true, waitedMs: Date.now() - started };
    if (Date.now() - started > (opts.maxMs ?? 60_000)) return { idle: false, waitedMs: Date.now() - started };
  }
}

/** CPU seconds all cores of the machine have been busy since boot (/proc/stat). */
export function machineBusySeconds(): number {
  const line = fs.readFileSync('/proc/stat', 'utf8').split('\n', 1)[0]!;
  const v = line.trim().split(/\s+/).slice(1).map(Number);
  // user nice system idle iowait irq softirq steal ...: busy is everything but idle and iowait.
  const busy = v.reduce((a, b) => a + b, 0) - (v[3] ?? 0) - (v[4] ?? 0);
  return busy / CLK_TCK;
}

/**
 * How much CPU the rest of the machine used while the benchmark ran: all busy CPU time from /proc/stat minus
 * the time of this process and its descendants (proxies, sinks, Ceph daemons, Postgres).
 */
export class ForeignLoadMonitor {
  private timer: NodeJS.Timeout | undefined;
  private last: { busy: number; ours: Map<number, number> } | undefined;
  private readonly points: { t: number; foreignCores: number; ourCores: number }[] = [];
  private lastT = 0;

  private static ourProcesses(): Map<number, number> {
    const all = new Map<number, ProcSample>();
    for (const entry of fs.readdirSync('/proc')) {
      if (!/^\d+$/.test(entry)) continue;
      const s = readProcStat(Number(entry));
      if (s) all.set(Number(entry), s);
    }
    const children = new Map<number, number[]>();
    for (const [pid, s] of all) children.set(s.ppid, [...(children.get(s.ppid) ?? []), pid]);
    const ours = new Map<number, number>();
    const stack = [process.pid];
    while (stack.length) {
      const pid = stack.pop()!;
      const s = all.get(pid);
      if (s) ours.set(pid, s.cpuSeconds);
      stack.push(...(children.get(pid) ?? []));
    }
    return ours;
  }

  start(everyMs = 2000): void {
    const tick = (): void => {
      const now = Date.now();
      const busy = machineBusySeconds();
      const ours = ForeignLoadMonitor.ourProcesses();
      if (this.last) {
        let oursDelta = 0;
        for (const [pid, cpu] of ours) oursDelta += cpu - (this.last.ours.get(pid) ?? 0);
        const dt = (now - this.lastT) / 1000;
        this.points.push({
          t: now,
          foreignCores: Math.max(0, (busy - this.last.busy - oursDelta) / dt),
          ourCores: oursDelta / dt,
        });
      }
      this.last = { busy, ours };
      this.lastT = now;
    };
    tick();
    this.timer = setInterval(tick, everyMs);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
  }

  /** Mean foreign load (in cores) between two times. */
  foreignCores(from = 0, to = Infinity): number {
    const pts = this.points.filter((p) => p.t >= from && p.t <= to);
    return pts.length ? pts.reduce((a, p) => a + p.foreignCores, 0) / pts.length : NaN;
  }

  ourCores(from = 0, to = Infinity): number {
    const pts = this.points.filter((p) => p.t >= from && p.t <= to);
    return pts.length ? pts.reduce((a, p) => a + p.ourCores, 0) / pts.length : NaN;
  }
}

/** How many cores the whole machine kept busy (every process, ours or not) while `work` ran. */
export async function busyCoresDuring<T>(work: () => Promise<T>): Promise<{ result: T; cores: number }> {
  const busyBefore = machineBusySeconds();
  const started = performance.now();
  const result = await work();
  const seconds = (performance.now() - started) / 1000;
  return { result, cores: (machineBusySeconds() - busyBefore) / seconds };
}
