/**
 * The soak: a mixed workload through several proxy processes that share Postgres, against real RGW, for a
 * set time, sampling each proxy's RSS and descriptors. In fault mode, faults are injected during load, one
 * at a time, each followed by a pause and a three-way check of main, mirror and inventory. Used by
 * `npm run soak` (main.ts, own services) and by a short integration test (the jest harness's services).
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { CreateBucketCommand } from '@aws-sdk/client-s3';
import { startHttpFaultProxy } from '../harness/http-fault-proxy';
import { directClient, proxyEnv, startProxyProcess, type ProxyInstance } from '../harness/proxy';
import type { ServiceControls, TestServices } from '../harness/services';
import { threeWayDiff } from '../harness/three-way';
import { sleep } from '../harness/wait';
import { describeFault, injectFault, type FaultContext, type FaultName } from './faults';
import { Sampler, type Slope } from './sampler';
import { LoadDriver, Workload, type WorkloadStats } from './workload';

export interface SoakOptions {
  minutes: number;
  faults: FaultName[];
  proxies: number;
  workers: number;
  keysPerBucket: number;
  buckets: number;
  /** How long each fault is held under load. */
  faultSeconds: number;
  /** Load after a fault is undone, before the pause and the three-way check. */
  settleSeconds: number;
  sampleEveryMs: number;
  /** Bound on waiting for three-way equality after a fault or at the end. */
  convergeTimeoutMs: number;
  log: (line: string) => void;
  /** Where each proxy process's whole output is written when it exits (for diagnosis). */
  logDir?: string;
}

export const DEFAULT_OPTIONS: SoakOptions = {
  minutes: 5,
  faults: [],
  proxies: 2,
  workers: 8,
  keysPerBucket: 100,
  buckets: 2,
  faultSeconds: 20,
  settleSeconds: 10,
  sampleEveryMs: 5000,
  convergeTimeoutMs: 300_000,
  log: (line) => process.stderr.write(`[soak] ${line}\n`),
};

export interface FaultReport {
  fault: FaultName;
  description: string;
  heldSeconds: number;
  /** App operations that needed another attempt (another proxy, after a 5xx or a dropped connection). */
  retriedWrites: number;
  retriedOps: number;
  appErrors: number;
  /** Failed mirror copies/deletes the proxies retried, and failed inventory writes. */
  mirrorFailures: number;
  inventoryWriteFailures: number;
  /** Highest s3mirror_mirror_lag_seconds / s3mirror_mirror_pending seen (refreshed by the proxies every 15 s). */
  lagPeakSeconds: number;
  pendingPeak: number;
  /** From undoing the fault to three-way equality (load ran for settleSeconds of it, then paused). */
  convergeSeconds: number;
  equal: boolean;
  diffs: string[];
}

export interface SoakReport {
  options: Omit<SoakOptions, 'log'>;
  startedAt: string;
  durationSeconds: number;
  stats: WorkloadStats;
  totalOps: number;
  errorRate: number;
  slopes: Slope[];
  faults: FaultReport[];
  finalEqual: boolean;
  finalDiffs: string[];
  finalConvergeSeconds: number;
  /** The anti-entropy scan over the run (every proxy, across restarts): objects compared, differences found. */
  scan: { objects: number; differences: number };
  /** Proxy exits nobody asked for (a crash, or a signal from outside); each was restarted like a pod would. */
  unexpectedExits: string[];
  passed: boolean;
  /** Why it did not pass. */
  problems: string[];
}

export interface SoakEnvironment {
  services: TestServices;
  controls: Pick<
    ServiceControls,
    'stopMirrorGateway' | 'startMirrorGateway' | 'stopPostgres' | 'startPostgres'
  >;
}

/** Polls until every bucket is three-way equal; returns the last diffs (empty = equal). */
async function converge(services: TestServices, buckets: string[], timeoutMs: number): Promise<string[]> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const diffs: string[] = [];
    for (const b of buckets) diffs.push(...(await threeWayDiff(services, b)).map((d) => `${b}: ${d}`));
    if (diffs.length === 0 || Date.now() > deadline) return diffs;
    await sleep(1000);
  }
}

export async function runSoak(env: SoakEnvironment, partial: Partial<SoakOptions>): Promise<SoakReport> {
  const opts: SoakOptions = { ...DEFAULT_OPTIONS, ...partial };
  const { services, controls } = env;
  const log = opts.log;
  const started = Date.now();
  const run = Date.now().toString(36);
  const buckets = Array.from({ length: opts.buckets }, (_, i) => `soak-${run}-${i}`);

  const direct = directClient(services.ceph.mainEndpoint, services.ceph.main);
  for (const b of buckets) await direct.send(new CreateBucketCommand({ Bucket: b }));
  direct.destroy();

  // Main behind a forwarder that can inject 5xx and slowness; it records nothing (memory stays flat).
  const mainFaults = await startHttpFaultProxy(services.ceph.mainEndpoint, { record: false });
  const stateDirs: string[] = [];
  const slots: (ProxyInstance | undefined)[] = [];
  // Default settings: no STATE_DIR, so each proxy uses its default state directory (one per port, kept
  // across the restarts on the same port below).
  const envFor = (): Record<string, string> =>
    proxyEnv(services, {
      MAIN_S3_ENDPOINT: mainFaults.url,
      STATE_DIR: '',
      LOG_LEVEL: 'warn',
      // Passes every 30 s instead of every hour, so the scan runs during the soak; over the soak's own
      // buckets only (in a test run, earlier tests leave buckets that differ on purpose).
      SCAN_INTERVAL_SECONDS: '30',
      ALLOWED_BUCKETS: buckets.join(','),
    });
  const sampler = new Sampler(() => slots);
  const workload = new Workload({
    buckets,
    keysPerBucket: opts.keysPerBucket,
    endpoints: () => slots.filter((p): p is ProxyInstance => p !== undefined).map((p) => p.url),
  });
  const driver = new LoadDriver(workload, opts.workers);
  const faults: FaultReport[] = [];
  const problems: string[] = [];

  const unexpectedExits: string[] = [];
  const planned = new Set<number>();
  let shuttingDown = false;
  /** Starts a proxy in `slot`; if it ever exits unplanned, records it and starts it again (as a kubelet would). */
  const launch = async (slot: number, env: Record<string, string>): Promise<ProxyInstance> => {
    const p = await startProxyProcess(env);
    stateDirs.push(path.join(os.tmpdir(), `k8s-s3-mirror-${p.port}`));
    slots[slot] = p;
    // Keeping the log is best effort (a full disk must not end the soak); a failed restart is logged.
    // eslint-disable-next-line @typescript-eslint/no-floating-promises -- cannot reject
    void p.process.exited.then(async (exit) => {
      if (opts.logDir) {
        try {
          fs.mkdirSync(opts.logDir, { recursive: true });
          fs.writeFileSync(`${opts.logDir}/proxy-${slot + 1}-${p.process.pid}.log`, p.process.output());
        } catch (err) {
          log(`proxy ${slot + 1} (pid ${p.process.pid}): its log not kept: ${String(err)}`);
        }
      }
      if (planned.has(p.process.pid) || shuttingDown) return;
      const what = `proxy ${slot + 1} (pid ${p.process.pid}) exited unplanned: code ${exit.code}, signal ${exit.signal}`;
      unexpectedExits.push(what);
      log(`${what}; restarting it. Its last output:\n${p.process.output().slice(-3000)}`);
      if (slots[slot] === p) slots[slot] = undefined;
      await launch(slot, env).catch((err: unknown) => log(`restart failed: ${String(err)}`));
    });
    return p;
  };

  const ctx: FaultContext = {
    controls,
    mainFaults,
    sleep,
    log,
    async killAndRestart(slot, downMs) {
      const old = slots[slot]!;
      planned.add(old.process.pid);
      old.process.kill('SIGKILL');
      await old.process.exited;
      slots[slot] = undefined;
      await sleep(downMs);
      await launch(slot, old.env);
    },
    async restartWith(slot, extra) {
      const old = slots[slot]!;
      planned.add(old.process.pid);
      slots[slot] = undefined;
      await old.stop();
      await launch(slot, { ...old.env, ...extra });
    },
  };

  try {
    for (let i = 0; i < opts.proxies; i++) await launch(i, envFor());
    log(
      `${opts.proxies} proxies up (pids ${slots.map((p) => p!.process.pid).join(', ')}); buckets ${buckets.join(', ')}`,
    );
    sampler.start(opts.sampleEveryMs);
    driver.start();
    const endAt = started + opts.minutes * 60_000;

    for (const fault of opts.faults) {
      // A little clean load first, so the fault meets a busy system.
      await sleep(Math.min(5000, opts.settleSeconds * 1000));
      const before = { ...workload.stats, retryReasons: { ...workload.stats.retryReasons } };
      const countersBefore = sampler.counters();
      sampler.resetPeaks();
      log(`fault ${fault}: ${describeFault[fault]}`);
      const heldFrom = Date.now();
      await injectFault(fault, opts.faultSeconds * 1000, ctx);
      const cleared = Date.now();
      await sleep(opts.settleSeconds * 1000);
      await driver.pause();
      const diffs = await converge(services, buckets, opts.convergeTimeoutMs);
      const convergeSeconds = (Date.now() - cleared) / 1000;
      await sampler.sampleMetrics();
      const counters = sampler.counters();
      const report: FaultReport = {
        fault,
        description: describeFault[fault],
        heldSeconds: (cleared - heldFrom) / 1000,
        retriedWrites: workload.stats.retriedWrites - before.retriedWrites,
        retriedOps: workload.stats.retriedOps - before.retriedOps,
        appErrors: workload.stats.errors - before.errors,
        mirrorFailures: counters.mirrorFailures - countersBefore.mirrorFailures,
        inventoryWriteFailures: counters.inventoryWriteFailures - countersBefore.inventoryWriteFailures,
        lagPeakSeconds: sampler.lagPeakSeconds,
        pendingPeak: sampler.pendingPeak,
        convergeSeconds,
        equal: diffs.length === 0,
        diffs: diffs.slice(0, 20),
      };
      faults.push(report);
      log(
        `fault ${fault}: ${report.equal ? 'converged' : 'NOT converged'} ${convergeSeconds.toFixed(1)} s after ` +
          `it was undone; writes retried ${report.retriedWrites}, mirror failures ${report.mirrorFailures}, ` +
          `inventory write failures ${report.inventoryWriteFailures}, lag peak ${report.lagPeakSeconds} s`,
      );
      const reasons = Object.entries(workload.stats.retryReasons)
        .map(([r, n]) => `${r} x${n - (before.retryReasons[r] ?? 0)}`)
        .filter((line) => !line.endsWith(' x0'));
      if (reasons.length) log(`fault ${fault}: retries: ${reasons.join(', ')}`);
      if (!report.equal) {
        problems.push(`after ${fault}: main, mirror and inventory differ (${diffs.length} diffs)`);
        log(`fault ${fault}: differences:\n  ${diffs.slice(0, 15).join('\n  ')}`);
      }
      driver.resume();
    }

    const remaining = endAt - Date.now();
    if (remaining > 0) {
      log(`steady load for ${(remaining / 60_000).toFixed(1)} more minutes`);
      while (Date.now() < endAt) {
        await sleep(Math.min(30_000, endAt - Date.now()));
        const ops = Object.values(workload.stats.ops).reduce((a, b) => a + b, 0);
        const latest = slots.map((p) => sampler.samples.filter((s) => s.pid === p?.process.pid).at(-1));
        log(
          `${((Date.now() - started) / 60_000).toFixed(1)} min: ${ops} ops, ${workload.stats.errors} errors, ` +
            latest
              .map((s, i) => `proxy ${i + 1} ${s ? `${s.rssMiB.toFixed(0)} MiB ${s.fds} fds` : '-'}`)
              .join(', '),
        );
      }
    }
    await driver.pause();
    await driver.stop();
    // Slopes describe the proxies under load, not the quiet wait for the mirror that follows.
    sampler.stop();
    const quiet = Date.now();
    const finalDiffs = await converge(services, buckets, opts.convergeTimeoutMs);
    const finalConvergeSeconds = (Date.now() - quiet) / 1000;
    await sampler.sampleMetrics();
    const { scanObjects, scanDifferences } = sampler.counters();
    // Every write went through the proxies and the journal keeps them: the scan must find nothing.
    if (scanDifferences > 0) {
      problems.push(`the anti-entropy scan found ${scanDifferences} difference(s): a write was lost`);
    }

    const stats = workload.stats;
    const totalOps = Object.values(stats.ops).reduce((a, b) => a + b, 0);
    if (stats.errors > 0) problems.push(`${stats.errors} app operations failed`);
    if (stats.corrupt > 0) problems.push(`${stats.corrupt} reads returned a corrupt body`);
    if (finalDiffs.length > 0)
      problems.push(`at the end main, mirror and inventory differ (${finalDiffs.length} diffs)`);
    if (totalOps === 0) problems.push('no operation ran');
    problems.push(...unexpectedExits);
    const slopes = sampler.slopes();
    // Only long, fault-free stretches can show a leak; shorter ones are reported, not judged.
    for (const s of slopes) {
      if (s.minutes < 10) continue;
      if (s.rssMiBPerMin > 1)
        problems.push(`proxy ${s.slot + 1} (pid ${s.pid}) RSS grows ${s.rssMiBPerMin.toFixed(2)} MiB/min`);
      if (s.fdsPerMin > 0.5)
        problems.push(`proxy ${s.slot + 1} (pid ${s.pid}) descriptors grow ${s.fdsPerMin.toFixed(2)}/min`);
    }
    const { log: _log, ...printable } = opts;
    return {
      options: printable,
      startedAt: new Date(started).toISOString(),
      durationSeconds: (Date.now() - started) / 1000,
      stats,
      totalOps,
      errorRate: totalOps === 0 ? 0 : stats.errors / totalOps,
      slopes,
      faults,
      finalEqual: finalDiffs.length === 0,
      finalDiffs: finalDiffs.slice(0, 40),
      finalConvergeSeconds,
      scan: { objects: scanObjects, differences: scanDifferences },
      unexpectedExits,
      passed: problems.length === 0,
      problems,
    };
  } finally {
    shuttingDown = true;
    sampler.stop();
    await driver.stop();
    workload.destroy();
    await Promise.allSettled(slots.map((p) => p?.stop()));
    await mainFaults.close();
    for (const d of stateDirs) fs.rmSync(d, { recursive: true, force: true });
  }
}
