/**
 * The parts of prom-client the proxy uses, each loaded from its own module (types/dependency-parts.d.ts
 * says why): the metric classes, the registry, and the default process and Node.js metrics. prom-client's
 * CPU counters load OpenTelemetry for exemplars the proxy never records, so those three are made here; its
 * GC histogram counts one collection per batch Node reports, so that one is made here too.
 */
import {
  constants,
  PerformanceObserver,
  type NodeGCPerformanceDetail,
  type PerformanceEntry,
} from 'node:perf_hooks';
import type * as prom from 'prom-client';
import CounterClass from 'prom-client/lib/counter.js';
import GaugeClass from 'prom-client/lib/gauge.js';
import HistogramClass from 'prom-client/lib/histogram.js';
import eventLoopLag from 'prom-client/lib/metrics/eventLoopLag.js';
import heapSizeAndUsed from 'prom-client/lib/metrics/heapSizeAndUsed.js';
import heapSpacesSizeAndUsed from 'prom-client/lib/metrics/heapSpacesSizeAndUsed.js';
import osMemoryHeap from 'prom-client/lib/metrics/osMemoryHeap.js';
import processHandles from 'prom-client/lib/metrics/processHandles.js';
import processMaxFileDescriptors from 'prom-client/lib/metrics/processMaxFileDescriptors.js';
import processOpenFileDescriptors from 'prom-client/lib/metrics/processOpenFileDescriptors.js';
import processRequests from 'prom-client/lib/metrics/processRequests.js';
import processResources from 'prom-client/lib/metrics/processResources.js';
import processStartTime from 'prom-client/lib/metrics/processStartTime.js';
import version from 'prom-client/lib/metrics/version.js';
import RegistryClass from 'prom-client/lib/registry.js';

// Typed by the package's own declarations, so no declaration emitted from here names a module path.
export const Counter: typeof prom.Counter = CounterClass;
export const Gauge: typeof prom.Gauge = GaugeClass;
export const Histogram: typeof prom.Histogram = HistogramClass;
export const Registry: typeof prom.Registry = RegistryClass;
export type Registry = prom.Registry;

export interface ProcessMetricsOptions {
  prefix: string;
  eventLoopMonitoringPrecision: number;
}

/** What prom-client's `collectDefaultMetrics` registers, under the same names. */
export function collectProcessMetrics(registry: prom.Registry, options: ProcessMetricsOptions): void {
  collectCpuSeconds(registry, options.prefix);
  collectGcDurations(registry, options.prefix);
  for (const register of [
    processStartTime,
    osMemoryHeap,
    processOpenFileDescriptors,
    processMaxFileDescriptors,
    eventLoopLag,
    processResources,
    processHandles,
    processRequests,
    heapSizeAndUsed,
    heapSpacesSizeAndUsed,
    version,
  ])
    register(registry, options);
}

/** process_cpu_{user,system}_seconds_total and their sum, advanced at each scrape. */
function collectCpuSeconds(registry: prom.Registry, prefix: string): void {
  const registers = [registry];
  let last = process.cpuUsage();
  // The user counter is registered first, so its collect advances all three before the other two are read.
  const user = new Counter({
    name: `${prefix}process_cpu_user_seconds_total`,
    help: 'Total user CPU time spent in seconds.',
    registers,
    collect() {
      const now = process.cpuUsage();
      const userSeconds = (now.user - last.user) / 1e6;
      const systemSeconds = (now.system - last.system) / 1e6;
      last = now;
      user.inc(userSeconds);
      system.inc(systemSeconds);
      total.inc(userSeconds + systemSeconds);
    },
  });
  const system = new Counter({
    name: `${prefix}process_cpu_system_seconds_total`,
    help: 'Total system CPU time spent in seconds.',
    registers,
  });
  const total = new Counter({
    name: `${prefix}process_cpu_seconds_total`,
    help: 'Total user and system CPU time spent in seconds.',
    registers,
  });
}

const GC_KINDS: Record<number, string> = {
  [constants.NODE_PERFORMANCE_GC_MAJOR]: 'major',
  [constants.NODE_PERFORMANCE_GC_MINOR]: 'minor',
  [constants.NODE_PERFORMANCE_GC_INCREMENTAL]: 'incremental',
  [constants.NODE_PERFORMANCE_GC_WEAKCB]: 'weakcb',
};

/**
 * nodejs_gc_duration_seconds as prom-client defines it (name, help, buckets, kinds), with every collection
 * counted: Node hands an observer its entries in batches, and prom-client's observes only a batch's first,
 * so the mark-compacts that follow a scavenge went uncounted.
 */
function collectGcDurations(registry: prom.Registry, prefix: string): void {
  const histogram = new Histogram({
    name: `${prefix}nodejs_gc_duration_seconds`,
    help: 'Garbage collection duration by kind, one of major, minor, incremental or weakcb.',
    labelNames: ['kind'],
    buckets: [0.001, 0.01, 0.1, 1, 2, 5],
    registers: [registry],
  });
  new PerformanceObserver((list) => {
    for (const entry of list.getEntries()) {
      // A gc entry's `detail` (Node >= 16), which this version of the types leaves out.
      const { detail } = entry as PerformanceEntry & { detail?: NodeGCPerformanceDetail };
      const kind = detail === undefined ? undefined : GC_KINDS[detail.kind];
      histogram.observe(kind === undefined ? {} : { kind }, entry.duration / 1000);
    }
  }).observe({ entryTypes: ['gc'] });
}
