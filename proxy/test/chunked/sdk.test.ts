import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Readable } from 'node:stream';
import { randomBytes } from 'node:crypto';
import {
  CreateMultipartUploadCommand,
  PutObjectCommand,
  S3Client,
  UploadPartCommand,
  type ChecksumAlgorithm as SdkChecksumAlgorithm,
} from '@aws-sdk/client-s3';
import { computeChecksum, type ChecksumAlgorithm } from '../../src/chunked/checksums';
import { planAwsChunked } from '../../src/chunked/content-sha256';
import { bytewise, decodePieces, decodeStream } from './helpers';

/** Captures what @aws-sdk/client-s3 really sends, to decode it afterwards. */
interface Captured {
  headers: IncomingHttpHeaders;
  body: Buffer;
}

let server: Server;
let client: S3Client;
const captured: Captured[] = [];

beforeAll(async () => {
  server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      captured.push({ headers: req.headers, body: Buffer.concat(chunks) });
      res.setHeader('ETag', '"0"');
      if (req.url?.includes('uploads')) {
        res.setHeader('Content-Type', 'application/xml');
        res.end(
          '<?xml version="1.0" encoding="UTF-8"?><InitiateMultipartUploadResult><Bucket>b</Bucket><Key>k</Key><UploadId>u1</UploadId></InitiateMultipartUploadResult>',
        );
        return;
      }
      res.end();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  client = new S3Client({
    region: 'us-east-1',
    endpoint: `http://127.0.0.1:${port}`,
    forcePathStyle: true,
    credentials: { accessKeyId: 'junk', secretAccessKey: 'junk' },
  });
});

afterAll(async () => {
  client.destroy();
  await new Promise((resolve) => server.close(resolve));
});

async function capture(send: () => Promise<unknown>): Promise<Captured> {
  const before = captured.length;
  await send();
  expect(captured.length).toBe(before + 1);
  return captured[captured.length - 1]!;
}

function pieces(payload: Buffer, size: number): Buffer[] {
  const out: Buffer[] = [];
  for (let i = 0; i < payload.length; i += size) out.push(payload.subarray(i, i + size));
  return out;
}

async function expectDecodes(c: Captured, payload: Buffer, alg: ChecksumAlgorithm) {
  const plan = planAwsChunked(c.headers);
  expect(plan).not.toBeNull();
  expect(plan!.decodedLength).toBe(payload.length);
  expect(plan!.contentEncoding).toBeNull();
  expect(plan!.trailerNames).toEqual([`x-amz-checksum-${alg.toLowerCase()}`]);
  const whole = decodePieces([c.body], plan!);
  expect(whole.error).toBeUndefined();
  expect(whole.out.equals(payload)).toBe(true);
  expect(whole.checksums).toEqual({ [alg]: computeChecksum(alg, payload) });
  const streamed = await decodeStream(
    bytewise(c.body.subarray(0, 4096)).concat(c.body.subarray(4096)),
    plan!,
  );
  expect(streamed.out.equals(payload)).toBe(true);
}

const algorithms: ChecksumAlgorithm[] = ['CRC32', 'CRC32C', 'SHA1', 'SHA256', 'CRC64NVME'];

describe('bodies captured from @aws-sdk/client-s3 (default settings)', () => {
  test.each(algorithms)('PutObject, Readable body, %s → STREAMING-UNSIGNED-PAYLOAD-TRAILER', async (alg) => {
    const payload = randomBytes(70000);
    const c = await capture(() =>
      client.send(
        new PutObjectCommand({
          Bucket: 'b',
          Key: 'k',
          Body: Readable.from(pieces(payload, 16384)),
          ContentLength: payload.length,
          ChecksumAlgorithm: alg as SdkChecksumAlgorithm,
        }),
      ),
    );
    expect(c.headers['x-amz-content-sha256']).toBe('STREAMING-UNSIGNED-PAYLOAD-TRAILER');
    expect(c.headers['content-encoding']).toBe('aws-chunked');
    expect(c.headers['x-amz-decoded-content-length']).toBe(String(payload.length));
    expect(c.headers['x-amz-trailer']).toBe(`x-amz-checksum-${alg.toLowerCase()}`);
    expect(c.headers['x-amz-sdk-checksum-algorithm']).toBe(alg);
    // Framing as the JS SDK sends it: one chunk per source piece, unsigned, and a final CRLF.
    const text = c.body.toString('latin1');
    expect(text.startsWith('4000\r\n')).toBe(true);
    expect(
      text.endsWith(`\r\n0\r\nx-amz-checksum-${alg.toLowerCase()}:${computeChecksum(alg, payload)}\r\n\r\n`),
    ).toBe(true);
    await expectDecodes(c, payload, alg);
  });

  test('PutObject, Readable body, no ChecksumAlgorithm → CRC32 trailer by default', async () => {
    const payload = Buffer.from('hello');
    const c = await capture(() =>
      client.send(
        new PutObjectCommand({
          Bucket: 'b',
          Key: 'k',
          Body: Readable.from([payload]),
          ContentLength: payload.length,
        }),
      ),
    );
    expect(c.headers['transfer-encoding']).toBe('chunked');
    expect(c.headers['content-length']).toBeUndefined();
    expect(c.body.toString('latin1')).toBe(
      `5\r\nhello\r\n0\r\nx-amz-checksum-crc32:${computeChecksum('CRC32', payload)}\r\n\r\n`,
    );
    await expectDecodes(c, payload, 'CRC32');
  });

  test('PutObject, empty Readable body → decodedLength 0', async () => {
    const c = await capture(() =>
      client.send(new PutObjectCommand({ Bucket: 'b', Key: 'k', Body: Readable.from([]), ContentLength: 0 })),
    );
    expect(c.body.toString('latin1')).toBe('0\r\nx-amz-checksum-crc32:AAAAAA==\r\n\r\n');
    await expectDecodes(c, Buffer.alloc(0), 'CRC32');
  });

  test('UploadPart with a Readable body and CRC32C', async () => {
    const payload = randomBytes(33333);
    const c = await capture(() =>
      client.send(
        new UploadPartCommand({
          Bucket: 'b',
          Key: 'k',
          UploadId: 'u1',
          PartNumber: 1,
          Body: Readable.from(pieces(payload, 10000)),
          ContentLength: payload.length,
          ChecksumAlgorithm: 'CRC32C',
        }),
      ),
    );
    expect(c.headers['x-amz-content-sha256']).toBe('STREAMING-UNSIGNED-PAYLOAD-TRAILER');
    await expectDecodes(c, payload, 'CRC32C');
  });

  test('CreateMultipartUpload still works against the capture server', async () => {
    await capture(() => client.send(new CreateMultipartUploadCommand({ Bucket: 'b', Key: 'k' })));
  });

  test.each([
    ['Buffer', () => randomBytes(1000)],
    ['string', () => Buffer.from('hello world')],
  ])('PutObject with a %s body is not aws-chunked; the checksum is a plain header', async (_kind, make) => {
    const payload = make();
    const c = await capture(() =>
      client.send(
        new PutObjectCommand({
          Bucket: 'b',
          Key: 'k',
          Body: _kind === 'string' ? payload.toString() : payload,
          ChecksumAlgorithm: 'SHA256',
        }),
      ),
    );
    expect(planAwsChunked(c.headers)).toBeNull();
    expect(c.body.equals(payload)).toBe(true);
    expect(c.headers['x-amz-checksum-sha256']).toBe(computeChecksum('SHA256', payload));
  });
});
