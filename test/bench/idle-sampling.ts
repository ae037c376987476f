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

/** Resident memory in KiB from /proc/<pid>/status: the whole, and its anonymous and file-backed parts. */
export interface ResidentKiB {
  rss: number;
  /** Heap, stacks, malloc: what the process holds and cannot give back without freeing it. */
  anon: number;
  /**
   * Mapped files, almost all of them the node binary's code and data: clean pages the kernel can drop and
   * read again, one copy in the page cache for every sidecar of the same image on a node.
   */
  file: number;
}

export function parseResident(status: string): ResidentKiB {
  const field = (name: string): number => {
    const m = new RegExp(`^${name}:\\s+(\\d+)`, 'm').exec(status);
    return m ? Number(m[1]) : NaN;
  };
  return { rss: field('VmRSS'), anon: field('RssAnon'), file: field('RssFile') };
}

function residentOf(pid: number): ResidentKiB {
  try {
    return parseResident(fs.readFileSync(`/proc/${pid}/status`, 'utf8'));
  } catch {
    return { rss: NaN, anon: NaN, file: NaN };
  }
}

export interface RestWindow {
  cpuMsPerSecond: number;
  rssMedianMB: number;
  rssMaxMB: number;
  /** Medians of RSS's anonymous and file-backed parts. */
  anonMedianMB: number;
  fileMedianMB: number;
}

/** Samples every second for `seconds`: CPU from the difference of the first and last /proc/<pid>/stat. */
export async function sampleWindow(pids: number[], seconds: number): Promise<RestWindow[]> {
  const start = pids.map((pid) => readProcStat(pid)?.cpuSeconds ?? NaN);
  const t0 = process.hrtime.bigint();
  const samples: ResidentKiB[][] = pids.map(() => []);
  for (let s = 0; s < seconds; s++) {
    await sleep(1000);
    pids.forEach((pid, i) => samples[i]!.push(residentOf(pid)));
  }
  const elapsed = Number(process.hrtime.bigint() - t0) / 1e9;
  return pids.map((pid, i) => {
    const mb = (part: keyof ResidentKiB): number[] => samples[i]!.map((r) => r[part] / 1024);
    return {
      cpuMsPerSecond: (((readProcStat(pid)?.cpuSeconds ?? NaN) - start[i]!) * 1000) / elapsed,
      rssMedianMB: median(mb('rss')),
      rssMaxMB: Math.max(...mb('rss')),
      anonMedianMB: median(mb('anon')),
      fileMedianMB: median(mb('file')),
    };
  });
}
