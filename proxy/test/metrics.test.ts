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
