import { createHash } from 'node:crypto';
import { Readable } from 'node:stream';

import { verifiedBody } from '../../src/mirror/verified-body';

const bytes = Buffer.from('the spooled body '.repeat(5000));
const md5 = createHash('md5').update(bytes).digest('hex');

async function drain(stream: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of stream) chunks.push(c as Buffer);
  return Buffer.concat(chunks);
}

const chunked = (b: Buffer): Readable =>
  Readable.from([b.subarray(0, 1000), b.subarray(1000, 40_000), b.subarray(40_000)]);

test('bytes matching the ETag MD5 and size pass through unchanged', async () => {
  const v = verifiedBody(chunked(bytes), md5, bytes.length);
  expect((await drain(v.stream)).equals(bytes)).toBe(true);
  expect(v.failure()).toBeUndefined();
});

test('a damaged byte fails the stream before it ends, and is reported as a local failure', async () => {
  const damaged = Buffer.from(bytes);
  damaged.writeUInt8(damaged.readUInt8(12345) ^ 1, 12345);
  const v = verifiedBody(chunked(damaged), md5, bytes.length);
  await expect(drain(v.stream)).rejects.toThrow(/MD5/);
  expect(v.failure()?.message).toMatch(/does not match/);
});

test('a short file fails even without an MD5 to check (SSE-KMS ETag)', async () => {
  const v = verifiedBody(chunked(bytes.subarray(0, 50_000)), undefined, bytes.length);
  await expect(drain(v.stream)).rejects.toThrow(/expected/);
  expect(v.failure()).toBeDefined();
});

test('a read error of the file is a local failure', async () => {
  const source = new Readable({
    read() {
      this.destroy(new Error('EIO: i/o error'));
    },
  });
  const v = verifiedBody(source, md5, bytes.length);
  await expect(drain(v.stream)).rejects.toThrow('EIO');
  expect(v.failure()?.message).toBe('EIO: i/o error');
});

test('the consumer going away is not a local failure', async () => {
  const v = verifiedBody(chunked(bytes), md5, bytes.length);
  const seen = new Promise<Error>((resolve) => v.stream.once('error', resolve));
  v.stream.destroy(new Error('mirror refused the upload'));
  expect((await seen).message).toBe('mirror refused the upload');
  await new Promise((r) => setImmediate(r));
  expect(v.failure()).toBeUndefined();
});
