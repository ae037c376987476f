/**
 * Samples every proxy process over time: RSS and open file descriptors from /proc, and a few /metrics
 * values (mirror lag and backlog gauges; failure counters, summed across restarts). Leaks show up as a
 * slope: a least-squares line through one process's samples after its warm-up.
 */
import fs from 'node:fs';
import { metricValue, scrapeMetrics } from '../harness/proxies';
import type { ProxyInstance } from '../harness/proxy';
import { METRIC_NAMES } from '@k8s-s3-mirror/proxy/dist/metrics';

export interface ProcessSample {
  /** ms since the soak started. */
  t: number;
  slot: number;
  pid: number;
  rssMiB: number;
  fds: number;
}

export interface Slope {
  slot: number;
  pid: number;
  samples: number;
  minutes: number;
  rssMiBPerMin: number;
  fdsPerMin: number;
  rssFirstMiB: number;
  rssLastMiB: number;
  fdsFirst: number;
  fdsLast: number;
}

const COUNTERS = {
  mirrorFailures: [METRIC_NAMES.mirrorOperations, { result: 'failure' }],
  inventoryWriteFailures: [METRIC_NAMES.inventoryWriteFailures, {}],
  scanObjects: [METRIC_NAMES.scanObjects, {}],
  scanDifferences: [METRIC_NAMES.scanDifferences, {}],
} as const;
export type CounterName = keyof typeof COUNTERS;

function procStats(pid: number): { rssMiB: number; fds: number } | undefined {
  try {
    const status = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
    const kb = Number(/^VmRSS:\s+(\d+) kB$/m.exec(status)?.[1]);
    return { rssMiB: kb / 1024, fds: fs.readdirSync(`/proc/${pid}/fd`).length };
  } catch {
    return undefined; // exited between listing and reading
  }
}

/** Least-squares slope of y over x. */
export function slope(points: readonly { x: number; y: number }[]): number {
  const n = points.length;
  if (n < 2) return 0;
  const mx = points.reduce((s, p) => s + p.x, 0) / n;
  const my = points.reduce((s, p) => s + p.y, 0) / n;
  let num = 0;
  let den = 0;
  for (const p of points) {
    num += (p.x - mx) * (p.y - my);
    den += (p.x - mx) ** 2;
  }
  return den === 0 ? 0 : num / den;
}

export class Sampler {
  readonly samples: ProcessSample[] = [];
  /** Peaks of the gauges since the last `resetPeaks()`. */
  lagPeakSeconds = 0;
  pendingPeak = 0;
  private readonly totals: Record<CounterName, number> = {
    mirrorFailures: 0,
    inventoryWriteFailures: 0,
    scanObjects: 0,
    scanDifferences: 0,
  };
  private readonly last = new Map<string, number>();
  private timer: NodeJS.Timeout | undefined;
  private metricsTimer: NodeJS.Timeout | undefined;
  private readonly started = Date.now();

  constructor(private readonly proxies: () => (ProxyInstance | undefined)[]) {}

  start(processEveryMs: number, metricsEveryMs = 1000): void {
    this.timer = setInterval(() => this.sampleProcesses(), processEveryMs);
    // A proxy that does not answer (restarting) is skipped.
    // eslint-disable-next-line @typescript-eslint/no-floating-promises -- cannot reject
    this.metricsTimer = setInterval(() => void this.sampleMetrics(), metricsEveryMs);
    this.sampleProcesses();
  }

  stop(): void {
    clearInterval(this.timer);
    clearInterval(this.metricsTimer);
  }

  private sampleProcesses(): void {
    const t = Date.now() - this.started;
    this.proxies().forEach((p, slot) => {
      if (!p) return;
      const s = procStats(p.process.pid);
      if (s) this.samples.push({ t, slot, pid: p.process.pid, ...s });
    });
  }

  async sampleMetrics(): Promise<void> {
    await Promise.all(
      this.proxies().map(async (p) => {
        if (!p) return;
        let samples;
        try {
          samples = await scrapeMetrics(p);
        } catch {
          return; // restarting
        }
        this.lagPeakSeconds = Math.max(this.lagPeakSeconds, metricValue(samples, METRIC_NAMES.mirrorLag));
        this.pendingPeak = Math.max(this.pendingPeak, metricValue(samples, METRIC_NAMES.mirrorPending));
        for (const [name, [metric, labels]] of Object.entries(COUNTERS) as [
          CounterName,
          (typeof COUNTERS)[CounterName],
        ][]) {
          const value = metricValue(samples, metric, labels);
          const id = `${p.process.pid}:${name}`;
          const previous = this.last.get(id) ?? 0;
          // Per process: a counter only grows; a new process starts from 0.
          if (value > previous) this.totals[name] += value - previous;
          this.last.set(id, value);
        }
      }),
    );
  }

  counters(): Record<CounterName, number> {
    return { ...this.totals };
  }

  resetPeaks(): void {
    this.lagPeakSeconds = 0;
    this.pendingPeak = 0;
  }

  /** One slope per process, ignoring its first `warmupFraction` of samples (start-up growth is not a leak). */
  slopes(warmupFraction = 0.2): Slope[] {
    const byProcess = new Map<string, ProcessSample[]>();
    for (const s of this.samples) {
      const id = `${s.slot}:${s.pid}`;
      byProcess.set(id, [...(byProcess.get(id) ?? []), s]);
    }
    const out: Slope[] = [];
    for (const series of byProcess.values()) {
      const kept = series.slice(Math.floor(series.length * warmupFraction));
      if (kept.length < 3) continue;
      const first = kept[0]!;
      const last = kept[kept.length - 1]!;
      const toMin = (t: number) => t / 60_000;
      out.push({
        slot: first.slot,
        pid: first.pid,
        samples: kept.length,
        minutes: toMin(last.t - first.t),
        rssMiBPerMin: slope(kept.map((s) => ({ x: toMin(s.t), y: s.rssMiB }))),
        fdsPerMin: slope(kept.map((s) => ({ x: toMin(s.t), y: s.fds }))),
        rssFirstMiB: first.rssMiB,
        rssLastMiB: last.rssMiB,
        fdsFirst: first.fds,
        fdsLast: last.fds,
      });
    }
    return out;
  }
}
