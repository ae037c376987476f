/**
 * Issue 11: a `stop()` that runs out of time forgets the loops still running, and a later `start()` of the same
 * tracker must not revive them next to its own. The tracker runs in this process with MIRROR_CONCURRENCY=1;
 * its Postgres is behind a TCP fault proxy that can stall, its mirror behind an HTTP fault proxy that counts
 * requests in flight.
 */
import crypto from 'node:crypto';

import { CreateBucketCommand, PutObjectCommand } from '@aws-sdk/client-s3';

import type { ProxyConfig } from '../../proxy/src/config';
import { CONTROL_DATABASE, MARK_DUE_SQL } from '../../proxy/src/inventory/control-schema';
import { databaseNameFor } from '../../proxy/src/inventory/naming';
import { createLogger } from '../../proxy/src/log';
import { createMetrics } from '../../proxy/src/metrics';
import { createWriteTracker, type WriteTracker } from '../../proxy/src/tracking';
import { startHttpFaultProxy, type HttpFaultProxy } from '../harness/http-fault-proxy';
import { inventoryRows, queryDatabase } from '../harness/inventory-rows';
import { directClient } from '../harness/proxy';
import { loadServices, type TestServices } from '../harness/services';
import { startTcpFaultProxy, type TcpFaultProxy } from '../harness/tcp-fault-proxy';
import { pollUntil } from '../harness/wait';
import { staticCredentials } from '../../proxy/src/credentials';

const services: TestServices = loadServices();
const bucket = `restart-${crypto.randomBytes(4).toString('hex')}`;
/** The mirror worker's poll when idle: long enough that a worker stop() gave up on is still asleep at start(). */
const IDLE_POLL_MS = 3_000;
const GAVE_UP = 'stopping with mirror copies still running; their rows are taken over when the lease ends';

const main = directClient(services.ceph.mainEndpoint, services.ceph.main, { region: services.ceph.region });

let postgres: TcpFaultProxy;
let mirror: HttpFaultProxy;
let tracker: WriteTracker | undefined;

beforeAll(async () => {
  const pg = new URL(services.postgres.url);
  postgres = await startTcpFaultProxy(pg.hostname, Number(pg.port));
  mirror = await startHttpFaultProxy(services.ceph.mirrorEndpoint);
  await main.send(new CreateBucketCommand({ Bucket: bucket }));
});

afterAll(async () => {
  postgres?.resume();
  await tracker?.stop();
  await postgres?.close();
  await mirror?.close();
  main.destroy();
});

function config(): ProxyConfig {
  const postgresUrl = new URL(services.postgres.url);
  postgresUrl.host = postgres.address;
  return {
    main: {
      url: new URL(services.ceph.mainEndpoint),
      region: services.ceph.region,
      credentials: staticCredentials('main', services.ceph.main),
    },
    mirror: {
      url: new URL(mirror.url),
      region: services.ceph.region,
      credentials: staticCredentials('mirror', services.ceph.mirror),
    },
    mirrorBucketTemplate: '{bucket}',
    postgresUrl: postgresUrl.toString(),
    logLevel: 'error',
    listen: { host: '127.0.0.1', port: 0 },
    admin: { host: '127.0.0.1', port: 0 },
    virtualHostBases: ['localhost'],
    // Only this file's bucket: the start-up scan must not take over other tests' inventory databases.
    allowedBuckets: [bucket],
    clientIdleTimeoutMs: 60_000,
    shutdownGraceMs: 1_000,
    pendingMemoryLimit: 10_000,
    mirrorConcurrency: 1,
    stateDir: { kind: 'off' },
    mirrorMaxAttempts: 15,
    deletePolicy: { kind: 'mirror' },
    antiEntropy: { intervalSeconds: 0, requestsPerSecond: 10, settleSeconds: 60 },
  };
}

/** Puts the objects on main, then records them all at once: one flush, one wake of every idle worker. */
async function write(t: WriteTracker, keys: string[]): Promise<void> {
  const puts = await Promise.all(
    keys.map((key) => main.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: `body of ${key}` }))),
  );
  keys.forEach((key, i) =>
    t.sink.record({
      bucket,
      key,
      kind: 'put',
      operation: 'PutObject',
      acknowledgedAt: new Date(),
      etag: puts[i]!.ETag,
      size: Buffer.byteLength(`body of ${key}`),
    }),
  );
}

async function waitMirrored(keys: string[]): Promise<void> {
  await pollUntil(`${keys.length} rows mirrored`, async () => {
    const rows = await inventoryRows(services, bucket);
    return keys.every((k) => rows.get(k)?.is_backed_up === true);
  });
}

test('a mirror worker that stop() gave up on does not come back with the next start()', async () => {
  const logger = createLogger('off');
  const warn = jest.spyOn(logger, 'warn');
  const t = createWriteTracker({
    config: config(),
    logger,
    metrics: createMetrics(),
    tuning: {
      idlePollMs: IDLE_POLL_MS,
      hintPollMs: IDLE_POLL_MS,
      scanIntervalMs: 600_000,
      statsIntervalMs: 600_000,
      leaseSeconds: 30,
    },
  });
  tracker = t;
  await t.start();
  await write(t, ['before']);
  await waitMirrored(['before']);

  // Postgres stops answering from the worker's next claim on: the claim hangs, and stop() gives up on it.
  // The claim comes from a mark with nothing behind it, as another process's (a resync's) would be: the
  // hint poll offers the bucket at the new version, and the one worker looks.
  postgres.stallOn('s3_mirror_claim(');
  await queryDatabase(services, CONTROL_DATABASE, MARK_DUE_SQL, [
    bucket,
    databaseNameFor(bucket),
    null,
    null,
  ]);
  await pollUntil('a claim held by the stalled Postgres', () =>
    Promise.resolve(postgres.isHolding('s3_mirror_claim(')),
  );
  const stopped = t.stop();
  await pollUntil('stop() giving up on the worker', () =>
    Promise.resolve(warn.mock.calls.some((call: unknown[]) => call[0] === GAVE_UP)),
  );
  // The claim now comes back empty and the worker goes to sleep for a poll: it outlives stop().
  postgres.resume();
  await stopped;

  // Started again at once, while the old worker still sleeps. Every copy waits at the mirror, so two
  // workers running side by side would show as two requests in flight there.
  await t.start();
  mirror.setFaults({ delayMs: 300 });
  const keys = Array.from({ length: 8 }, (_, i) => `after-${i}`);
  await write(t, keys);
  await waitMirrored(keys);
  expect(mirror.peakInFlight).toBe(1);
  expect(t.status().mirrorInFlight).toBe(0);
});
