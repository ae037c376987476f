import * as promClient from 'prom-client';
import * as undici from 'undici';

import { Pool } from '../src/http/undici-pool';
import { collectProcessMetrics, Counter, Gauge, Histogram, Registry } from '../src/prometheus';

/** Metric names in a registry's text exposition, sorted. */
async function namesIn(registry: promClient.Registry): Promise<string[]> {
  const text = await registry.metrics();
  const names = text
    .split('\n')
    .filter((line) => line.startsWith('# TYPE '))
    .map((line) => line.split(' ')[2] ?? '');
  return names.sort();
}

describe('the parts of undici and prom-client the proxy loads one module each', () => {
  it('are the classes the packages export (an upgrade that moves one fails here)', () => {
    expect(Pool).toBe(undici.Pool);
    expect(Counter).toBe(promClient.Counter);
    expect(Gauge).toBe(promClient.Gauge);
    expect(Histogram).toBe(promClient.Histogram);
    expect(Registry).toBe(promClient.Registry);
  });

  it('give the same process and Node.js metrics as collectDefaultMetrics', async () => {
    const ours = new Registry();
    collectProcessMetrics(ours, { prefix: 'x_', eventLoopMonitoringPrecision: 100 });
    const theirs = new promClient.Registry();
    promClient.collectDefaultMetrics({ register: theirs, prefix: 'x_', eventLoopMonitoringPrecision: 100 });
    const names = await namesIn(ours);
    expect(names).toEqual(await namesIn(theirs));
    expect(names).toContain('x_process_cpu_seconds_total');
  });

  it('advance the CPU counters at each scrape, the total the sum of user and system', async () => {
    const registry = new Registry();
    collectProcessMetrics(registry, { prefix: 'x_', eventLoopMonitoringPrecision: 100 });
    const read = async (): Promise<Record<string, number>> => {
      const values: Record<string, number> = {};
      for (const metric of await registry.getMetricsAsJSON())
        if (metric.name.startsWith('x_process_cpu_')) values[metric.name] = metric.values[0]?.value ?? NaN;
      return values;
    };
    await read();
    const spinUntil = process.cpuUsage().user + 20_000;
    while (process.cpuUsage().user < spinUntil) Math.sqrt(Math.random());
    const after = await read();
    expect(after['x_process_cpu_user_seconds_total']).toBeGreaterThanOrEqual(0.02);
    expect(after['x_process_cpu_seconds_total']).toBeCloseTo(
      (after['x_process_cpu_user_seconds_total'] ?? 0) + (after['x_process_cpu_system_seconds_total'] ?? 0),
      6,
    );
  });
});
