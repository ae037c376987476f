import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

import { startCeph, type CephCluster } from './ceph';
import { startPostgres, type PostgresServer } from './postgres';
import { startSignatureAuditRelay, type SignatureAuditRelay } from './signature-audit';
import { SERVICES_ENV, startControlServer, type TestServices } from './services';

/** What teardown needs; kept on globalThis (global setup and teardown run in the same realm). */
export interface HarnessState {
  ceph?: CephCluster;
  postgres?: PostgresServer;
  control?: { close(): Promise<void> };
  signatureAudit?: SignatureAuditRelay;
  servicesFile?: string;
}
export const HARNESS_KEY = '__s3mHarness';

export default async function globalSetup(): Promise<void> {
  const state: HarnessState = {};
  (globalThis as Record<string, unknown>)[HARNESS_KEY] = state;
  const log = (line: string): void => void process.stderr.write(`[harness] ${line}\n`);

  const [ceph, postgres] = await Promise.allSettled([
    // Room for the 1 GiB streaming test on main and mirror plus everything else; memory is used only as written.
    startCeph({ memstoreBytes: 8 * 1024 ** 3 }),
    startPostgres(),
  ]);
  if (ceph.status === 'fulfilled') state.ceph = ceph.value;
  if (postgres.status === 'fulfilled') state.postgres = postgres.value;
  if (ceph.status === 'rejected' || postgres.status === 'rejected') {
    await state.ceph?.stop().catch(() => undefined);
    await state.postgres?.destroy().catch(() => undefined);
    throw ceph.status === 'rejected' ? ceph.reason : (postgres as PromiseRejectedResult).reason;
  }
  const c = ceph.value;
  const pg = postgres.value;
  log(`Ceph RGW up in ${c.bringUpMs} ms (main ${c.mainEndpoint}, mirror ${c.mirrorEndpoint})`);
  log(pg.controllable ? `embedded Postgres up in ${pg.bringUpMs} ms` : 'Postgres from POSTGRES_URL');

  // Every proxy the harness starts reaches main through it (see signature-audit.ts).
  state.signatureAudit = await startSignatureAuditRelay(c.mainEndpoint);

  const token = crypto.randomBytes(16).toString('hex');
  const control = await startControlServer(
    {
      'mirror-gateway/stop': () => c.stopMirrorGateway(),
      'mirror-gateway/start': () => c.startMirrorGateway(),
      'postgres/stop': () => pg.stop(),
      'postgres/start': () => pg.start(),
      'postgres/restart': () => pg.restart(),
    },
    token,
  );
  state.control = control;

  const services: TestServices = {
    ceph: {
      mainEndpoint: c.mainEndpoint,
      proxyMainEndpoint: state.signatureAudit.url,
      mirrorEndpoint: c.mirrorEndpoint,
      region: c.region,
      main: c.main,
      mirror: c.mirror,
      mirrorTenant: c.mirrorTenant,
      conf: c.conf,
    },
    postgres: { url: pg.url, controllable: pg.controllable },
    control: { url: control.url, token },
    bringUpMs: { ceph: c.bringUpMs, postgres: pg.bringUpMs },
  };
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 's3m-services-'));
  state.servicesFile = path.join(dir, 'services.json');
  fs.writeFileSync(state.servicesFile, JSON.stringify(services, null, 2), { mode: 0o600 });
  process.env[SERVICES_ENV] = state.servicesFile;
}
