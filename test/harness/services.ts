/**
 * Shared real services for the integration tests.
 *
 * How tests get them:
 * - jest-global-setup.ts starts ONE Ceph cluster (two gateways: main and mirror) and ONE Postgres server
 *   for the whole `integration` project, writes a JSON `TestServices` to a temp file and sets
 *   `process.env.S3M_TEST_SERVICES` to its path. Test files call `loadServices()`.
 * - Control handles (stop/start the mirror gateway, stop/start/restart Postgres) cannot be passed through
 *   `globalThis`: test files run in their own vm context, not the global-setup realm. So global setup also
 *   runs a tiny HTTP control server on 127.0.0.1 (random port, random token) in the jest main process and
 *   `controls(services)` calls it. This works with --runInBand (same process, `npm test`) and with
 *   worker processes alike.
 * - A test that stops a shared service MUST start it again (try/finally). Under parallel workers such a
 *   test would disturb other files; `npm test` runs --runInBand. A test that needs an outage without
 *   touching shared state can instead start private instances with `startCeph()` / `startPostgres({embedded:
 *   true})`, or put a `startTcpFaultProxy()` in front of a shared service.
 * - With POSTGRES_URL set, Postgres stop/start/restart throw (the control server answers 501).
 */
import fs from 'node:fs';
import http from 'node:http';

import type { S3Credentials } from './ceph';

export interface TestServices {
  ceph: {
    mainEndpoint: string;
    /** Main through the signature audit relay: what harness proxies use as MAIN_S3_ENDPOINT. */
    proxyMainEndpoint: string;
    mirrorEndpoint: string;
    region: string;
    main: S3Credentials;
    mirror: S3Credentials;
    /** Tenant of the mirror user. */
    mirrorTenant: string;
    /** ceph.conf of the cluster, for `radosgw-admin -c` (keys created and removed by a test). */
    conf: string;
  };
  postgres: {
    /** postgres://…@127.0.0.1:PORT/postgres */
    url: string;
    /** false when the server comes from POSTGRES_URL (no stop/restart). */
    controllable: boolean;
  };
  control: { url: string; token: string };
  bringUpMs: { ceph: number; postgres: number };
}

export const SERVICES_ENV = 'S3M_TEST_SERVICES';

export function loadServices(): TestServices {
  const file = process.env[SERVICES_ENV];
  if (!file) {
    throw new Error(
      `${SERVICES_ENV} is not set: integration tests need the jest global setup (run them with ` +
        '`npx jest --selectProjects integration` or `npm test`)',
    );
  }
  return JSON.parse(fs.readFileSync(file, 'utf8')) as TestServices;
}

export type ControlAction =
  'mirror-gateway/stop' | 'mirror-gateway/start' | 'postgres/stop' | 'postgres/start' | 'postgres/restart';

export interface ServiceControls {
  stopMirrorGateway(): Promise<void>;
  startMirrorGateway(): Promise<void>;
  stopPostgres(): Promise<void>;
  startPostgres(): Promise<void>;
  restartPostgres(): Promise<void>;
}

function post(control: TestServices['control'], action: ControlAction): Promise<void> {
  return new Promise((resolve, reject) => {
    const req = http.request(
      `${control.url}/${action}`,
      { method: 'POST', headers: { authorization: `Bearer ${control.token}` }, agent: false },
      (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (c: string) => (body += c));
        res.on('end', () => {
          if (res.statusCode === 204) resolve();
          else reject(new Error(`harness control ${action} failed (${res.statusCode}): ${body}`));
        });
      },
    );
    req.on('error', reject);
    req.end();
  });
}

export function controls(services: TestServices = loadServices()): ServiceControls {
  return {
    stopMirrorGateway: () => post(services.control, 'mirror-gateway/stop'),
    startMirrorGateway: () => post(services.control, 'mirror-gateway/start'),
    stopPostgres: () => post(services.control, 'postgres/stop'),
    startPostgres: () => post(services.control, 'postgres/start'),
    restartPostgres: () => post(services.control, 'postgres/restart'),
  };
}

/** Serves `controls()` requests; used by the global setup. */
export async function startControlServer(
  handlers: Record<ControlAction, () => Promise<void>>,
  token: string,
): Promise<{ url: string; close(): Promise<void> }> {
  const server = http.createServer((req, res) => {
    const action = (req.url ?? '').replace(/^\//, '') as ControlAction;
    const handler = Object.prototype.hasOwnProperty.call(handlers, action) ? handlers[action] : undefined;
    req.resume();
    if (req.method !== 'POST' || req.headers.authorization !== `Bearer ${token}` || !handler) {
      res.writeHead(404).end('no such control action');
      return;
    }
    handler().then(
      () => res.writeHead(204).end(),
      (err: unknown) =>
        res
          .writeHead(/not supported/.test(String(err)) ? 501 : 500, { 'content-type': 'text/plain' })
          .end(err instanceof Error ? err.message : String(err)),
    );
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  server.unref();
  const address = server.address();
  if (!address || typeof address !== 'object') throw new Error('control server: no address');
  return {
    url: `http://127.0.0.1:${address.port}`,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
