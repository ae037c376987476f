/**
 * The inventory against a real Postgres: concurrent database creation from many "sidecars", the connection
 * bound whatever the number of buckets, hostile bucket names, and a tracker that starts while Postgres is
 * unreachable.
 */
import crypto from 'node:crypto';

import { Client, type QueryResultRow } from 'pg';

import { databaseNameFor } from '../../proxy/src/inventory/naming';
import { ControlConnection } from '../../proxy/src/inventory/control-connection';
import { CONTROL_DATABASE } from '../../proxy/src/inventory/control-schema';
import {
  APPLICATION_NAMES,
  DEFAULT_POOL_LIMITS,
  InventoryPools,
  urlForDatabase,
  withClient,
} from '../../proxy/src/inventory/pools';
import { MIGRATIONS } from '../../proxy/src/inventory/schema';
import { createLogger } from '../../proxy/src/log';
import { createMetrics } from '../../proxy/src/metrics';
import { createWriteTracker } from '../../proxy/src/tracking';
import { refusedPort } from '../harness/free-port';
import { queryDatabase } from '../harness/inventory-rows';
import { controls, loadServices, type TestServices } from '../harness/services';
import { startTcpFaultProxy } from '../harness/tcp-fault-proxy';
import { pollUntil, sleep } from '../harness/wait';
import { staticCredentials } from '../../proxy/src/credentials';

const services: TestServices = loadServices();
const logger = createLogger('off');
const rnd = (): string => crypto.randomBytes(4).toString('hex');

function withAppName(url: string, name: string): string {
  const u = new URL(url);
  u.searchParams.set('application_name', name);
  return u.toString();
}

const adminQuery = <T extends QueryResultRow>(sql: string, params: unknown[] = []): Promise<T[]> =>
  queryDatabase<T>(services, undefined, sql, params);

test('20 sidecars creating the same bucket database at once all succeed; migrations applied once', async () => {
  const bucket = `race-${rnd()}`;
  const sidecars = Array.from({ length: 20 }, () => new InventoryPools(services.postgres.url, logger));
  try {
    const results = await Promise.allSettled(
      sidecars.map((p, i) =>
        p.withBucket(bucket, (pool) =>
          pool.query(
            `INSERT INTO files (path, size, content_type, last_modified) VALUES ($1, 1, 'x', now())`,
            [`k${i}`],
          ),
        ),
      ),
    );
    expect(results.filter((r) => r.status === 'rejected')).toEqual([]);
    const url = new URL(services.postgres.url);
    url.pathname = `/${databaseNameFor(bucket)}`;
    const pg = new Client({ connectionString: url.toString() });
    await pg.connect();
    try {
      const versions = (await pg.query('SELECT version FROM schema_migrations ORDER BY version')).rows;
      expect(versions.map((v: { version: number }) => v.version)).toEqual(MIGRATIONS.map((m) => m.version));
      expect((await pg.query('SELECT count(*)::int AS n FROM files')).rows[0].n).toBe(20);
      expect((await pg.query('SELECT bucket FROM s3_mirror_bucket')).rows).toEqual([{ bucket }]);
    } finally {
      await pg.end();
    }
  } finally {
    await Promise.all(sidecars.map((p) => p.close()));
  }
});

test('connections stay bounded whatever the number of buckets', async () => {
  const app = `bound-${rnd()}`;
  const pools = new InventoryPools(withAppName(services.postgres.url, app), logger);
  // The control connection, the admin pool while databases are created, and the bucket pools.
  const limit = 2 + DEFAULT_POOL_LIMITS.maxPools * DEFAULT_POOL_LIMITS.connectionsPerPool;
  let peak = 0;
  try {
    for (let i = 0; i < 30; i++) {
      await Promise.all(
        Array.from({ length: 3 }, () =>
          pools.withBucket(`bound-${i}-${app}`, (pool) => pool.query('SELECT pg_sleep(0.01)')),
        ),
      );
      const [row] = await adminQuery<{ n: number }>(
        'SELECT count(*)::int AS n FROM pg_stat_activity WHERE application_name = $1',
        [app],
      );
      peak = Math.max(peak, row!.n);
      expect(pools.openPools()).toBeLessThanOrEqual(DEFAULT_POOL_LIMITS.maxPools);
    }
    expect(peak).toBeGreaterThan(0);
    expect(peak).toBeLessThanOrEqual(limit);
    process.stderr.write(`[inventory-postgres] 30 buckets: peak ${peak} connections (bound ${limit})\n`);
  } finally {
    await pools.close();
  }
});

test('the sessions name themselves in pg_stat_activity (control, inventory) unless the URL names them', async () => {
  const bucket = `named-${rnd()}`;
  const pools = new InventoryPools(services.postgres.url, logger);
  try {
    pools.startListening();
    await pools.withBucket(bucket, (pool) => pool.query('SELECT 1'));
    const names = async (db: string): Promise<string[]> =>
      (
        await adminQuery<{ name: string }>(
          // Client sessions only: an autovacuum worker visiting the new database has no application_name.
          "SELECT DISTINCT application_name AS name FROM pg_stat_activity WHERE datname = $1 AND backend_type = 'client backend'",
          [db],
        )
      ).map((r) => r.name);
    expect(await names(databaseNameFor(bucket))).toEqual([APPLICATION_NAMES.bucket]);
    expect(await names(CONTROL_DATABASE)).toContain(APPLICATION_NAMES.control);
  } finally {
    await pools.close();
  }
  // The test above counts its sessions by the application_name its URL gives them: the URL wins.
});

test('a bucket pool reopened after an eviction just connects: no admin connection, no migration', async () => {
  const [a, b] = [`reopen-a-${rnd()}`, `reopen-b-${rnd()}`];
  const target = new URL(services.postgres.url);
  const forwarder = await startTcpFaultProxy(target.hostname, Number(target.port));
  const via = new URL(services.postgres.url);
  via.host = forwarder.address;
  const pools = new InventoryPools(via.toString(), logger, { ...DEFAULT_POOL_LIMITS, maxPools: 1 });
  try {
    const use = (bucket: string): Promise<unknown> =>
      pools.withBucket(bucket, (pool) => pool.query('SELECT 1'));
    await use(a);
    await use(b); // evicts a's pool
    const connections = forwarder.totalConnections;
    const chunks = forwarder.clientChunks;
    await use(a);
    // One connection (a's) and nothing to the admin database. Its chunks: startup, two SCRAM steps, the
    // statement, and b's evicted pool saying goodbye (a migration alone would add at least five).
    expect(forwarder.totalConnections - connections).toBe(1);
    expect(forwarder.clientChunks - chunks).toBeLessThanOrEqual(5);
  } finally {
    await pools.close();
    await forwarder.close();
  }
});

test('a pool in use keeps both connections (its second is not reopened at every overlap); a pool unused for idleMs closes', async () => {
  const bucket = `kept-${rnd()}`;
  const target = new URL(services.postgres.url);
  const forwarder = await startTcpFaultProxy(target.hostname, Number(target.port));
  const via = new URL(services.postgres.url);
  via.host = forwarder.address;
  const pools = new InventoryPools(via.toString(), logger, {
    ...DEFAULT_POOL_LIMITS,
    idleMs: 400,
    connectionIdleMs: 60_000,
  });
  const overlap = (): Promise<unknown> =>
    Promise.all([0, 1].map(() => pools.withBucket(bucket, (pool) => pool.query('SELECT pg_sleep(0.05)'))));
  try {
    await overlap();
    const opened = forwarder.totalConnections;
    // The bucket stays in use (a statement every 100 ms, on one connection) while the second connection
    // idles for three times idleMs between overlaps: as the connections' idle timeout, idleMs closed it and
    // the next overlap opened it again.
    for (let round = 0; round < 3; round++) {
      for (let i = 0; i < 12; i++) {
        await pools.withBucket(bucket, (pool) => pool.query('SELECT 1'));
        await sleep(100);
      }
      await overlap();
    }
    expect(forwarder.totalConnections - opened).toBe(0);
    await pollUntil('the unused pool to close', async () => pools.openPools() === 0);
    // The control connection (the database was looked up and created over it) stays.
    await pollUntil('its connections to end', async () => forwarder.activeConnections === 1);
  } finally {
    await pools.close();
    await forwarder.close();
  }
});

test('a bucket database dropped under a running sidecar is made again at its next use, the use not failed', async () => {
  const bucket = `dropped-${rnd()}`;
  const pools = new InventoryPools(services.postgres.url, logger, { ...DEFAULT_POOL_LIMITS, idleMs: 200 });
  try {
    const count = (): Promise<number> =>
      pools.withBucket(
        bucket,
        async (pool) => (await pool.query<{ n: number }>('SELECT count(*)::int AS n FROM files')).rows[0]!.n,
      );
    await pools.withBucket(bucket, (pool) =>
      pool.query(`INSERT INTO files (path, size, content_type, last_modified) VALUES ('k', 1, 'x', now())`),
    );
    expect(await count()).toBe(1);
    await sleep(500); // its idle connections closed
    await adminQuery(`DROP DATABASE ${databaseNameFor(bucket)} WITH (FORCE)`);
    expect(await count()).toBe(0);
  } finally {
    await pools.close();
  }
});

test('the control connection sends one statement at a time, in call order (no pg-queued overlap)', async () => {
  const connection = new ControlConnection({
    url: urlForDatabase(services.postgres.url, 'postgres'),
    connectTimeoutMs: 5_000,
    queryTimeoutMs: 15_000,
    logger,
  });
  const original = Client.prototype.query;
  let inFlight = 0;
  let most = 0;
  const spy = jest.spyOn(Client.prototype, 'query').mockImplementation(function (
    this: Client,
    ...args: unknown[]
  ) {
    inFlight++;
    most = Math.max(most, inFlight);
    const done = (): void => void inFlight--;
    const result = (original as (...a: unknown[]) => unknown).apply(this, args);
    if (result instanceof Promise) void result.then(done, done);
    else done();
    return result as never;
  });
  try {
    const order: number[] = [];
    await Promise.all(
      Array.from({ length: 10 }, (_, i) =>
        connection
          .query<{ i: number }>('SELECT $1::int AS i, pg_sleep(0.01)', [i])
          .then((r) => order.push(r.rows[0]!.i)),
      ),
    );
    expect(order).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
    expect(most).toBe(1);
  } finally {
    spy.mockRestore();
    await connection.close();
  }
});

test('hostile bucket names: distinct safe databases, the raw name stored as data', async () => {
  const names = [
    `x"; DROP DATABASE postgres; --${rnd()}`,
    `it's-${rnd()}`,
    `ünï-${rnd()}`,
    `a.b-${rnd()}`,
    `a-b-${rnd()}`,
  ];
  const pools = new InventoryPools(services.postgres.url, logger);
  try {
    for (const n of names) await pools.withBucket(n, (pool) => pool.query('SELECT 1'));
    const dbs = await pools.listBucketDatabases();
    for (const n of names) {
      const db = databaseNameFor(n);
      expect(dbs.map((d) => d.db)).toContain(db);
      expect(await pools.bucketOf(db)).toBe(n);
    }
    const [pg] = await adminQuery<{ n: number }>(
      `SELECT count(*)::int AS n FROM pg_database WHERE datname = 'postgres'`,
    );
    expect(pg!.n).toBe(1);
  } finally {
    await pools.close();
  }
});

test('a tracker starts with Postgres unreachable, keeps a bounded queue, and never throws from record()', async () => {
  const port = await refusedPort();
  const metrics = createMetrics();
  const t = createWriteTracker({
    config: {
      main: {
        url: new URL(services.ceph.mainEndpoint),
        region: services.ceph.region,
        credentials: staticCredentials('main', services.ceph.main),
      },
      mirror: {
        url: new URL(services.ceph.mirrorEndpoint),
        region: services.ceph.region,
        credentials: staticCredentials('mirror', services.ceph.mirror),
      },
      mirrorBucketTemplate: '{bucket}',
      postgresUrl: `postgres://nobody:pw@127.0.0.1:${port}/postgres`,
      logLevel: 'off',
      listen: { host: '127.0.0.1', port: 0 },
      admin: { host: '127.0.0.1', port: 0 },
      virtualHostBases: [],
      allowedBuckets: [],
      clientIdleTimeoutMs: 1000,
      shutdownGraceMs: 2000,
      pendingMemoryLimit: 5,
      mirrorConcurrency: 1,
      stateDir: { kind: 'off' },
      mirrorMaxAttempts: 15,
      deletePolicy: { kind: 'mirror' },
      antiEntropy: { intervalSeconds: 0, requestsPerSecond: 10, settleSeconds: 60 },
    },
    logger,
    metrics,
    tuning: { idlePollMs: 100 },
  });
  await t.start();
  try {
    for (let i = 0; i < 8; i++) {
      t.sink.record({
        bucket: 'nowhere',
        key: `k${i}`,
        kind: 'put',
        operation: 'PutObject',
        acknowledgedAt: new Date(),
      });
    }
    await pollUntil('tracker reports Postgres down', async () => !t.status().postgresReachable, {
      timeoutMs: 30_000,
    });
    expect(t.status()).toMatchObject({ memoryQueue: 5, memoryQueueOverflow: 3 });
    const failures = await metrics.registry.getSingleMetric('s3mirror_inventory_write_failures_total')!.get();
    expect(failures.values[0]!.value).toBeGreaterThanOrEqual(3);
  } finally {
    await t.stop();
  }
  expect(t.status().running).toBe(false);
});

test('a checked-out client whose connection the server ends between two queries neither crashes the process nor goes back to the pool', async () => {
  const pools = new InventoryPools(services.postgres.url, logger);
  const bucket = `term-${rnd()}`;
  try {
    await pools.withBucket(bucket, (pool) =>
      withClient(pool, async (client) => {
        const pid = (await client.query<{ pid: number }>('SELECT pg_backend_pid() AS pid')).rows[0]!.pid;
        const ended = new Promise((resolve) => client.once('end', resolve));
        // What a Postgres restart does to every connection: without a listener the 'error' event that
        // follows is unhandled and ends the process.
        await adminQuery('SELECT pg_terminate_backend($1)', [pid]);
        await ended;
      }),
    );
    const r = await pools.withBucket(bucket, (pool) => pool.query<{ one: number }>('SELECT 1 AS one'));
    expect(r.rows[0]!.one).toBe(1);
  } finally {
    await pools.close();
  }
});

test('pools churning over more buckets than maxPools survive Postgres restarts: every call settles, and all work after', async () => {
  if (!services.postgres.controllable) return; // POSTGRES_URL: the harness cannot stop that server
  const ctl = controls(services);
  // 12 buckets over 2 pools: pools are opened and closed all the time, so new connections meet the shutdown.
  // Before withClient attached its listener inside pool.connect's callback, this crashed the process
  // within a few restarts (a FATAL in the same read as ReadyForQuery).
  const pools = new InventoryPools(services.postgres.url, logger, {
    ...DEFAULT_POOL_LIMITS,
    maxPools: 2,
    connectionsPerPool: 1,
  });
  const buckets = Array.from({ length: 12 }, (_, i) => `churn-${i}-${rnd()}`);
  let stop = false;
  const outcomes = { ok: 0, failed: 0 };
  const worker = async (i: number): Promise<void> => {
    for (let n = 0; !stop; n++) {
      const bucket = buckets[(i + n) % buckets.length]!;
      try {
        if (i % 3 === 0) {
          await pools.withBucket(bucket, (pool) =>
            withClient(pool, async (client) => {
              await client.query('BEGIN');
              await client.query('SELECT pg_sleep(0.002)');
              await client.query('COMMIT');
            }),
          );
        } else {
          await pools.withBucket(bucket, (pool) => pool.query('SELECT pg_sleep(0.003)'));
        }
        outcomes.ok++;
      } catch {
        outcomes.failed++;
        await sleep(20);
      }
    }
  };
  const workers = Array.from({ length: 24 }, (_, i) => worker(i));
  try {
    for (let cycle = 0; cycle < 10; cycle++) {
      await sleep(700 + Math.random() * 800);
      await ctl.stopPostgres();
      await sleep(300 + Math.random() * 700);
      await ctl.startPostgres();
    }
    stop = true;
    await Promise.all(workers);
    expect(outcomes.ok).toBeGreaterThan(0);
    expect(outcomes.failed).toBeGreaterThan(0); // the restarts really hit the workers
    // Afterwards every bucket answers through the same pools.
    for (const bucket of buckets) {
      const r = await pools.withBucket(bucket, (pool) => pool.query<{ one: number }>('SELECT 1 AS one'));
      expect(r.rows[0]!.one).toBe(1);
    }
  } finally {
    stop = true;
    await ctl.startPostgres().catch(() => undefined);
    await Promise.all(workers);
    await pools.close();
  }
}, 120_000);
