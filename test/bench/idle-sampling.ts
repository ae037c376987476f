/**
 * What a process costs at rest: CPU ms per second and VmRSS over a window, beside reference Node processes
 * that do nothing (idle-probe.ts and the bench's idle scenario).
 */
import { spawn } from 'node:child_process';
import fs from 'node:fs';

import { killOnExit } from '../harness/cleanup';
import { sleep } from '../harness/wait';
import { readProcStat, type Service } from './procs';
import { median } from './stats';

/**
 * A Node process that loads `modules` (none: a bare node) and then waits on a 1 s interval, with the given
 * NODE_OPTIONS; modules resolve from `cwd`.
 */
export function startRestingNode(opts: {
  name: string;
  modules?: readonly string[];
  nodeOptions: string;
  cwd?: string;
  env?: Record<string, string>;
}): Service {
  const loads = (opts.modules ?? []).map((m) => `require(${JSON.stringify(m)});`).join('');
  const child = spawn(process.execPath, ['-e', `${loads}setInterval(() => {}, 1000)`], {
    env: { PATH: process.env.PATH ?? '/usr/bin:/bin', ...opts.env, NODE_OPTIONS: opts.nodeOptions },
    cwd: opts.cwd ?? process.cwd(),
    stdio: 'ignore',
  });
  killOnExit(child);
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  return {
    name: opts.name,
    pid: child.pid!,
    logFile: '',
    alive: () => child.exitCode === null,
    async stop() {
      child.kill('SIGTERM');
      await exited;
    },
  };
}

function vmRssKiB(pid: number): number {
  try {
    const m = /VmRSS:\s+(\d+)/.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) : NaN;
  } catch {
    return NaN;
  }
}

export interface RestWindow {
  cpuMsPerSecond: number;
  rssMedianMB: number;
  rssMaxMB: number;
}

/** Samples every second for `seconds`: CPU from the difference of the first and last /proc/<pid>/stat. */
export async function sampleWindow(pids: number[], seconds: number): Promise<RestWindow[]> {
  const start = pids.map((pid) => readProcStat(pid)?.cpuSeconds ?? NaN);
  const t0 = process.hrtime.bigint();
  const rss: number[][] = pids.map(() => []);
  for (let s = 0; s < seconds; s++) {
    await sleep(1000);
    pids.forEach((pid, i) => rss[i]!.push(vmRssKiB(pid) / 1024));
  }
  const elapsed = Number(process.hrtime.bigint() - t0) / 1e9;
  return pids.map((pid, i) => ({
    cpuMsPerSecond: (((readProcStat(pid)?.cpuSeconds ?? NaN) - start[i]!) * 1000) / elapsed,
    rssMedianMB: median(rss[i]!),
    rssMaxMB: Math.max(...rss[i]!),
  }));
}
