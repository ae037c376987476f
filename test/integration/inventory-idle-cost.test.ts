/**
 * What an idle sidecar costs the shared Postgres when it knows hundreds of bucket databases (issue 15): the
 * proxy process, in front of Postgres through a TCP forwarder that counts its connections, serves 300
 * buckets that exist on main and each have an inventory database: most fully mirrored, some with a write
 * waiting out a long retry backoff. Once it has looked at each (discovery, the first look at every scan
 * state, the backoffs settled into the hints), a window of idleness is measured from Postgres's own
 * counters (pg_stat_database: sessions, transactions) and at the forwarder: one connection open (the
 * control database's), no new one, no new session, and at most one statement a second. Counts, not times.
 */
import crypto from 'node:crypto';

import { CreateBucketCommand } from '@aws-sdk/client-s3';

import { CONTROL_DATABASE } from '../../proxy/src/inventory/control-schema';
import { databaseNameFor } from '../../proxy/src/inventory/naming';
import { InventoryPools } from '../../proxy/src/inventory/pools';
import { InventoryRepository } from '../../proxy/src/inventory/repository';
import { createLogger } from '../../proxy/src/log';
import { queryDatabase } from '../harness/inventory-rows';
import { directClient, proxyEnv, startProxyProcess, type ProxyInstance } from '../harness/proxy';
import { tempStateDir } from '../harness/proxies';
import { loadServices } from '../harness/services';
import { startTcpFaultProxy, type TcpFaultProxy } from '../harness/tcp-fault-proxy';
import { pollUntil } from '../harness/wait';

jest.setTimeout(600_000);

const services = loadServices();
const rnd = crypto.randomBytes(3).toString('hex');
const BUCKETS = 300;
const IN_BACKOFF = 30;
const WINDOW_MS = 30_000;
const names = Array.from({ length: BUCKETS }, (_, i) => `idle-${rnd}-${i}`);
const backoff = new Set(names.slice(0, IN_BACKOFF));
const main = directClient(services.ceph.mainEndpoint, services.ceph.main);

let forwarder: TcpFaultProxy | undefined;
let proxy: ProxyInstance | undefined;

afterAll(async () => {
  await proxy?.stop();
  await forwarder?.close();
  main.destroy();
  await leaveNothingPending();
});

/**
 * The writes left waiting out their backoff would count as pending for every later sidecar in the run
 * that takes these buckets over (their gauges would never return to 0): mark them done.
 */
async function leaveNothingPending(): Promise<void> {
  for (const bucket of backoff) {
    await queryDatabase(
      services,
      databaseNameFor(bucket),
      'UPDATE files SET is_backed_up = true, pending_since = NULL',
    );
  }
  await queryDatabase(
    services,
    CONTROL_DATABASE,
    'UPDATE mirror_work SET due_at = NULL, pending = 0, oldest_pending = NULL WHERE bucket = ANY($1)',
    [[...backoff]],
  );
}

/** Sessions and committed transactions so far: in the control database, and summed over ours. */
async function counters(): Promise<{ controlXacts: number; bucketXacts: number; sessions: number }> {
  const dbs = names.map(databaseNameFor);
  const [row] = await queryDatabase<{ control_xacts: string; bucket_xacts: string; sessions: string }>(
    services,
    undefined,
    `SELECT sum(xact_commit + xact_rollback) FILTER (WHERE datname = $1)::text AS control_xacts,
            sum(xact_commit + xact_rollback) FILTER (WHERE datname = ANY($2))::text AS bucket_xacts,
            sum(sessions)::text AS sessions
     FROM pg_stat_database WHERE datname = $1 OR datname = ANY($2)`,
    [CONTROL_DATABASE, dbs],
  );
  return {
    controlXacts: Number(row!.control_xacts ?? 0),
    bucketXacts: Number(row!.bucket_xacts ?? 0),
    sessions: Number(row!.sessions ?? 0),
  };
}

/** 300 inventory databases: rows mirrored and scanned an instant ago, and some writes waiting an hour to retry. */
async function fillInventory(): Promise<void> {
  const pools = new InventoryPools(services.postgres.url, createLogger('off'));
  const inventory = new InventoryRepository(pools);
  try {
    for (const bucket of names) {
      await pools.withBucket(bucket, async (pool) => {
        await pool.query(
          `INSERT INTO files (path, size, content_type, last_modified, is_backed_up) VALUES ('k', 1, 'x', now(), true)`,
        );
        await pool.query(`UPDATE s3_mirror_scan SET last_complete_at = now() WHERE id = 1`);
      });
      if (backoff.has(bucket)) {
        await inventory.recordWrites(bucket, [
          { bucket, key: 'retry', kind: 'put', operation: 'PutObject', acknowledgedAt: new Date(), size: 1 },
        ]);
        await pools.withBucket(bucket, (pool) =>
          pool.query(
            `UPDATE files SET attempts = 3, next_attempt_at = now() + interval '1 hour' WHERE path = 'retry'`,
          ),
        );
      }
    }
  } finally {
    await pools.close();
  }
}

test('an idle sidecar that knows 300 bucket databases opens no session and visits none of them', async () => {
  for (const bucket of names) await main.send(new CreateBucketCommand({ Bucket: bucket }));
  await fillInventory();

  const pg = new URL(services.postgres.url);
  forwarder = await startTcpFaultProxy(pg.hostname, Number(pg.port));
  const viaForwarder = new URL(services.postgres.url);
  viaForwarder.host = forwarder.address;
  proxy = await startProxyProcess(
    proxyEnv(services, {
      POSTGRES_URL: viaForwarder.toString(),
      // Only these buckets: late in a full run other tests' databases would add their own work.
      ALLOWED_BUCKETS: names.join(','),
      STATE_DIR: tempStateDir(),
      // The default: every bucket's scan state is looked at once, then not for an hour.
      SCAN_INTERVAL_SECONDS: '3600',
    }),
  );

  let waiting: Record<string, string> | undefined;
  process.stderr.write(`[inventory-idle-cost] inventory filled; proxy started\n`);
  // Settled: every bucket's scan state looked at once, every backoff moved into its hint.
  await pollUntil(
    'every bucket looked at once',
    async () => {
      [waiting] = await queryDatabase<{ unscanned: string; due: string; hints: string }>(
        services,
        CONTROL_DATABASE,
        `SELECT count(*) FILTER (WHERE scan_due_at IS NULL)::text AS unscanned,
                count(*) FILTER (WHERE due_at IS NOT NULL AND due_at <= now())::text AS due,
                count(*)::text AS hints
         FROM mirror_work WHERE bucket = ANY($1)`,
        [names],
      );
      return waiting?.unscanned === '0' && waiting.due === '0';
    },
    { timeoutMs: 240_000, describe: () => JSON.stringify(waiting) },
  );
  // Whatever was still under way (a pool closing, a stats flush) ends before the window opens.
  await new Promise((r) => setTimeout(r, 12_000));

  const before = await counters();
  const connectionsBefore = forwarder.totalConnections;
  const openAtStart = forwarder.activeConnections;
  const chunksBefore = forwarder.clientChunks;
  await new Promise((r) => setTimeout(r, WINDOW_MS));
  // Backends report their counters at most once a second and when idle: give the last ones time.
  await new Promise((r) => setTimeout(r, 2_000));
  const after = await counters();

  const report = {
    openAtStart,
    newConnections: forwarder.totalConnections - connectionsBefore,
    statementsSent: forwarder.clientChunks - chunksBefore,
    newSessions: after.sessions - before.sessions,
    bucketTransactions: after.bucketXacts - before.bucketXacts,
    controlTransactions: after.controlXacts - before.controlXacts,
    windowSeconds: WINDOW_MS / 1000,
  };
  process.stderr.write(`[inventory-idle-cost] ${BUCKETS} buckets idle: ${JSON.stringify(report)}\n`);
  // One connection open (the control database's) and none opened: no bucket database can have been
  // visited. (Their transaction counters still move: autovacuum visits 300 fresh databases, so they are
  // reported, not asserted.)
  expect(report.openAtStart).toBe(1);
  expect(report.newConnections).toBe(0);
  expect(report.newSessions).toBe(0);
  expect(report.statementsSent).toBeGreaterThan(0); // it does poll the hints
  expect(report.statementsSent).toBeLessThanOrEqual(WINDOW_MS / 1000);
  expect(report.controlTransactions).toBeLessThanOrEqual(WINDOW_MS / 1000);
});
