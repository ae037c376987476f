/**
 * The proxy behind PgBouncer in transaction pooling mode (Debian 12's pgbouncer 1.18, issue 15): two proxy
 * processes whose POSTGRES_URL is the bouncer in front of the test Postgres (every bucket database is
 * created through the bouncer; so is the control database `s3_mirror` when this file runs first, as it
 * does alone). Notifications do not pass transaction pooling, so work that no live writer looks
 * after can only be found by the hint poll: proxy B writes to a bucket proxy A never writes to, cannot
 * reach its mirror, and stops; A must mirror B's writes. Every scenario ends with three-way equality of
 * main, mirror and the inventory rows, and neither proxy logs an error.
 */
import crypto from 'node:crypto';

import {
  CreateBucketCommand,
  DeleteObjectCommand,
  DeleteObjectsCommand,
  PutObjectCommand,
  type S3Client,
} from '@aws-sdk/client-s3';

import { CONTROL_DATABASE } from '../../proxy/src/inventory/control-schema';
import { databaseNameFor } from '../../proxy/src/inventory/naming';
import { inventoryRows, queryDatabase } from '../harness/inventory-rows';
import { nonJsonLines } from '../harness/json-lines';
import { startPgBouncer, type PgBouncer } from '../harness/pgbouncer';
import { appClient, directClient, proxyEnv, startProxyProcess, type ProxyInstance } from '../harness/proxy';
import { loadServices, type TestServices } from '../harness/services';
import { startTcpFaultProxy, type TcpFaultProxy } from '../harness/tcp-fault-proxy';
import { waitForThreeWayEqual } from '../harness/three-way';
import { pollUntil } from '../harness/wait';

jest.setTimeout(300_000);

const services: TestServices = loadServices();
const rnd = crypto.randomBytes(3).toString('hex');
const main = directClient(services.ceph.mainEndpoint, services.ceph.main);

let bouncer: PgBouncer | undefined;
let mirrorCut: TcpFaultProxy | undefined;
const proxies: ProxyInstance[] = [];
const apps: S3Client[] = [];

beforeAll(async () => {
  bouncer = await startPgBouncer(services.postgres.url, { poolMode: 'transaction' });
});

afterAll(async () => {
  for (const a of apps) a.destroy();
  main.destroy();
  await Promise.all(proxies.map((p) => p.stop()));
  await mirrorCut?.close();
  await bouncer?.stop();
});

async function startBehindBouncer(overrides: Record<string, string> = {}): Promise<ProxyInstance> {
  const proxy = await startProxyProcess(
    proxyEnv(services, {
      POSTGRES_URL: bouncer!.url,
      // Only this file's buckets: in a full run, other files' leftover work (a parked row logs at error
      // level) would reach these proxies through the shared Postgres.
      ALLOWED_BUCKETS: `pgb-a-${rnd},pgb-b-${rnd}`,
      ...overrides,
    }),
  );
  proxies.push(proxy);
  return proxy;
}

function app(proxy: ProxyInstance): S3Client {
  const a = appClient(proxy.url);
  apps.push(a);
  return a;
}

/** Lines the proxy logged at error level, and lines that are not JSON at all. */
function badLines(proxy: ProxyInstance): string[] {
  const out = proxy.process.output();
  const errors = out
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .filter((l) => (JSON.parse(l) as { level?: string }).level === 'error');
  return [...errors, ...nonJsonLines(out)];
}

describe('behind PgBouncer 1.18 in transaction pooling mode', () => {
  let proxyA: ProxyInstance;
  const bucketA = `pgb-a-${rnd}`;
  const bucketB = `pgb-b-${rnd}`;

  it('the bouncer pools by transaction, and the proxy starts on a fresh server through it', async () => {
    const config = await bouncer!.admin<{ key: string; value: string }>('SHOW CONFIG');
    expect(config.find((c) => c.key === 'pool_mode')?.value).toBe('transaction');
    const [version] = await bouncer!.admin<{ version: string }>('SHOW VERSION');
    expect(version?.version).toMatch(/^PgBouncer \d+\.\d+/);

    proxyA = await startBehindBouncer();
    // The control database was created through the bouncer (the proxy knows no other way to Postgres).
    await pollUntil('the control database, migrated', async () => {
      const rows = await queryDatabase<{ version: number }>(
        services,
        CONTROL_DATABASE,
        'SELECT version FROM schema_migrations',
      ).catch(() => []);
      return rows.length > 0;
    });
  });

  it("a proxy's own PUTs and DELETEs reach the mirror and the inventory", async () => {
    await main.send(new CreateBucketCommand({ Bucket: bucketA }));
    const a = app(proxyA);
    for (let i = 0; i < 8; i++) {
      await a.send(new PutObjectCommand({ Bucket: bucketA, Key: `k${i}`, Body: `body ${i}` }));
    }
    await a.send(new PutObjectCommand({ Bucket: bucketA, Key: 'k1', Body: 'overwritten' }));
    await a.send(new DeleteObjectCommand({ Bucket: bucketA, Key: 'k2' }));
    await a.send(
      new DeleteObjectsCommand({ Bucket: bucketA, Delete: { Objects: [{ Key: 'k3' }, { Key: 'k4' }] } }),
    );
    await waitForThreeWayEqual(services, bucketA);
    const rows = await inventoryRows(services, bucketA);
    expect([...rows.values()].filter((r) => !r.deleted).map((r) => r.path)).toEqual([
      'k0',
      'k1',
      'k5',
      'k6',
      'k7',
    ]);
    expect(['k2', 'k3', 'k4'].map((k) => rows.get(k)?.deleted)).toEqual([true, true, true]);
  });

  it("another proxy's writes, left to anyone, are found by the hint poll (no notification passes)", async () => {
    // Proxy B reaches its mirror through a forwarder that is cut once B is up: B records its writes but
    // cannot copy them, then stops, handing them to anyone. A never wrote to this bucket.
    const mirror = new URL(services.ceph.mirrorEndpoint);
    mirrorCut = await startTcpFaultProxy(mirror.hostname, Number(mirror.port));
    const proxyB = await startBehindBouncer({ MIRROR_S3_ENDPOINT: `http://${mirrorCut.address}` });
    mirrorCut.cut();
    await main.send(new CreateBucketCommand({ Bucket: bucketB }));
    const b = app(proxyB);
    for (let i = 0; i < 5; i++) {
      await b.send(new PutObjectCommand({ Bucket: bucketB, Key: `b${i}`, Body: `from B ${i}` }));
    }
    await b.send(new DeleteObjectCommand({ Bucket: bucketB, Key: 'b0' }));
    await pollUntil('B to record its writes in Postgres', async () => {
      const rows = await inventoryRows(services, bucketB);
      return rows.size === 5 && [...rows.values()].every((r) => !r.is_backed_up);
    });
    await proxyB.stop();
    expect(badLines(proxyB)).toEqual([]);

    await waitForThreeWayEqual(services, bucketB);
    const rows = await inventoryRows(services, bucketB);
    expect([...rows.values()].filter((r) => !r.deleted).map((r) => r.path)).toEqual(['b1', 'b2', 'b3', 'b4']);
    expect(rows.get('b0')?.deleted).toBe(true);
  });

  it('leaves no session state behind: no advisory lock held, the backfill done and its lease given back', async () => {
    // In the bouncer's server sessions, which outlive the client connections that used them.
    const servers = await bouncer!.admin<{ remote_pid: string }>('SHOW SERVERS');
    expect(servers.length).toBeGreaterThan(0);
    const locks = await queryDatabase(
      services,
      undefined,
      "SELECT pid, objid FROM pg_locks WHERE locktype = 'advisory' AND pid = ANY($1::int[])",
      [servers.map((s) => Number(s.remote_pid))],
    );
    expect(locks).toEqual([]);
    const [state] = await queryDatabase<{ done: boolean; owner: string | null }>(
      services,
      CONTROL_DATABASE,
      'SELECT backfilled_at IS NOT NULL AS done, backfill_owner AS owner FROM control_state',
    );
    expect(state).toEqual({ done: true, owner: null });
    // Every database the proxies used went through the bouncer's transaction pools.
    const pools = await bouncer!.admin<{ database: string; pool_mode: string }>('SHOW POOLS');
    const used = new Set(pools.map((p) => p.database));
    for (const db of [CONTROL_DATABASE, databaseNameFor(bucketA), databaseNameFor(bucketB)]) {
      expect(used.has(db)).toBe(true);
    }
    expect(new Set(pools.filter((p) => p.database !== 'pgbouncer').map((p) => p.pool_mode))).toEqual(
      new Set(['transaction']),
    );
  });

  it('the proxy logged no error, and only JSON lines', () => {
    expect(badLines(proxyA)).toEqual([]);
  });
});
