import { createServer, request, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

import { createAdminHandler } from '../../src/http/admin-server';
import { Counter, Registry } from '../../src/prometheus';

interface Answer {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
}

describe('admin server', () => {
  let server: Server;
  let port: number;
  let ready = false;
  let metricsFail = false;

  beforeAll(async () => {
    const registry = new Registry();
    new Counter({ name: 'x_things_total', help: 'things', registers: [registry] }).inc(3);
    const failing = new Registry();
    failing.registerMetric(
      new Counter({
        name: 'x_broken_total',
        help: 'a collector that throws',
        registers: [],
        collect() {
          if (metricsFail) throw new Error('collector broke');
        },
      }),
    );
    const merged = Registry.merge([registry, failing]);
    server = createServer(
      createAdminHandler(merged, { ready: () => ready, details: () => ({ inventory: 'ok' }) }),
    );
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    port = (server.address() as AddressInfo).port;
  });
  afterAll(async () => {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  });

  const call = (method: string, path: string): Promise<Answer> =>
    new Promise((resolve, reject) => {
      const req = request({ host: '127.0.0.1', port, method, path }, (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => (body += chunk));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
      });
      req.on('error', reject);
      req.end();
    });

  it('answers /healthz with ok', async () => {
    const answer = await call('GET', '/healthz');
    expect(answer).toMatchObject({ status: 200, body: 'ok\n' });
    expect(answer.headers['content-type']).toMatch(/^text\/plain/);
  });

  it('answers /readyz 503 until ready, then 200, with the details', async () => {
    ready = false;
    const before = await call('GET', '/readyz');
    expect(before.status).toBe(503);
    expect(JSON.parse(before.body)).toEqual({ ready: false, inventory: 'ok' });
    ready = true;
    const after = await call('GET', '/readyz?verbose=1');
    expect(after.status).toBe(200);
    expect(after.headers['content-type']).toMatch(/^application\/json/);
    expect(JSON.parse(after.body)).toEqual({ ready: true, inventory: 'ok' });
  });

  it('serves the registry in the Prometheus text format', async () => {
    metricsFail = false;
    const answer = await call('GET', '/metrics');
    expect(answer.status).toBe(200);
    expect(answer.headers['content-type']).toBe(new Registry().contentType);
    expect(answer.body).toContain('x_things_total 3');
  });

  it('answers 500 when a collector fails, and keeps serving', async () => {
    metricsFail = true;
    const answer = await call('GET', '/metrics');
    expect(answer.status).toBe(500);
    expect(answer.body).toContain('collector broke');
    metricsFail = false;
    expect((await call('GET', '/healthz')).status).toBe(200);
  });

  it('answers HEAD without a body, other methods 405, other paths 404', async () => {
    const head = await call('HEAD', '/healthz');
    expect(head).toMatchObject({ status: 200, body: '' });
    expect(head.headers['content-length']).toBe('3');
    const post = await call('POST', '/healthz');
    expect(post.status).toBe(405);
    expect(post.headers['allow']).toBe('GET, HEAD');
    expect((await call('GET', '/nothing')).status).toBe(404);
    expect((await call('GET', '/healthz/extra')).status).toBe(404);
  });
});
