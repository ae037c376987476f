/**
 * The upload spool through the proxy PROCESS against RGW: a spooled PutObject is mirrored from local disk
 * (no GetObject reaches main, counted at a recording forwarder in front of main), an overwrite or delete on
 * main between the spool and the copy falls back to main, a spool that is full, too small or failing never
 * fails the app's request and still mirrors from main, and a killed proxy's spool files are removed at start.
 * Every scenario ends with three-way equality of main, mirror and inventory.
 */
import { spawnSync } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { Readable } from 'node:stream';

import {
  CreateBucketCommand,
  DeleteObjectCommand,
  GetObjectCommand,
  PutObjectCommand,
  type S3Client,
} from '@aws-sdk/client-s3';

import { startHttpFaultProxy, type HttpFaultProxy, type SeenRequest } from '../harness/http-fault-proxy';
import { appClient, directClient, proxyEnv, startProxyProcess, type ProxyInstance } from '../harness/proxy';
import { inPrivateMountNamespace, metricValue, scrapeMetrics, tempStateDir } from '../harness/proxies';
import { loadServices, type TestServices } from '../harness/services';
import { waitForThreeWayEqual } from '../harness/three-way';
import { pollUntil } from '../harness/wait';

const services: TestServices = loadServices();
const rnd = (): string => crypto.randomBytes(4).toString('hex');
const KiB = 1024;
const MiB = 1024 * KiB;

/** Records every request the proxies send to main (data path and mirror workers). */
let mainRecorder: HttpFaultProxy;
/** In front of the mirror gateway: fails every mirror request while a test needs copies to wait. */
let mirrorGate: HttpFaultProxy;
const direct = directClient(services.ceph.mainEndpoint, services.ceph.main);
const running: ProxyInstance[] = [];
const clients: S3Client[] = [];
const stateDirs: string[] = [];

beforeAll(async () => {
  mainRecorder = await startHttpFaultProxy(services.ceph.mainEndpoint, { maxRecorded: 200_000 });
  mirrorGate = await startHttpFaultProxy(services.ceph.mirrorEndpoint, { record: false });
});

afterEach(async () => {
  mainRecorder.clearFaults();
  mirrorGate.clearFaults();
  for (const c of clients.splice(0)) c.destroy();
  await Promise.allSettled(running.splice(0).map((p) => p.stop()));
  for (const d of stateDirs.splice(0)) fs.rmSync(d, { recursive: true, force: true });
});

afterAll(async () => {
  direct.destroy();
  await mainRecorder?.close();
  await mirrorGate?.close();
});

function stateDir(): string {
  const dir = tempStateDir('s3m-spool-');
  stateDirs.push(dir);
  return dir;
}

/** The proxy environment: main through the recorder, the mirror through the gate, a fresh STATE_DIR. */
function spoolEnv(overrides: Record<string, string> = {}): Record<string, string> {
  return proxyEnv(services, {
    MAIN_S3_ENDPOINT: mainRecorder.url,
    MIRROR_S3_ENDPOINT: mirrorGate.url,
    STATE_DIR: stateDir(),
    ...overrides,
  });
}

function track(proxy: ProxyInstance): { proxy: ProxyInstance; app: S3Client } {
  running.push(proxy);
  const app = appClient(proxy.url);
  clients.push(app);
  return { proxy, app };
}

async function start(overrides: Record<string, string> = {}) {
  return track(await startProxyProcess(spoolEnv(overrides)));
}

const metric = async (proxy: ProxyInstance, name: string, labels: Record<string, string> = {}) =>
  metricValue(await scrapeMetrics(proxy), name, labels);

const spoolDir = (proxy: ProxyInstance): string => path.join(proxy.env.STATE_DIR!, 'spool');
const spoolFiles = (proxy: ProxyInstance): string[] =>
  fs.existsSync(spoolDir(proxy)) ? fs.readdirSync(spoolDir(proxy)).sort() : [];

/** Requests main saw for one object: the path without the query, and which operation. */
function seenFor(bucket: string, key: string): SeenRequest[] {
  const target = `/${bucket}/${key}`;
  return mainRecorder.requests.filter((r) => r.url.split('?')[0] === target);
}
/** GetObject requests for the key that reached main (the second read the spool avoids). */
const getObjects = (bucket: string, key: string): number =>
  seenFor(bucket, key).filter((r) => r.method === 'GET' && !/[?&]tagging/.test(r.url)).length;
const heads = (bucket: string, key: string): number =>
  seenFor(bucket, key).filter((r) => r.method === 'HEAD').length;

/** Creates the bucket and mirrors one object, so the mirror bucket and inventory database exist. */
async function warm(proxy: ProxyInstance, app: S3Client, bucket: string): Promise<void> {
  await app.send(new CreateBucketCommand({ Bucket: bucket }));
  await app.send(new PutObjectCommand({ Bucket: bucket, Key: 'warm', Body: 'w' }));
  await waitForThreeWayEqual(services, bucket);
  await pollUntil('the spool to empty', async () => spoolFiles(proxy).length === 0);
}

async function mainBytes(bucket: string, key: string): Promise<Buffer> {
  const got = await direct.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
  return Buffer.from(await got.Body!.transformToByteArray());
}

const body = (size: number, seed: string): Buffer => {
  const b = Buffer.alloc(size);
  for (let i = 0; i < size; i += 32) crypto.createHash('sha256').update(`${seed}:${i}`).digest().copy(b, i);
  return b;
};

/** Every mirror request fails (503) until `mirrorGate.clearFaults()`: copies wait, with their spool files. */
function blockMirror(): void {
  mirrorGate.setFaults({ errorRate: 1, statuses: [503] });
}

const failedCopies = (proxy: ProxyInstance): Promise<number> =>
  metric(proxy, 's3mirror_mirror_operations_total', { result: 'failure' });

async function waitForFailedCopies(proxy: ProxyInstance, atLeast: number): Promise<void> {
  await pollUntil(`${atLeast} failed mirror copies`, async () => (await failedCopies(proxy)) >= atLeast);
}

describe('upload spool (proxy process, RGW)', () => {
  test('spooled PutObjects (plain, aws-chunked, empty, multipart-sized on the mirror) are mirrored from the spool: no GetObject reaches main', async () => {
    const { proxy, app } = await start();
    const plainApp = appClient(proxy.url, { requestChecksumCalculation: 'WHEN_REQUIRED' });
    clients.push(plainApp);
    const bucket = `spool-a-${rnd()}`;
    await warm(proxy, app, bucket);
    const objects = [
      { key: 'small.txt', data: Buffer.from('hello spool'), client: app, stream: false },
      { key: 'empty', data: Buffer.alloc(0), client: plainApp, stream: false },
      { key: 'dir/one-mib.bin', data: body(MiB, 'one'), client: plainApp, stream: false },
      // A Readable body: the SDK sends aws-chunked with a trailing CRC32, which the proxy decodes.
      { key: 'dir/chunked-7mib.bin', data: body(7 * MiB + 123, 'seven'), client: app, stream: true },
    ];
    for (const o of objects) {
      await o.client.send(
        new PutObjectCommand({
          Bucket: bucket,
          Key: o.key,
          Body: o.stream ? Readable.from([o.data]) : o.data,
          ContentLength: o.data.length,
          ContentType: 'application/x-spool-test',
          CacheControl: 'max-age=60',
          ContentDisposition: 'attachment; filename="x.bin"',
          ContentEncoding: 'identity',
          Metadata: { origin: 'spool', n: String(o.data.length) },
          Tagging: 'kept=yes&by=spool',
        }),
      );
    }
    await waitForThreeWayEqual(services, bucket);
    for (const o of objects) {
      expect([o.key, getObjects(bucket, o.key)]).toEqual([o.key, 0]);
      expect(heads(bucket, o.key)).toBeGreaterThan(0); // the check that main still holds that write
    }
    // Every copy worked the first time, the warm-up's too (it created the mirror bucket and started over).
    expect(await metric(proxy, 's3mirror_mirror_operations_total', { result: 'failure' })).toBe(0);
    const total = objects.reduce((n, o) => n + o.data.length, 0);
    expect(await metric(proxy, 's3mirror_mirror_copies_total', { source: 'spool' })).toBeGreaterThanOrEqual(
      objects.length,
    );
    expect(
      await metric(proxy, 's3mirror_mirror_source_bytes_total', { source: 'spool' }),
    ).toBeGreaterThanOrEqual(total);
    // Used files are removed.
    await pollUntil('the spool to empty', async () => spoolFiles(proxy).length === 0);
    expect(await metric(proxy, 's3mirror_mirror_spool_bytes')).toBe(0);
    expect(await metric(proxy, 's3mirror_mirror_spool_memory_bytes')).toBe(0);

    // Control: the same PUT through a proxy with the spool off is mirrored by reading main back.
    const off = await start({ SPOOL_MAX_BYTES: '0' });
    const offBucket = `spool-off-${rnd()}`;
    await warm(off.proxy, off.app, offBucket);
    await off.app.send(new PutObjectCommand({ Bucket: offBucket, Key: 'small.txt', Body: 'hello spool' }));
    await waitForThreeWayEqual(services, offBucket);
    expect(getObjects(offBucket, 'small.txt')).toBeGreaterThan(0);
    expect(await metric(off.proxy, 's3mirror_mirror_copies_total', { source: 'main' })).toBeGreaterThan(0);
    expect(fs.existsSync(spoolDir(off.proxy))).toBe(false);
  });

  test('an overwrite or delete on main between the spool and the copy: the copy reads main and mirrors the newer state', async () => {
    const { proxy, app } = await start();
    const bucket = `spool-b-${rnd()}`;
    await warm(proxy, app, bucket);
    const failedBefore = await failedCopies(proxy);
    blockMirror();
    try {
      await app.send(
        new PutObjectCommand({ Bucket: bucket, Key: 'over', Body: 'version one', ContentType: 'text/one' }),
      );
      await app.send(new PutObjectCommand({ Bucket: bucket, Key: 'gone', Body: 'soon deleted' }));
      // Both copies have failed at the gate at least once; a failed copy keeps its spooled body for the retry.
      // Small bodies are kept in memory (SPOOL_MEMORY_BYTES), not on disk.
      await waitForFailedCopies(proxy, failedBefore + 2);
      expect(await metric(proxy, 's3mirror_mirror_spool_files')).toBe(2);
      expect(await metric(proxy, 's3mirror_mirror_spool_memory_bytes')).toBe(
        'version one'.length + 'soon deleted'.length,
      );
      expect(spoolFiles(proxy)).toEqual([]);
      // A write behind the proxy's back makes no event: a copy already past its HEAD would still finish with
      // version one and be right for the state it saw (as a GET would). So first let main refuse the
      // proxy, until each key's copy has started afresh and failed at its HEAD: none is in flight then.
      const mark = mainRecorder.requests.length;
      mainRecorder.setFaults({ errorRate: 1, statuses: [503] });
      await pollUntil('both copies to fail at a HEAD of main', async () =>
        ['over', 'gone'].every((key) =>
          mainRecorder.requests
            .slice(mark)
            .some((r) => r.injected && r.method === 'HEAD' && r.url.split('?')[0] === `/${bucket}/${key}`),
        ),
      );
      // Another writer changes main behind the proxy's back.
      await direct.send(
        new PutObjectCommand({
          Bucket: bucket,
          Key: 'over',
          Body: 'version two, longer',
          ContentType: 'text/two',
          Metadata: { v: '2' },
        }),
      );
      await direct.send(new DeleteObjectCommand({ Bucket: bucket, Key: 'gone' }));
    } finally {
      mainRecorder.clearFaults();
      mirrorGate.clearFaults();
    }
    await waitForThreeWayEqual(services, bucket);
    expect((await mainBytes(bucket, 'over')).toString()).toBe('version two, longer');
    expect(getObjects(bucket, 'over')).toBeGreaterThan(0);
    expect(await metric(proxy, 's3mirror_mirror_spool_abandoned_total', { reason: 'changed' })).toBe(2);
    await pollUntil(
      'the spool to empty',
      async () => (await metric(proxy, 's3mirror_mirror_spool_files')) === 0,
    );
    expect(await metric(proxy, 's3mirror_mirror_spool_memory_bytes')).toBe(0);
  });

  test('an object above SPOOL_MAX_OBJECT_BYTES is mirrored from main; a smaller one from the spool', async () => {
    const { proxy, app } = await start({ SPOOL_MAX_OBJECT_BYTES: String(KiB) });
    const bucket = `spool-c1-${rnd()}`;
    await warm(proxy, app, bucket);
    await app.send(new PutObjectCommand({ Bucket: bucket, Key: 'big', Body: body(4 * KiB, 'big') }));
    await app.send(new PutObjectCommand({ Bucket: bucket, Key: 'fits', Body: body(KiB, 'fits') }));
    await waitForThreeWayEqual(services, bucket);
    expect(getObjects(bucket, 'big')).toBeGreaterThan(0);
    expect(getObjects(bucket, 'fits')).toBe(0);
    expect(await metric(proxy, 's3mirror_mirror_spool_abandoned_total', { reason: 'too_large' })).toBe(1);
  });

  test('a full spool: later uploads are not spooled, every request succeeds, everything is mirrored', async () => {
    // Two 4 KiB blocks on disk (none in memory): room for two small uploads while their copies wait.
    const { proxy, app } = await start({ SPOOL_MAX_BYTES: String(8 * KiB), SPOOL_MEMORY_BYTES: '0' });
    const bucket = `spool-c2-${rnd()}`;
    await warm(proxy, app, bucket);
    blockMirror();
    const keys = ['f0', 'f1', 'f2', 'f3'];
    try {
      for (const key of keys) {
        const r = await app.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: body(3000, key) }));
        expect(r.$metadata.httpStatusCode).toBe(200);
      }
      expect(spoolFiles(proxy)).toHaveLength(2);
    } finally {
      mirrorGate.clearFaults();
    }
    await waitForThreeWayEqual(services, bucket);
    expect(await metric(proxy, 's3mirror_mirror_spool_abandoned_total', { reason: 'full' })).toBe(2);
    expect(keys.map((k) => getObjects(bucket, k) > 0)).toEqual([false, false, true, true]);
  });

  // Needs root with CAP_SYS_ADMIN (a tmpfs in a private mount namespace); reported as skipped elsewhere.
  const onTmpfs = canMountTmpfs() ? test : test.skip;
  onTmpfs(
    'ENOSPC on the spool volume (a 64 KiB tmpfs): the upload succeeds, is mirrored from main, and the spool keeps working',
    async () => {
      const env = spoolEnv({ SPOOL_MAX_BYTES: String(64 * MiB), SPOOL_MEMORY_BYTES: '0' });
      const { proxy, app } = track(await startWithTinySpoolVolume(env, 64 * KiB));
      const bucket = `spool-c3-${rnd()}`;
      await warm(proxy, app, bucket);
      const big = body(MiB, 'enospc');
      const r = await app.send(new PutObjectCommand({ Bucket: bucket, Key: 'too-big-for-disk', Body: big }));
      expect(r.$metadata.httpStatusCode).toBe(200);
      expect((await mainBytes(bucket, 'too-big-for-disk')).equals(big)).toBe(true);
      await app.send(new PutObjectCommand({ Bucket: bucket, Key: 'small-after', Body: 'still spooled' }));
      await waitForThreeWayEqual(services, bucket);
      expect(await metric(proxy, 's3mirror_mirror_spool_abandoned_total', { reason: 'disk_error' })).toBe(1);
      expect(getObjects(bucket, 'too-big-for-disk')).toBeGreaterThan(0);
      expect(getObjects(bucket, 'small-after')).toBe(0);
      expect(proxy.process.output()).toContain('upload spool: disk error');
    },
  );

  test('SIGKILL with a complete and a half-written spool file: both are removed at the next start, and the write is mirrored from main', async () => {
    // On disk, even the small one: what a kill leaves in files is the point.
    const first = await start({ SPOOL_MEMORY_BYTES: '0' });
    const bucket = `spool-d-${rnd()}`;
    await warm(first.proxy, first.app, bucket);
    const failedBefore = await failedCopies(first.proxy);
    blockMirror();
    let upload: ReturnType<typeof stalledUpload> | undefined;
    try {
      await first.app.send(new PutObjectCommand({ Bucket: bucket, Key: 'acked', Body: 'acknowledged' }));
      await waitForFailedCopies(first.proxy, failedBefore + 1);
      upload = stalledUpload(first.proxy.port, bucket, 'cut', 2 * MiB, MiB);
      await pollUntil('a complete and a partial spool file', async () => {
        const names = spoolFiles(first.proxy);
        const part = names.find((f) => f.endsWith('.part'));
        return (
          names.some((f) => f.endsWith('.body')) &&
          part !== undefined &&
          fs.statSync(path.join(spoolDir(first.proxy), part)).size === MiB
        );
      });
      first.proxy.process.kill('SIGKILL');
      expect((await first.proxy.process.exited).signal).toBe('SIGKILL');
      await upload.done;
      const left = spoolFiles(first.proxy);
      expect(left.filter((f) => f.endsWith('.body'))).toHaveLength(1);
      expect(left.filter((f) => f.endsWith('.part'))).toHaveLength(1);
    } finally {
      mirrorGate.clearFaults();
    }
    const second = track(await startProxyProcess(first.proxy.env));
    // Cleaned before the proxy reported ready: nothing a previous run left can be mistaken for an upload.
    expect(spoolFiles(second.proxy)).toEqual([]);
    expect(second.proxy.process.output()).toContain('removed files a previous run left');
    await waitForThreeWayEqual(services, bucket);
    expect(getObjects(bucket, 'acked')).toBeGreaterThan(0);
    await expect(mainBytes(bucket, 'cut')).rejects.toMatchObject({ name: 'NoSuchKey' });
  });
});

/** A plain PUT that announces `size` bytes, sends `sent` of them and then waits (until the proxy dies). */
function stalledUpload(
  port: number,
  bucket: string,
  key: string,
  size: number,
  sent: number,
): { done: Promise<void> } {
  const req = http.request({
    host: '127.0.0.1',
    port,
    method: 'PUT',
    path: `/${bucket}/${key}`,
    headers: { 'content-length': String(size) },
  });
  const done = new Promise<void>((resolve) => {
    req.on('error', () => resolve());
    req.on('response', (res) => {
      res.resume();
      resolve();
    });
  });
  req.write(body(sent, 'stalled'));
  return { done };
}

function tmpfsWrapper(dir: string, bytes: number): string[] {
  if (!/^\/[\w./-]+$/.test(dir)) throw new Error(`unsafe path ${dir}`);
  return inPrivateMountNamespace(`mkdir -p '${dir}' && mount -t tmpfs -o size=${bytes} s3m-spool '${dir}'`);
}

/** True when this machine lets the test mount a tmpfs in a private mount namespace (root, CAP_SYS_ADMIN). */
function canMountTmpfs(): boolean {
  const dir = fs.mkdtempSync(path.join(tempStateDir('s3m-probe-'), 'm'));
  try {
    const w = tmpfsWrapper(dir, 4096);
    return spawnSync(w[0]!, [...w.slice(1), 'true'], { stdio: 'ignore', timeout: 10_000 }).status === 0;
  } finally {
    fs.rmSync(path.dirname(dir), { recursive: true, force: true });
  }
}

/** The proxy with STATE_DIR/spool on a tmpfs of `bytes` (a full disk for the spool only). */
async function startWithTinySpoolVolume(env: Record<string, string>, bytes: number): Promise<ProxyInstance> {
  return startProxyProcess(env, { wrapper: tmpfsWrapper(path.join(env.STATE_DIR!, 'spool'), bytes) });
}
