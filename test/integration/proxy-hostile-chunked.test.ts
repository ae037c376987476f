/**
 * Malformed aws-chunked bodies through the running proxy to RGW (issue 7): each gets a clean S3 XML error,
 * main keeps no partial object (a fresh key stays absent, an existing object keeps its old bytes), the
 * inventory records nothing, and the proxy keeps serving.
 */
import { randomBytes } from 'node:crypto';
import { Readable } from 'node:stream';
import {
  CreateBucketCommand,
  GetObjectCommand,
  HeadObjectCommand,
  PutObjectCommand,
  type S3Client,
} from '@aws-sdk/client-s3';
import { Client } from 'pg';
import { computeChecksum } from '../../proxy/src/chunked/checksums';
import { databaseNameFor } from '../../proxy/src/inventory/naming';
import { appClient, directClient, proxyEnv, startProxyProcess, type ProxyInstance } from '../harness/proxy';
import { rawRequest } from '../harness/raw-http';
import { loadServices, type TestServices } from '../harness/services';
import { pollUntil } from '../harness/wait';

let services: TestServices;
let proxy: ProxyInstance;
let direct: S3Client;
const bucket = `hostile-chunked-${Date.now().toString(36)}`;
const ORIGINAL = 'the original object, which a failed upload must not touch';

beforeAll(async () => {
  services = loadServices();
  proxy = await startProxyProcess(proxyEnv(services));
  direct = directClient(services.ceph.mainEndpoint, services.ceph.main);
  await direct.send(new CreateBucketCommand({ Bucket: bucket }));
});

afterAll(async () => {
  await proxy?.stop();
  direct?.destroy();
});

const payload = 'hello world, this is the payload';
const hexLen = Buffer.byteLength(payload).toString(16);
const crc = computeChecksum('CRC32', Buffer.from(payload));
const sig = 'a'.repeat(64);

interface Case {
  name: string;
  body: string | Buffer;
  headers?: Record<string, string>;
  status: number;
  code: string;
}

const unsignedTrailer = (decodedLength: number): Record<string, string> => ({
  'x-amz-content-sha256': 'STREAMING-UNSIGNED-PAYLOAD-TRAILER',
  'content-encoding': 'aws-chunked',
  'x-amz-decoded-content-length': String(decodedLength),
  'x-amz-trailer': 'x-amz-checksum-crc32',
});
const len = Buffer.byteLength(payload);

const CASES: Case[] = [
  { name: 'bad hex size', body: `zz\r\n${payload}\r\n0\r\n\r\n`, status: 400, code: 'InvalidRequest' },
  {
    name: 'missing CRLF after chunk data',
    body: `${hexLen}\r\n${payload}0\r\nx-amz-checksum-crc32:${crc}\r\n\r\n`,
    status: 400,
    code: 'InvalidRequest',
  },
  {
    name: 'oversized chunk header',
    body: `${hexLen};${'x'.repeat(6000)}\r\n${payload}\r\n0\r\n\r\n`,
    status: 400,
    code: 'InvalidRequest',
  },
  { name: 'missing terminator', body: `${hexLen}\r\n${payload}\r\n`, status: 400, code: 'IncompleteBody' },
  {
    name: 'trailer garbage',
    body: `${hexLen}\r\n${payload}\r\n0\r\nthis is not a trailer\r\n\r\n`,
    status: 400,
    code: 'MalformedTrailerError',
  },
  {
    name: 'undeclared trailer',
    body: `${hexLen}\r\n${payload}\r\n0\r\nx-amz-checksum-sha1:2jmj7l5rSw0yVb/vlWAYkK/YBwk=\r\nx-amz-checksum-crc32:${crc}\r\n\r\n`,
    status: 400,
    code: 'InvalidRequest',
  },
  {
    name: 'decoded length larger than the body',
    body: `${hexLen}\r\n${payload}\r\n0\r\nx-amz-checksum-crc32:${crc}\r\n\r\n`,
    headers: unsignedTrailer(len + 10),
    status: 400,
    code: 'IncompleteBody',
  },
  {
    name: 'decoded length smaller than the body',
    body: `${hexLen}\r\n${payload}\r\n0\r\nx-amz-checksum-crc32:${crc}\r\n\r\n`,
    headers: unsignedTrailer(len - 1),
    status: 400,
    code: 'InvalidRequest',
  },
  {
    name: 'checksum mismatch',
    body: `${hexLen}\r\n${payload}\r\n0\r\nx-amz-checksum-crc32:AAAAAA==\r\n\r\n`,
    status: 400,
    code: 'BadDigest',
  },
  {
    name: 'data after the end',
    body: `${hexLen}\r\n${payload}\r\n0\r\nx-amz-checksum-crc32:${crc}\r\n\r\nEXTRA`,
    status: 400,
    code: 'InvalidRequest',
  },
  {
    name: 'chunk signature in an unsigned variant',
    body: `${hexLen};chunk-signature=${sig}\r\n${payload}\r\n0;chunk-signature=${sig}\r\n\r\n`,
    status: 400,
    code: 'InvalidRequest',
  },
  {
    name: 'signed variant without signatures',
    body: `${hexLen}\r\n${payload}\r\n0\r\n\r\n`,
    headers: {
      'x-amz-content-sha256': 'STREAMING-AWS4-HMAC-SHA256-PAYLOAD',
      'content-encoding': 'aws-chunked',
      'x-amz-decoded-content-length': String(len),
    },
    status: 400,
    code: 'InvalidRequest',
  },
  {
    name: 'unknown STREAMING- variant',
    body: `${hexLen}\r\n${payload}\r\n0\r\n\r\n`,
    headers: { ...unsignedTrailer(len), 'x-amz-content-sha256': 'STREAMING-NOT-A-THING' },
    status: 400,
    code: 'InvalidArgument',
  },
  {
    name: 'missing x-amz-decoded-content-length',
    body: `${hexLen}\r\n${payload}\r\n0\r\n\r\n`,
    headers: {
      'x-amz-content-sha256': 'STREAMING-UNSIGNED-PAYLOAD-TRAILER',
      'content-encoding': 'aws-chunked',
    },
    status: 411,
    code: 'MissingContentLength',
  },
  {
    name: 'non-numeric x-amz-decoded-content-length',
    body: `${hexLen}\r\n${payload}\r\n0\r\n\r\n`,
    headers: { ...unsignedTrailer(len), 'x-amz-decoded-content-length': '1e3' },
    status: 400,
    code: 'InvalidArgument',
  },
  {
    name: 'empty payload with a bad framing',
    body: `0\r\nnot-a-trailer\r\n\r\n`,
    headers: unsignedTrailer(0),
    status: 400,
    code: 'MalformedTrailerError',
  },
];

/** A PUT written by hand, so nothing between the test and the proxy fixes the framing. */
function chunkedPut(key: string, body: string | Buffer, headers: Record<string, string>) {
  const bytes = typeof body === 'string' ? Buffer.from(body, 'latin1') : body;
  const head =
    `PUT /${bucket}/${key} HTTP/1.1\r\nHost: 127.0.0.1:${proxy.port}\r\nConnection: close\r\n` +
    Object.entries({ ...headers, 'content-length': String(bytes.length) })
      .map(([k, v]) => `${k}: ${v}\r\n`)
      .join('') +
    '\r\n';
  return rawRequest(proxy.port, Buffer.concat([Buffer.from(head, 'latin1'), bytes]));
}

/** Paths in the bucket's inventory; empty while its database does not exist yet. */
async function inventoryPaths(): Promise<string[]> {
  const url = new URL(services.postgres.url);
  url.pathname = `/${databaseNameFor(bucket)}`;
  const pg = new Client({ connectionString: url.toString() });
  try {
    await pg.connect();
    return (await pg.query<{ path: string }>('SELECT path FROM files ORDER BY path')).rows.map((r) => r.path);
  } catch (err) {
    if (['3D000', '42P01'].includes((err as { code?: string }).code ?? '')) return [];
    throw err;
  } finally {
    await pg.end().catch(() => undefined);
  }
}

async function mainText(key: string): Promise<string | 'absent'> {
  try {
    const got = await direct.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
    return await got.Body!.transformToString();
  } catch (err) {
    if ((err as { name?: string }).name === 'NoSuchKey') return 'absent';
    throw err;
  }
}

describe.each(CASES)('$name', ({ name, body, headers, status, code }) => {
  const slug = name.replace(/[^a-z0-9]+/gi, '-');

  test(`→ ${status} ${code}, nothing stored on a fresh key`, async () => {
    const res = await chunkedPut(`fresh/${slug}`, body, headers ?? unsignedTrailer(len));
    expect(res.status).toBe(status);
    expect(res.headers['content-type']).toBe('application/xml');
    expect(res.body).toMatch(/^<\?xml version="1.0" encoding="UTF-8"\?>\n<Error><Code>/);
    expect(res.body).toContain(`<Code>${code}</Code>`);
    expect(res.body).toContain(`<Resource>/${bucket}/fresh/${slug}</Resource>`);
    expect(await mainText(`fresh/${slug}`)).toBe('absent');
  });

  test('an existing object keeps its bytes', async () => {
    const key = `existing/${slug}`;
    await direct.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: ORIGINAL }));
    const res = await chunkedPut(key, body, headers ?? unsignedTrailer(len));
    expect(res.status).toBe(status);
    expect(await mainText(key)).toBe(ORIGINAL);
  });
});

test('a 6 MiB upload whose checksum fails at the very end stores nothing, though most bytes went upstream', async () => {
  const big = randomBytes(6 * 1024 * 1024);
  const parts: Buffer[] = [];
  for (let at = 0; at < big.length; at += 65536) {
    const chunk = big.subarray(at, at + 65536);
    parts.push(Buffer.from(`${chunk.length.toString(16)}\r\n`), chunk, Buffer.from('\r\n'));
  }
  const wrong = computeChecksum('CRC32', Buffer.from('not the payload'));
  parts.push(Buffer.from(`0\r\nx-amz-checksum-crc32:${wrong}\r\n\r\n`));
  const res = await chunkedPut('big/bad-digest', Buffer.concat(parts), unsignedTrailer(big.length));
  expect(res.status).toBe(400);
  expect(res.body).toContain('<Code>BadDigest</Code>');
  expect(await mainText('big/bad-digest')).toBe('absent');
  const requestBytes = /s3mirror_proxy_request_bytes_total (\d+)/.exec(
    await (await fetch(`${proxy.adminUrl}/metrics`)).text(),
  );
  // The proxy streamed (it did not buffer the body to check it first): all but the held-back last chunk went
  // upstream, and never the last byte, so main could not complete the object.
  expect(Number(requestBytes?.[1])).toBeGreaterThanOrEqual(big.length - 65536);
  expect(Number(requestBytes?.[1])).toBeLessThan(big.length);
});

test('afterwards the proxy is alive, accepts a valid aws-chunked upload, and recorded none of the failures', async () => {
  const health = await fetch(`${proxy.adminUrl}/healthz`);
  expect(health.status).toBe(200);
  const app = appClient(proxy.url);
  // SDK defaults: a stream body goes as STREAMING-UNSIGNED-PAYLOAD-TRAILER with a CRC32 trailer.
  await app.send(
    new PutObjectCommand({
      Bucket: bucket,
      Key: 'after/valid',
      Body: Readable.from([Buffer.from(payload)]),
      ContentLength: len,
    }),
  );
  app.destroy();
  expect(await mainText('after/valid')).toBe(payload);
  await direct.send(new HeadObjectCommand({ Bucket: bucket, Key: 'after/valid' }));

  // The valid write reaches the inventory; none of the refused ones ever do.
  let paths: string[] = [];
  await pollUntil('the valid write in the inventory', async () => {
    paths = await inventoryPaths();
    return paths.includes('after/valid');
  });
  expect(paths).toEqual(['after/valid']);
  // Still the same process: it never crashed and restarted.
  const exited = await Promise.race([
    proxy.process.exited,
    new Promise((r) => setTimeout(() => r('running'), 100)),
  ]);
  expect(exited).toBe('running');
});
