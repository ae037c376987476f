/** The upload spool on a real temporary directory: lifecycle, bounds, supersession, leftovers. */
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Readable } from 'node:stream';

import type { WriteEvent } from '../../src/events';
import { createMetrics, type ProxyMetrics } from '../../src/metrics';
import { UploadSpool, type UploadSpoolOptions } from '../../src/spool';
import { SPOOL_BLOCK_BYTES } from '../../src/spool/budget';

const dirs: string[] = [];
const spools: UploadSpool[] = [];

afterEach(async () => {
  await Promise.all(spools.splice(0).map((s) => s.close()));
  for (const d of dirs.splice(0)) fs.rmSync(d, { recursive: true, force: true });
});

function tempDir(): string {
  const d = fs.mkdtempSync(path.join(os.tmpdir(), 'spool-test-'));
  dirs.push(d);
  return path.join(d, 'spool');
}

function open(opts: Partial<UploadSpoolOptions> = {}): {
  spool: UploadSpool;
  dir: string;
  metrics: ProxyMetrics;
  leftovers: number;
} {
  const dir = opts.dir ?? tempDir();
  const metrics = createMetrics();
  const { spool, leftovers } = UploadSpool.open({
    dir,
    maxBytes: 1 << 20,
    maxObjectBytes: 1 << 20,
    metrics,
    ...opts,
  });
  spools.push(spool);
  return { spool, dir, metrics, leftovers };
}

const md5 = (b: Buffer): string => createHash('md5').update(b).digest('hex');
const etagOf = (b: Buffer): string => `"${md5(b)}"`;
const files = (dir: string): string[] => (fs.existsSync(dir) ? fs.readdirSync(dir).sort() : []);
const tick = (ms = 20): Promise<void> => new Promise((r) => setTimeout(r, ms));

async function until(cond: () => boolean, what: string): Promise<void> {
  for (let i = 0; i < 500; i++) {
    if (cond()) return;
    await tick(10);
  }
  throw new Error(`timed out waiting for ${what}`);
}

async function abandoned(metrics: ProxyMetrics, reason: string): Promise<number> {
  const m = await metrics.spoolAbandoned.get();
  return m.values.find((v) => v.labels.reason === reason)?.value ?? 0;
}

async function readAll(stream: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of stream) chunks.push(c as Buffer);
  return Buffer.concat(chunks);
}

/** A body sent through the tap in uneven chunks, as the request stream delivers it. */
function feed(tap: (chunk: Buffer) => void, body: Buffer): void {
  for (let at = 0; at < body.length; at += 7_000) tap(body.subarray(at, at + 7_000));
}

const event = (operation: string, kind: 'put' | 'delete' = 'put'): WriteEvent => ({
  bucket: 'b',
  key: 'k',
  kind,
  operation,
  acknowledgedAt: new Date(),
});

describe('upload spool', () => {
  test('a spooled PutObject is renamed once complete, handed to a copy with its ETag and MD5, and removed when used', async () => {
    const { spool, dir, metrics } = open();
    const body = Buffer.from('spooled bytes '.repeat(3000));
    const file = spool.begin('b', 'k', body.length, {})!;
    expect(file).toBeDefined();
    feed(file.tap, body);
    spool.acknowledge(file, 'b', 'k', { etag: etagOf(body) });
    const lease = (await spool.take('b', 'k'))!;
    expect(lease.body).toMatchObject({ etag: etagOf(body), size: body.length, md5: md5(body) });
    expect(files(dir)).toEqual([expect.stringMatching(/\.body$/)]);
    // Only a body held in memory is handed over as bytes.
    expect(lease.body.bytes).toBeUndefined();
    // A retry reads the whole body again from the same open file.
    expect((await readAll(lease.body.open())).equals(body)).toBe(true);
    // A copy that gave up half-way (the mirror bucket had to be created) destroys its stream; the retry
    // still reads every byte.
    const partial = lease.body.open();
    await new Promise((resolve) => partial.once('readable', resolve));
    partial.read(1000);
    partial.destroy();
    await new Promise((resolve) => partial.once('close', resolve));
    expect((await readAll(lease.body.open())).equals(body)).toBe(true);
    await lease.settle('used');
    await until(() => files(dir).length === 0, 'the used file to be removed');
    await until(() => spool.stats().bytes === 0, 'its space to be released');
    expect(spool.stats()).toMatchObject({ bytes: 0, files: 0, committed: 0 });
    expect((await metrics.spoolBytes.get()).values[0]!.value).toBe(0);
    expect(await spool.take('b', 'k')).toBeUndefined();
  });

  test('a copy waits for the last bytes of a committed upload to reach the disk', async () => {
    const { spool } = open();
    const body = Buffer.alloc(300_000, 'w');
    const file = spool.begin('b', 'k', body.length, {})!;
    feed(file.tap, body);
    spool.acknowledge(file, 'b', 'k', { etag: etagOf(body) });
    expect(file.state).toBe('committed');
    const lease = (await spool.take('b', 'k'))!;
    expect(file.state).toBe('ready');
    expect((await readAll(lease.body.open())).equals(body)).toBe(true);
    await lease.settle('used');
  });

  test('a body main did not acknowledge never becomes a copy source, and its .part file goes', async () => {
    const { spool, dir, metrics } = open();
    const body = Buffer.alloc(50_000, 'x');
    const file = spool.begin('b', 'k', body.length, {})!;
    feed(file.tap, body);
    await until(() => files(dir).some((f) => f.endsWith('.part')), 'the part file');
    file.dropUncommitted('not_stored');
    await until(() => files(dir).length === 0, 'the part file to be removed');
    expect(await spool.take('b', 'k')).toBeUndefined();
    expect(await abandoned(metrics, 'not_stored')).toBe(1);
    expect(spool.stats().bytes).toBe(0);
  });

  test('fewer or more bytes than announced are not committed', async () => {
    const { spool, metrics } = open();
    const short = spool.begin('b', 'short', 100, {})!;
    short.tap(Buffer.alloc(99));
    spool.acknowledge(short, 'b', 'short', { etag: '"x"' });
    const long = spool.begin('b', 'long', 100, {})!;
    long.tap(Buffer.alloc(101));
    spool.acknowledge(long, 'b', 'long', { etag: '"y"' });
    expect(await spool.take('b', 'short')).toBeUndefined();
    expect(await spool.take('b', 'long')).toBeUndefined();
    expect(await abandoned(metrics, 'not_stored')).toBe(2);
  });

  test('dropUncommitted after the acknowledgement keeps the file', async () => {
    const { spool } = open();
    const body = Buffer.from('kept');
    const file = spool.begin('b', 'k', body.length, {})!;
    file.tap(body);
    spool.acknowledge(file, 'b', 'k', { etag: etagOf(body) });
    file.dropUncommitted('not_stored');
    const lease = await spool.take('b', 'k');
    expect(lease).toBeDefined();
    await lease!.settle('used');
  });

  test('a newer acknowledged write supersedes the older file, spooled or not', async () => {
    const { spool, dir, metrics } = open({ maxObjectBytes: 10 });
    const one = Buffer.from('first');
    const f1 = spool.begin('b', 'k', one.length, {})!;
    f1.tap(one);
    spool.acknowledge(f1, 'b', 'k', { etag: etagOf(one) });
    const two = Buffer.from('second');
    const f2 = spool.begin('b', 'k', two.length, {})!;
    f2.tap(two);
    spool.acknowledge(f2, 'b', 'k', { etag: etagOf(two) });
    expect(f1.state).toBe('gone');
    const lease = (await spool.take('b', 'k'))!;
    expect(lease.body.etag).toBe(etagOf(two));
    await lease.settle('retry');
    // Too large to spool, but acknowledged: the spooled 'second' is no longer what main holds.
    expect(spool.begin('b', 'k', 11, {})).toBeUndefined();
    spool.acknowledge(undefined, 'b', 'k', { etag: '"third"' });
    expect(await spool.take('b', 'k')).toBeUndefined();
    await until(() => files(dir).length === 0, 'superseded files to be removed');
    expect(await abandoned(metrics, 'superseded')).toBe(2);
    expect(await abandoned(metrics, 'too_large')).toBe(1);
  });

  test('a copy, completion or delete of the key supersedes its file; tagging does not', async () => {
    const { spool } = open();
    const body = Buffer.from('tagged later');
    const file = spool.begin('b', 'k', body.length, {})!;
    file.tap(body);
    spool.acknowledge(file, 'b', 'k', { etag: etagOf(body) });
    spool.noteEvent(event('PutObjectTagging'));
    spool.noteEvent(event('DeleteObjectTagging'));
    spool.noteEvent(event('PutObject'));
    expect(file.state).not.toBe('gone');
    spool.noteEvent(event('DeleteObject', 'delete'));
    expect(file.state).toBe('gone');
    for (const op of ['CopyObject', 'CompleteMultipartUpload', 'DeleteObjects']) {
      const f = spool.begin('b', 'k', body.length, {})!;
      f.tap(body);
      spool.acknowledge(f, 'b', 'k', { etag: etagOf(body) });
      spool.noteEvent(event(op, op === 'DeleteObjects' ? 'delete' : 'put'));
      expect([op, f.state]).toEqual([op, 'gone']);
    }
  });

  test('bounded: an object above the per-object bound, or arriving when the spool is full, is not spooled', async () => {
    const { spool, metrics } = open({
      maxBytes: 3 * SPOOL_BLOCK_BYTES,
      maxObjectBytes: 2 * SPOOL_BLOCK_BYTES,
    });
    expect(spool.begin('b', 'big', 2 * SPOOL_BLOCK_BYTES + 1, {})).toBeUndefined();
    const a = spool.begin('b', 'a', 2 * SPOOL_BLOCK_BYTES, {})!;
    expect(a).toBeDefined();
    expect(spool.begin('b', 'c', SPOOL_BLOCK_BYTES + 1, {})).toBeUndefined(); // needs 2 blocks, 1 left
    expect(spool.begin('b', 'd', 10, {})).toBeDefined();
    expect(spool.stats().bytes).toBe(3 * SPOOL_BLOCK_BYTES);
    expect(await abandoned(metrics, 'too_large')).toBe(1);
    expect(await abandoned(metrics, 'full')).toBe(1);
    // Room comes back when a file goes.
    a.dropUncommitted('not_stored');
    await until(() => spool.stats().bytes === SPOOL_BLOCK_BYTES, 'the space to be released');
    expect(spool.begin('b', 'c', SPOOL_BLOCK_BYTES + 1, {})).toBeDefined();
  });

  test('SSE-C and bodies without a length are not spooled', async () => {
    const { spool, metrics } = open();
    expect(
      spool.begin('b', 'k', 10, { 'x-amz-server-side-encryption-customer-algorithm': 'AES256' }),
    ).toBeUndefined();
    expect(spool.begin('b', 'k', undefined, {})).toBeUndefined();
    expect(await abandoned(metrics, 'encrypted')).toBe(1);
    expect(await abandoned(metrics, 'unknown_length')).toBe(1);
  });

  test('a disk that cannot keep up: more queued than the per-upload bound abandons the spool, never throws', async () => {
    const { spool, dir, metrics } = open({ writerBufferBytes: 16 * 1024 });
    const body = Buffer.alloc(64 * 1024, 'q');
    const file = spool.begin('b', 'k', body.length, {})!;
    // One synchronous burst: nothing can reach the disk in between.
    expect(() => file.tap(body)).not.toThrow();
    expect(file.state).toBe('gone');
    spool.acknowledge(file, 'b', 'k', { etag: etagOf(body) });
    expect(await spool.take('b', 'k')).toBeUndefined();
    expect(await abandoned(metrics, 'slow_disk')).toBe(1);
    await until(() => files(dir).length === 0 && spool.stats().bufferedBytes === 0, 'cleanup');
  });

  test('the bound on memory queued by all uploads together holds too', async () => {
    const { spool, metrics } = open({ writerBufferBytes: 1 << 20, totalBufferBytes: 100 * 1024 });
    const a = spool.begin('b', 'a', 80 * 1024, {})!;
    const b = spool.begin('b', 'b', 80 * 1024, {})!;
    a.tap(Buffer.alloc(80 * 1024));
    b.tap(Buffer.alloc(80 * 1024));
    expect(a.state).toBe('writing');
    expect(b.state).toBe('gone');
    expect(await abandoned(metrics, 'slow_disk')).toBe(1);
  });

  test('a disk error (the directory is gone) abandons the spool for that upload only', async () => {
    const { spool, dir, metrics } = open();
    fs.rmSync(dir, { recursive: true });
    const body = Buffer.alloc(20_000, 'e');
    const file = spool.begin('b', 'k', body.length, {})!;
    feed(file.tap, body);
    await until(() => file.state === 'gone', 'the open to fail');
    spool.acknowledge(file, 'b', 'k', { etag: etagOf(body) });
    expect(await spool.take('b', 'k')).toBeUndefined();
    expect(await abandoned(metrics, 'disk_error')).toBe(1);
    await until(() => spool.stats().bytes === 0, 'the reservation to be released');
  });

  test('stale files are removed by the sweep; a file being read stays readable', async () => {
    const { spool, dir, metrics } = open({ maxAgeMs: 60_000 });
    const body = Buffer.from('old news');
    const file = spool.begin('b', 'k', body.length, {})!;
    file.tap(body);
    spool.acknowledge(file, 'b', 'k', { etag: etagOf(body) });
    const lease = (await spool.take('b', 'k'))!;
    spool.sweep(Date.now() + 30_000);
    expect(file.state).toBe('ready');
    spool.sweep(Date.now() + 61_000);
    expect(file.state).toBe('gone');
    await until(() => files(dir).length === 0, 'the stale file to be unlinked');
    // Unlinked, but the copy that holds it open still reads every byte; the space is released after.
    expect((await readAll(lease.body.open())).equals(body)).toBe(true);
    expect(spool.stats().bytes).toBeGreaterThan(0);
    await lease.settle('retry');
    expect(spool.stats().bytes).toBe(0);
    expect(await abandoned(metrics, 'stale')).toBe(1);
  });

  test('a copy that found main changed removes the file and counts why', async () => {
    const { spool, metrics } = open();
    const body = Buffer.from('replaced on main');
    const file = spool.begin('b', 'k', body.length, {})!;
    file.tap(body);
    spool.acknowledge(file, 'b', 'k', { etag: etagOf(body) });
    await (await spool.take('b', 'k'))!.settle('changed');
    expect(file.state).toBe('gone');
    expect(await abandoned(metrics, 'changed')).toBe(1);
  });

  test('leftovers of a previous run (.part and .body) are removed at start', () => {
    const dir = tempDir();
    fs.mkdirSync(dir, { recursive: true });
    fs.writeFileSync(path.join(dir, 'dead-1.part'), 'cut by a kill');
    fs.writeFileSync(path.join(dir, 'dead-2.body'), 'complete, but its index died');
    fs.mkdirSync(path.join(dir, 'stray'));
    const { leftovers } = open({ dir });
    expect(leftovers).toBe(3);
    expect(files(dir)).toEqual([]);
  });

  test('close removes every file and refuses new uploads', async () => {
    const { spool, dir } = open();
    const body = Buffer.from('at shutdown');
    const done = spool.begin('b', 'done', body.length, {})!;
    done.tap(body);
    spool.acknowledge(done, 'b', 'done', { etag: etagOf(body) });
    const writing = spool.begin('b', 'writing', 1000, {})!;
    writing.tap(Buffer.alloc(10));
    await until(() => files(dir).length === 2, 'both files');
    await spool.close();
    await until(() => files(dir).length === 0, 'every file to be removed');
    expect(spool.begin('b', 'late', 1, {})).toBeUndefined();
  });
});

describe('upload spool: small bodies in memory', () => {
  const memory = async (metrics: ProxyMetrics): Promise<number> =>
    (await metrics.spoolMemoryBytes.get()).values[0]!.value;

  test('a small body never touches the disk, is handed to a copy whole (its bytes, and a stream twice, for a retry), and its memory is released when used', async () => {
    const { spool, dir, metrics } = open({ memoryBytes: 64 * 1024 });
    const body = Buffer.from('kept in memory '.repeat(1000));
    const entry = spool.begin('b', 'k', body.length, {})!;
    feed(entry.tap, body);
    expect(await memory(metrics)).toBe(body.length);
    spool.acknowledge(entry, 'b', 'k', { etag: etagOf(body) });
    expect(entry.state).toBe('ready');
    const lease = (await spool.take('b', 'k'))!;
    expect(lease.body).toMatchObject({ etag: etagOf(body), size: body.length, md5: md5(body) });
    expect(lease.body.bytes?.equals(body)).toBe(true);
    expect((await readAll(lease.body.open())).equals(body)).toBe(true);
    expect((await readAll(lease.body.open())).equals(body)).toBe(true);
    expect(files(dir)).toEqual([]);
    await lease.settle('used');
    expect(spool.stats()).toMatchObject({ memoryBytes: 0, bytes: 0, files: 0, committed: 0 });
    expect(await memory(metrics)).toBe(0);
    expect(await spool.take('b', 'k')).toBeUndefined();
  });

  test('bounded: a body above 64 KiB, above SPOOL_MAX_OBJECT_BYTES, or past the memory bound goes to disk or is not spooled', async () => {
    const { spool, dir, metrics } = open({ memoryBytes: 10_000, maxObjectBytes: 100_000 });
    const first = spool.begin('b', 'first', 6_000, {})!;
    const second = spool.begin('b', 'second', 6_000, {})!; // 12,000 > 10,000: on disk
    const large = spool.begin('b', 'large', 70_000, {})!; // above 64 KiB: on disk
    await until(() => files(dir).length === 2, 'two files');
    expect(spool.stats()).toMatchObject({ memoryBytes: 6_000, files: 3 });
    for (const e of [first, second, large]) e.drop(undefined);
    await until(() => spool.stats().bytes === 0, 'the disk to be released');
    expect(await memory(metrics)).toBe(0);
    const strict = open({ memoryBytes: 10_000, maxObjectBytes: 1_000 });
    expect(strict.spool.begin('b', 'k', 2_000, {})).toBeUndefined();
    expect(await abandoned(strict.metrics, 'too_large')).toBe(1);
    expect(strict.spool.stats().memoryBytes).toBe(0);
  });

  test('more bytes than announced, or no acknowledgement, drop the body and release its memory', async () => {
    const { spool, metrics } = open({ memoryBytes: 64 * 1024 });
    const long = spool.begin('b', 'long', 10, {})!;
    long.tap(Buffer.alloc(11));
    expect(long.state).toBe('gone');
    const refused = spool.begin('b', 'refused', 10, {})!;
    refused.tap(Buffer.alloc(10));
    spool.acknowledge(refused, 'b', 'refused', {}); // no ETag: main did not store it as this body
    expect(refused.state).toBe('gone');
    const cut = spool.begin('b', 'cut', 10, {})!;
    cut.tap(Buffer.alloc(4));
    cut.dropUncommitted('not_stored');
    expect(await abandoned(metrics, 'not_stored')).toBe(3);
    expect(spool.stats()).toMatchObject({ memoryBytes: 0, files: 0 });
  });

  test('superseded while a copy reads it: the copy still reads every byte, and the memory goes after it closes', async () => {
    const { spool } = open({ memoryBytes: 64 * 1024 });
    const body = Buffer.from('older write');
    const older = spool.begin('b', 'k', body.length, {})!;
    older.tap(body);
    spool.acknowledge(older, 'b', 'k', { etag: etagOf(body) });
    const lease = (await spool.take('b', 'k'))!;
    spool.forget('b', 'k');
    expect(older.state).toBe('gone');
    expect(spool.stats().memoryBytes).toBe(body.length);
    expect((await readAll(lease.body.open())).equals(body)).toBe(true);
    await lease.settle('used');
    expect(spool.stats().memoryBytes).toBe(0);
  });
});
