/**
 * Reads that survive main (FAILOVER_READS): the proxy PROCESS reaches main through a TCP cut (and, behind
 * it, an HTTP fault injector for 5xx answers) and the mirror through another TCP cut. With main cut, a GET
 * or HEAD is answered from the mirror only when the mirror holds what the inventory recorded as backed up.
 */
import crypto from 'node:crypto';

import {
  CreateBucketCommand,
  DeleteObjectsCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  type S3Client,
} from '@aws-sdk/client-s3';

import { startHttpFaultProxy, type HttpFaultProxy } from '../harness/http-fault-proxy';
import { inventoryRows } from '../harness/inventory-rows';
import { metricValue, scrapeMetrics } from '../harness/proxies';
import { appClient, directClient, proxyEnv, startProxyProcess, type ProxyInstance } from '../harness/proxy';
import { loadServices, type TestServices } from '../harness/services';
import { startTcpFaultProxy, type TcpFaultProxy } from '../harness/tcp-fault-proxy';
import { waitForThreeWayEqual } from '../harness/three-way';
import { pollUntil } from '../harness/wait';

const services: TestServices = loadServices();
const bucket = `failover-${Date.now().toString(36)}`;
const SERVED_FROM = 'x-s3-mirror-served-from';
const FAILOVER_METRIC = 's3mirror_proxy_failover_reads_total';
const REPLICATION_STATUS = 'x-amz-replication-status';

let main: S3Client;
let mirror: S3Client;
let mainFaults: HttpFaultProxy;
let mainCut: TcpFaultProxy;
let mirrorCut: TcpFaultProxy;
let proxy: ProxyInstance;

beforeAll(async () => {
  main = directClient(services.ceph.mainEndpoint, services.ceph.main);
  mirror = directClient(services.ceph.mirrorEndpoint, services.ceph.mirror);
  await main.send(new CreateBucketCommand({ Bucket: bucket }));
  mainFaults = await startHttpFaultProxy(services.ceph.proxyMainEndpoint);
  const faults = new URL(mainFaults.url);
  mainCut = await startTcpFaultProxy(faults.hostname, Number(faults.port));
  const m = new URL(services.ceph.mirrorEndpoint);
  mirrorCut = await startTcpFaultProxy(m.hostname, Number(m.port));
  proxy = await startProxyProcess(
    proxyEnv(services, {
      MAIN_S3_ENDPOINT: `http://${mainCut.address}`,
      MIRROR_S3_ENDPOINT: `http://${mirrorCut.address}`,
      // A copy that fails once is parked: a write stays not mirrored for as long as a test needs.
      MIRROR_MAX_ATTEMPTS: '1',
    }),
  );
});

afterEach(() => {
  mainCut.restore();
  mirrorCut.resume();
  mirrorCut.restore();
  mainFaults.clearFaults();
});

afterAll(async () => {
  // Rows parked here would stay in the shared Postgres, and every sidecar of a later test that takes the
  // bucket over would count them in its lag: the keys are deleted through the proxy and mirrored first.
  if (proxy) await emptyBucket();
  await proxy?.stop();
  await Promise.allSettled([mainCut?.close(), mirrorCut?.close(), mainFaults?.close()]);
  main?.destroy();
  mirror?.destroy();
});

async function emptyBucket(): Promise<void> {
  const app = appClient(proxy.url);
  try {
    // Main's keys and the mirror's (a key deleted behind the proxy's back is still there): a delete of a
    // key main lacks succeeds and is recorded, so the copier deletes it on the mirror too. And every key the
    // inventory knows: a write answered 503 with main cut left a row of a key on neither side, whose retries
    // may be backed off or parked by the cuts; the delete's event makes it due at once.
    const keys = new Set<string>((await inventoryRows(services, bucket)).keys());
    for (const s3 of [main, mirror]) {
      const listed = await s3.send(new ListObjectsV2Command({ Bucket: bucket }));
      for (const o of listed.Contents ?? []) keys.add(o.Key!);
    }
    if (keys.size > 0) {
      const objects = [...keys].map((Key) => ({ Key }));
      await app.send(new DeleteObjectsCommand({ Bucket: bucket, Delete: { Objects: objects } }));
    }
    await waitForThreeWayEqual(services, bucket);
  } finally {
    app.destroy();
  }
}

/** A request straight through the proxy (it re-signs; the app's own signature is not checked). */
async function send(
  key: string,
  init: { method?: string; headers?: Record<string, string>; body?: string; query?: string } = {},
  via: ProxyInstance = proxy,
): Promise<{ status: number; headers: Headers; body: string }> {
  const url = `${via.url}/${bucket}${key === '' ? '' : `/${key}`}${init.query ?? ''}`;
  const res = await fetch(url, {
    method: init.method ?? 'GET',
    ...(init.headers ? { headers: init.headers } : {}),
    ...(init.body !== undefined ? { body: init.body } : {}),
  });
  return { status: res.status, headers: res.headers, body: await res.text() };
}

async function put(key: string, body: string): Promise<string> {
  const r = await send(key, { method: 'PUT', body });
  expect(r.status).toBe(200);
  return r.headers.get('etag')!;
}

async function del(key: string): Promise<void> {
  expect((await send(key, { method: 'DELETE' })).status).toBe(204);
}

/** Waits until the key's row says backed up (the mirror holds the recorded state). */
async function backedUp(key: string, deleted = false): Promise<void> {
  await pollUntil(`${key} backed up`, async () => {
    const row = (await inventoryRows(services, bucket)).get(key);
    return row?.is_backed_up === true && row.deleted === deleted;
  });
}

const failovers = async (result: string): Promise<number> =>
  metricValue(await scrapeMetrics(proxy), FAILOVER_METRIC, { result });

describe('reads that survive main', () => {
  test('with main cut, a backed-up key is served from the mirror: GET, HEAD, Range, marked and counted', async () => {
    const key = `served/${crypto.randomBytes(3).toString('hex')}.txt`;
    const body = 'hello from the backup '.repeat(50);
    const etag = await put(key, body);
    await backedUp(key);
    const before = await failovers('served');

    mainCut.cut();
    const got = await send(key);
    expect(got.status).toBe(200);
    expect(got.body).toBe(body);
    expect(got.headers.get(SERVED_FROM)).toBe('mirror');
    expect(got.headers.get('etag')).toBe(etag);
    expect(got.headers.get('content-length')).toBe(String(body.length));

    const head = await send(key, { method: 'HEAD' });
    expect(head.status).toBe(200);
    expect(head.headers.get(SERVED_FROM)).toBe('mirror');
    expect(head.headers.get('content-length')).toBe(String(body.length));
    expect(head.headers.get('etag')).toBe(etag);

    const range = await send(key, { headers: { range: 'bytes=6-9' } });
    expect(range.status).toBe(206);
    expect(range.body).toBe('from');
    expect(range.headers.get('content-range')).toBe(`bytes 6-9/${body.length}`);
    expect(range.headers.get(SERVED_FROM)).toBe('mirror');

    // Conditional on main's ETag: the copy's ETag is main's (a single PUT), so the mirror answers as main would.
    const notModified = await send(key, { headers: { 'if-none-match': etag } });
    expect(notModified.status).toBe(304);
    expect(notModified.headers.get(SERVED_FROM)).toBe('mirror');

    expect((await failovers('served')) - before).toBe(4);
    mainCut.restore();
    // Main back: main answers again, unmarked.
    const fromMain = await send(key);
    expect(fromMain.status).toBe(200);
    expect(fromMain.headers.get(SERVED_FROM)).toBeNull();
  });

  test('with main cut, listings and writes are not failed over', async () => {
    const key = `listed/${crypto.randomBytes(3).toString('hex')}`;
    await put(key, 'x');
    await backedUp(key);
    mainCut.cut();
    const list = await send('', { query: '?list-type=2' });
    expect(list.status).toBe(503);
    expect(list.headers.get(SERVED_FROM)).toBeNull();
    const write = await send(`${key}-new`, { method: 'PUT', body: 'y' });
    expect(write.status).toBe(503);
    // A read of a version by id (the mirror's ids are its own) stays on main.
    const byVersion = await send(key, { query: '?versionId=null' });
    expect(byVersion.status).toBe(503);
  });

  test('a key whose latest write is not mirrored yet fails: the older copy on the mirror is never served', async () => {
    const key = `behind/${crypto.randomBytes(3).toString('hex')}`;
    await put(key, 'version one');
    await backedUp(key);
    // The second write reaches main, but its copy fails (mirror cut) and the row is parked.
    mirrorCut.cut();
    await put(key, 'version two');
    await pollUntil(`${key} parked`, async () => {
      const row = (await inventoryRows(services, bucket)).get(key);
      return row?.parked_at != null && row.is_backed_up === false;
    });
    mirrorCut.restore();
    const before = await failovers('not_backed_up');

    mainCut.cut();
    const got = await send(key);
    expect(got.body).not.toContain('version one');
    expect(got.status).toBe(503);
    expect(got.headers.get(SERVED_FROM)).toBeNull();
    expect((await send(key, { method: 'HEAD' })).status).toBe(503);
    expect((await failovers('not_backed_up')) - before).toBe(2);
  });

  test('a deleted key is not served from the mirror, even when the mirror still holds a copy', async () => {
    const key = `deleted/${crypto.randomBytes(3).toString('hex')}`;
    await put(key, 'gone');
    await backedUp(key);
    await del(key);
    await backedUp(key, true);
    // A copy left on the mirror (as a policy that keeps deleted objects would leave it).
    await mirror.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: 'gone' }));

    mainCut.cut();
    const got = await send(key);
    expect(got.status).toBe(503);
    expect(got.body).not.toContain('gone');
    expect(got.headers.get(SERVED_FROM)).toBeNull();
  });

  test('a 5xx from main fails over too; a key the inventory does not know gets main’s answer', async () => {
    const key = `five-hundred/${crypto.randomBytes(3).toString('hex')}`;
    await put(key, 'served despite a 503');
    await backedUp(key);
    await main.send(new PutObjectCommand({ Bucket: bucket, Key: `${key}-unknown`, Body: 'z' }));

    mainFaults.setFaults({ errorRate: 1, statuses: [503] });
    const got = await send(key);
    expect(got.status).toBe(200);
    expect(got.body).toBe('served despite a 503');
    expect(got.headers.get(SERVED_FROM)).toBe('mirror');
    const unknown = await send(`${key}-unknown`);
    expect(unknown.status).toBe(503);
    expect(unknown.body).toContain('SlowDown'); // main's own answer, relayed
  });

  test('a write still on its way to Postgres (this sidecar’s queue) keeps its key off the mirror', async () => {
    const key = `queued/${crypto.randomBytes(3).toString('hex')}`;
    const pg = new URL(services.postgres.url);
    const pgStall = await startTcpFaultProxy(pg.hostname, Number(pg.port));
    pg.host = pgStall.address;
    const queued = await startProxyProcess(
      proxyEnv(services, {
        MAIN_S3_ENDPOINT: `http://${mainCut.address}`,
        MIRROR_S3_ENDPOINT: `http://${mirrorCut.address}`,
        POSTGRES_URL: pg.toString(),
      }),
    );
    try {
      await put(key, 'version one');
      await backedUp(key);
      // Postgres stops answering: the next write is acknowledged and waits in the proxy's queue.
      pgStall.stall();
      expect((await send(key, { method: 'PUT', body: 'version two' }, queued)).status).toBe(200);
      mainCut.cut();
      const got = await send(key, {}, queued);
      expect(got.status).toBe(503);
      expect(got.body).not.toContain('version one');
      const samples = await scrapeMetrics(queued);
      expect(metricValue(samples, FAILOVER_METRIC, { result: 'pending_write' })).toBe(1);
    } finally {
      pgStall.resume();
      await queued.stop();
      await pgStall.close();
    }
  });

  test('FAILOVER_READS=off: a read main fails stays failed', async () => {
    const key = `off/${crypto.randomBytes(3).toString('hex')}`;
    await put(key, 'not from the backup');
    await backedUp(key);
    const off = await startProxyProcess(
      proxyEnv(services, {
        MAIN_S3_ENDPOINT: `http://${mainCut.address}`,
        MIRROR_S3_ENDPOINT: `http://${mirrorCut.address}`,
        FAILOVER_READS: 'off',
      }),
    );
    try {
      mainCut.cut();
      const got = await send(key, {}, off);
      expect(got.status).toBe(503);
      expect(got.headers.get(SERVED_FROM)).toBeNull();
    } finally {
      await off.stop();
    }
  });
});

describe('x-amz-replication-status on GET and HEAD', () => {
  const status = async (key: string, init: Parameters<typeof send>[1] = {}): Promise<string | null> =>
    (await send(key, init)).headers.get(REPLICATION_STATUS);

  test('PENDING while the copy waits, then COMPLETED; on GET, HEAD and a range', async () => {
    const key = `status/${crypto.randomBytes(3).toString('hex')}`;
    mirrorCut.stall(); // the copy hangs: the write stays pending
    await put(key, 'status please');
    expect(await status(key)).toBe('PENDING');
    expect(await status(key, { method: 'HEAD' })).toBe('PENDING');
    mirrorCut.resume();
    await pollUntil(`${key} COMPLETED`, async () => (await status(key)) === 'COMPLETED');
    expect(await status(key, { method: 'HEAD' })).toBe('COMPLETED');
    expect(await status(key, { headers: { range: 'bytes=0-1' } })).toBe('COMPLETED');
    // A newer write is pending again.
    mirrorCut.stall();
    await put(key, 'status again');
    expect(await status(key)).toBe('PENDING');
  });

  test('FAILED once the row is parked', async () => {
    const key = `status-failed/${crypto.randomBytes(3).toString('hex')}`;
    mirrorCut.cut();
    await put(key, 'never copied');
    await pollUntil(`${key} parked`, async () => {
      const row = (await inventoryRows(services, bucket)).get(key);
      return row?.parked_at != null;
    });
    await pollUntil(`${key} FAILED`, async () => (await status(key)) === 'FAILED');
    expect(await status(key, { method: 'HEAD' })).toBe('FAILED');
  });

  test('no header for a key this sidecar does not know, nor for a read by version id or a listing', async () => {
    const key = `status-unknown/${crypto.randomBytes(3).toString('hex')}`;
    await main.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: 'written around the proxy' }));
    const got = await send(key);
    expect(got.status).toBe(200);
    expect(got.headers.get(REPLICATION_STATUS)).toBeNull();
    const known = `status-known/${crypto.randomBytes(3).toString('hex')}`;
    await put(known, 'k');
    expect(await status(known, { query: '?versionId=null' })).toBeNull();
    expect(await status('', { query: '?list-type=2' })).toBeNull();
  });
});
