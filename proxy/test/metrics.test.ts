import { PerformanceObserver } from 'node:perf_hooks';

import { createMetrics, EVENT_LOOP_SAMPLE_MS } from '../src/metrics';

/** The value of one unlabelled metric in a text exposition. */
function valueIn(text: string, name: string): number {
  const line = text.split('\n').find((l) => l.startsWith(`${name} `));
  if (!line) throw new Error(`${name} not exported`);
  return Number(line.slice(name.length + 1));
}

describe('event-loop delay metrics', () => {
  it('sample every EVENT_LOOP_SAMPLE_MS (not every 10 ms) and still report', async () => {
    const metrics = createMetrics();
    // A few sampling intervals of an idle loop.
    await new Promise((r) => setTimeout(r, 4 * EVENT_LOOP_SAMPLE_MS));
    // The histogram records the time between samples: its minimum is at least the sampling interval.
    const floor = (0.9 * EVENT_LOOP_SAMPLE_MS) / 1000;
    // Read in one scrape: each scrape resets the histogram.
    const text = await metrics.registry.metrics();
    for (const stat of ['min', 'mean', 'p50', 'p99'])
      expect(valueIn(text, `s3mirror_proxy_nodejs_eventloop_lag_${stat}_seconds`)).toBeGreaterThanOrEqual(
        floor,
      );
    // The scrape-time lag (a setImmediate) is unaffected.
    expect(valueIn(text, 's3mirror_proxy_nodejs_eventloop_lag_seconds')).toBeGreaterThanOrEqual(0);
  });
});

describe('garbage-collection metrics', () => {
  /** Collections counted so far, over every kind. */
  async function collections(metrics: ReturnType<typeof createMetrics>): Promise<number> {
    const text = await metrics.registry.metrics();
    return text
      .split('\n')
      .filter((l) => l.startsWith('s3mirror_proxy_nodejs_gc_duration_seconds_count{'))
      .reduce((sum, l) => sum + Number(l.slice(l.lastIndexOf(' ') + 1)), 0);
  }
  const turn = (ms: number) => new Promise((r) => setTimeout(r, ms));

  it('count every collection Node reports, also when one batch holds several', async () => {
    const metrics = createMetrics();
    const batches: number[] = [];
    const reported = new PerformanceObserver((list) => void batches.push(list.getEntries().length));
    reported.observe({ entryTypes: ['gc'] });
    try {
      await turn(20);
      batches.length = 0;
      const before = await collections(metrics);
      // Garbage in one synchronous stretch: many scavenges before either observer hears of them.
      let kept: number[][] = [];
      for (let i = 0; i < 100_000; i++) {
        kept.push(new Array<number>(1000).fill(i));
        if (kept.length > 16) kept = [];
      }
      await turn(50);
      expect(Math.max(0, ...batches)).toBeGreaterThan(1);
      expect((await collections(metrics)) - before).toBe(batches.reduce((sum, n) => sum + n, 0));
    } finally {
      reported.disconnect();
    }
  });
});
