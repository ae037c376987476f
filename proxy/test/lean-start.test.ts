/**
 * The proxy loads only the parts of undici and prom-client it runs, and no web framework
 * (types/dependency-parts.d.ts): with express, their indexes cost an idle proxy 8.5 MB of RSS (bench notes).
 */
const mockLoaded: string[] = [];
for (const name of ['undici', 'prom-client', 'express', '@opentelemetry/api'])
  jest.mock(name, () => {
    mockLoaded.push(name);
    return jest.requireActual(name);
  });

import { Pool } from '../src/http/undici-pool';
import { createMetrics } from '../src/metrics';
import '../src/app';
import '../src/tracking';

test('starting the proxy loads neither undici’s nor prom-client’s index, nor express', async () => {
  const metrics = createMetrics();
  expect(await metrics.registry.metrics()).toContain('s3mirror_proxy_process_cpu_seconds_total');
  expect(mockLoaded).toEqual([]);
});

test('the pool has the request method undici’s index would have given it', async () => {
  const pool = new Pool('http://127.0.0.1:9');
  expect(typeof pool.request).toBe('function');
  // Refused at once (port 9, discard): the method dispatches, it is not a stub.
  await expect(pool.request({ method: 'GET', path: '/' })).rejects.toThrow(/ECONNREFUSED/);
  await pool.close();
  expect(mockLoaded).toEqual([]);
});
