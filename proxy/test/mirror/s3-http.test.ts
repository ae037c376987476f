/**
 * The copier's signed requests on the wire, against a local HTTP server: what arrives (path, query,
 * header bytes, a signature the server can check), connection reuse, and a body that fails mid-stream.
 */
import { getEventListeners } from 'node:events';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { Readable } from 'node:stream';

import { createHash } from 'node:crypto';

import type { S3Client } from '@aws-sdk/client-s3';

import type { S3Endpoint } from '../../src/config';
import { sameBucketName } from '../../src/mirror/bucket-name';
import { mirrorKey } from '../../src/mirror/copier';
import { consumeRest, errorOf, readText, signedS3Http, type ClosableS3Http } from '../../src/mirror/s3-http';
import { parseAuthorization, referenceSignature } from '../sigv4/reference';
import { recordingLogger } from '../tracking/fakes';
import { staticCredentials } from '../../src/credentials';

const SAME_BUCKET = { mirrorBucket: sameBucketName, mirrorRegion: 'us-east-1' };

interface Received {
  method: string;
  url: string;
  /** Header values as the bytes that came (Node reads them as latin1). */
  headers: Record<string, string>;
  body: Buffer;
  /** False when the request broke off before its body ended. */
  complete: boolean;
  socket: Socket;
}

let server: Server;
let endpoint: S3Endpoint;
let http: ClosableS3Http;
let received: Received[];
let handle: (req: IncomingMessage, res: ServerResponse, got: Received) => void;
const answer = (_req: IncomingMessage, res: ServerResponse): void => void res.end();

beforeEach(async () => {
  received = [];
  handle = answer;
  server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    const got: Received = {
      method: req.method!,
      url: req.url!,
      headers: Object.fromEntries(Object.entries(req.headers).map(([k, v]) => [k, String(v)])),
      body: Buffer.alloc(0),
      complete: false,
      socket: req.socket,
    };
    received.push(got);
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('error', () => undefined);
    req.on('end', () => {
      got.body = Buffer.concat(chunks);
      got.complete = true;
      handle(req, res, got);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  endpoint = {
    url: new URL(`http://127.0.0.1:${(server.address() as AddressInfo).port}`),
    region: 'eu-central-1',
    credentials: staticCredentials('main', {
      accessKeyId: 'AKIDEXAMPLE',
      secretAccessKey: 'wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY',
    }),
  };
  http = signedS3Http(endpoint);
});

afterEach(async () => {
  await http.destroy();
  server.closeAllConnections();
  await new Promise<void>((resolve) => server.close(() => resolve()));
});

/** Checks the request's signature as S3 would: recomputed from what arrived. */
function signatureHolds(got: Received): boolean {
  const auth = parseAuthorization(got.headers.authorization!);
  const [path, query = ''] = got.url.split('?');
  const signed = Object.fromEntries(auth.signedHeaders.split(';').map((n) => [n, got.headers[n]!]));
  const { signature } = referenceSignature({
    method: got.method,
    canonicalUri: path!,
    canonicalQueryPairs: query === '' ? [] : query.split('&').map((p) => (p.includes('=') ? p : `${p}=`)),
    headers: signed,
    payloadHash: got.headers['x-amz-content-sha256']!,
    amzDate: got.headers['x-amz-date']!,
    region: endpoint.region,
    service: 's3',
    secretAccessKey: endpoint.credentials.current().secretAccessKey,
  });
  return auth.credential.startsWith('AKIDEXAMPLE/') && signature === auth.signature;
}

test('a GET is path-style, encoded once, with ?tagging, and signed as S3 checks it', async () => {
  const res = await http.send({
    method: 'GET',
    bucket: 'b',
    key: "dir é/ü ñ+%&=?~*'()",
    query: [['tagging', null]],
  });
  await readText(res.body, 1024);
  const got = received[0]!;
  expect(got.url).toBe('/b/dir%20%C3%A9/%C3%BC%20%C3%B1%2B%25%26%3D%3F~%2A%27%28%29?tagging');
  expect(got.headers['x-amz-content-sha256']).toBe(
    'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855',
  );
  expect(got.headers.host).toBe(endpoint.url.host);
  expect(signatureHolds(got)).toBe(true);
});

test('a PUT streams its body with the header bytes given, UNSIGNED-PAYLOAD, and a valid signature', async () => {
  const note = Buffer.from('crème brûlée, Å à', 'utf8');
  const res = await http.send({
    method: 'PUT',
    bucket: 'b',
    key: 'k',
    headers: {
      'content-length': '10',
      'content-type': 'text/plain',
      'x-amz-meta-note': note.toString('latin1'),
      'content-md5': 'XUFAKrxLKna5cZ2REBfFkg==',
    },
    body: Readable.from([Buffer.from('hello'), Buffer.from('world')]),
  });
  expect(res.statusCode).toBe(200);
  const got = received[0]!;
  expect(got.body.toString()).toBe('helloworld');
  expect(Buffer.from(got.headers['x-amz-meta-note']!, 'latin1')).toEqual(note);
  expect(got.headers['x-amz-content-sha256']).toBe('UNSIGNED-PAYLOAD');
  expect(parseAuthorization(got.headers.authorization!).signedHeaders).toBe(
    'content-md5;content-type;host;x-amz-content-sha256;x-amz-date;x-amz-meta-note',
  );
  // The reference hashes UTF-8 text: check the signature on an ASCII request.
  await http.send({ method: 'PUT', bucket: 'b', key: 'k', headers: { 'content-length': '0' } });
  expect(signatureHolds(received[1]!)).toBe(true);
});

test('HEADs reuse one connection (undici would close it after each HEAD unless told not to)', async () => {
  for (let i = 0; i < 3; i++) {
    const res = await http.send({ method: 'HEAD', bucket: 'b', key: `k${i}` });
    await readText(res.body, 1024);
    // The pool takes the connection back a turn after the answer ended.
    await new Promise((resolve) => setImmediate(resolve));
  }
  expect(received).toHaveLength(3);
  expect(new Set(received.map((r) => r.socket)).size).toBe(1);
});

test('a body that fails mid-stream cuts the request: the server never gets a complete one', async () => {
  const failing = Readable.from(
    (async function* () {
      yield Buffer.alloc(1000, 1);
      await new Promise((r) => setTimeout(r, 20));
      throw new Error('the source broke off');
    })(),
  );
  await expect(
    http.send({ method: 'PUT', bucket: 'b', key: 'k', headers: { 'content-length': '5000' }, body: failing }),
  ).rejects.toThrow();
  await new Promise((r) => setTimeout(r, 20));
  expect(received).toHaveLength(1);
  expect(received[0]!.complete).toBe(false);
});

/** A server that drops the connection of the first request it gets (a connection it had closed) and answers the rest. */
function closesFirstConnection(): typeof handle {
  let first = true;
  return (req, res) => {
    if (!first) return void res.end();
    first = false;
    req.socket.destroy();
  };
}

test('a request without a body is sent once more when its connection had been closed', async () => {
  handle = closesFirstConnection();
  const res = await http.send({ method: 'DELETE', bucket: 'b', key: 'k' });
  expect(res.statusCode).toBe(200);
  expect(received.map((r) => r.method)).toEqual(['DELETE', 'DELETE']);
});

test('a request with a buffer body is sent once more too (a stream is spent, a buffer is not)', async () => {
  handle = closesFirstConnection();
  const body = Buffer.from('<VersioningConfiguration/>');
  const res = await http.send({
    method: 'PUT',
    bucket: 'b',
    query: [['versioning', null]],
    headers: { 'content-length': String(body.length) },
    body,
  });
  consumeRest(res.body);
  expect(res.statusCode).toBe(200);
  expect(received.map((r) => r.body.toString())).toEqual([body.toString(), body.toString()]);
});

test('errorOf: an S3 error answer becomes an error named by its code', async () => {
  handle = (_req, res) => {
    res.statusCode = 404;
    res.end('<?xml version="1.0"?><Error><Code>NoSuchBucket</Code><Message>none here</Message></Error>');
  };
  const res = await http.send({ method: 'PUT', bucket: 'b', key: 'k', headers: { 'content-length': '0' } });
  expect(await errorOf(res)).toMatchObject({ name: 'NoSuchBucket', statusCode: 404, message: 'none here' });
});

test('spooled copies reuse their connections: each PutObject ends with its last byte, not the file end', async () => {
  const body = Buffer.alloc(4096, 'small-object-');
  const md5 = createHash('md5').update(body).digest('hex');
  handle = (req, res) => {
    // HEAD: main still holds the spooled write. PUT: answered as soon as the body is in, as the sink does.
    if (req.method === 'HEAD') res.writeHead(200, { 'content-length': body.length, etag: `"${md5}"` });
    else res.writeHead(200, { etag: `"${md5}"` });
    res.end();
  };
  const sdk = {} as S3Client; // never used by a spooled copy of a small object
  const clients = { main: { http, sdk }, mirror: { http, sdk }, ...SAME_BUCKET };
  // A file's end comes one more read after its last byte; here, later than any answer.
  const open = (): Readable =>
    new Readable({
      read() {
        if (this.readableLength > 0 || this.readableEnded) return;
        this.push(body);
        setTimeout(() => this.push(null), 50).unref();
      },
    });
  const spooled = { etag: `"${md5}"`, md5, size: body.length, open };
  for (let i = 0; i < 10; i++) {
    expect(await mirrorKey(clients, 'b', `k${i}`, undefined, spooled)).toMatchObject({ spool: 'used' });
  }
  expect(received.filter((r) => r.method === 'PUT').every((r) => r.body.equals(body))).toBe(true);
  // undici closes a connection whose answer came before its request's end: that would be one per copy.
  expect(new Set(received.map((r) => r.socket)).size).toBeLessThanOrEqual(2);
});

test("every answer is read or let go: no abort listener stays on the copies' long-lived stop signal", async () => {
  // undici keeps its abort listener on a request's signal until the answer's body closes: an answer left
  // unread (a small one still frees its connection) would pin one listener, and its request, per copy.
  const body = Buffer.alloc(4 * 1024 * 1024, 'x');
  const md5 = createHash('md5').update(body).digest('hex');
  handle = (req, res) => {
    if (req.method === 'HEAD' && req.url === '/b') res.writeHead(200);
    else if (req.method === 'HEAD') res.writeHead(200, { 'content-length': 5, etag: '"e"' });
    else if (req.url!.endsWith('?tagging')) {
      res.writeHead(403);
      res.write('<Error><Code>AccessDenied</Code><Message>no</Message></Error>');
    } else if (req.method === 'GET') {
      // Large enough to fill undici's buffers: unread, it would also hold its connection.
      res.writeHead(200, { 'content-length': body.length, etag: `"${md5}"`, 'x-amz-tagging-count': '1' });
      res.write(body);
    } else if (req.method === 'DELETE') res.writeHead(204);
    else res.writeHead(200, { etag: '"m"' });
    res.end();
  };
  const sdk = {} as S3Client;
  const clients = { main: { http, sdk }, mirror: { http, sdk }, ...SAME_BUCKET };
  const stop = new AbortController();
  const opts = { partSizeBytes: 5 * 1024 * 1024, queueSize: 1, signal: stop.signal };
  const hello = Buffer.from('hello');
  const spooled = {
    etag: '"e"',
    md5: createHash('md5').update(hello).digest('hex'),
    size: 5,
    open: () => Readable.from([hello]),
  };
  // A spooled copy (HEAD, PUT), and a copy from main whose tag set cannot be read (its GET left unread).
  await mirrorKey(clients, 'b', 'spooled', opts, spooled);
  await expect(mirrorKey(clients, 'b', 'tagged', opts)).rejects.toMatchObject({ name: 'AccessDenied' });
  await new Promise((r) => setTimeout(r, 50));
  expect(getEventListeners(stop.signal, 'abort')).toHaveLength(0);
});

/** x-amz-date (20260304T100000Z) as ms. */
const amzTime = (amzDate: string): number =>
  Date.parse(amzDate.replace(/^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z$/, '$1-$2-$3T$4:$5:$6Z'));

const MINUTE = 60_000;

/**
 * A server whose clock is `skewMs` off ours, and says so in every Date header: as S3 and RGW, it refuses a
 * signing time more than 15 minutes from its clock with 403 RequestTimeTooSkewed; `next` answers the rest.
 */
function clockOffBy(skewMs: number, next: typeof handle = answer): typeof handle {
  return (req, res, got) => {
    const serverNow = Date.now() + skewMs;
    res.setHeader('date', new Date(serverNow).toUTCString());
    if (Math.abs(amzTime(got.headers['x-amz-date']!) - serverNow) <= 15 * MINUTE) return next(req, res, got);
    res.writeHead(403, { 'content-type': 'application/xml' });
    res.end(
      '<?xml version="1.0" encoding="UTF-8"?><Error><Code>RequestTimeTooSkewed</Code>' +
        '<Message>The difference between the request time and the current time is too large.</Message></Error>',
    );
  };
}

test("a request refused for clock skew goes once more on the server's time, and every later one at once", async () => {
  const { logger, lines } = recordingLogger();
  await http.destroy();
  http = signedS3Http(endpoint, { logger });
  handle = clockOffBy(-20 * MINUTE);
  const head = await http.send({ method: 'HEAD', bucket: 'b', key: 'k' });
  consumeRest(head.body);
  expect(head.statusCode).toBe(200);
  expect(received.map((r) => r.method)).toEqual(['HEAD', 'HEAD']);
  expect(signatureHolds(received[1]!)).toBe(true);
  const get = await http.send({ method: 'GET', bucket: 'b', key: 'k' });
  await readText(get.body, 1024);
  expect(get.statusCode).toBe(200);
  expect(received).toHaveLength(3);
  // Warned once, with the endpoint and its offset; nothing of the credentials.
  expect(lines).toHaveLength(1);
  const [level, , fields] = lines[0]!;
  expect(level).toBe('warn');
  expect(fields).toEqual({ endpoint: endpoint.url.host, clockOffsetSeconds: expect.any(Number) });
  expect(
    Math.abs((fields as { clockOffsetSeconds: number }).clockOffsetSeconds + 20 * 60),
  ).toBeLessThanOrEqual(1);
  expect(JSON.stringify(lines)).not.toMatch(/AKIDEXAMPLE|wJalrXUtnFEMI/);
});

test('requests signed before the correction are each sent once more; the offset is learnt and logged once', async () => {
  const { logger, lines } = recordingLogger();
  await http.destroy();
  http = signedS3Http(endpoint, { logger });
  handle = clockOffBy(60 * MINUTE);
  const answers = await Promise.all(
    [1, 2, 3, 4].map((i) => http.send({ method: 'DELETE', bucket: 'b', key: `k${i}` })),
  );
  for (const res of answers) consumeRest(res.body);
  expect(answers.map((r) => r.statusCode)).toEqual([200, 200, 200, 200]);
  expect(received).toHaveLength(8);
  expect(lines).toHaveLength(1);
});

test('a refused request with a streamed body is not sent again: the caller gets the refusal, its next try passes', async () => {
  handle = clockOffBy(60 * MINUTE);
  const put = () =>
    http.send({
      method: 'PUT',
      bucket: 'b',
      key: 'k',
      headers: { 'content-length': '5' },
      body: Readable.from([Buffer.from('hello')]),
    });
  const refused = await put();
  expect(await errorOf(refused)).toMatchObject({ name: 'RequestTimeTooSkewed', statusCode: 403 });
  expect(received).toHaveLength(1);
  const stored = await put();
  consumeRest(stored.body);
  expect(stored.statusCode).toBe(200);
  expect(received).toHaveLength(2);
  expect(received[1]!.body.toString()).toBe('hello');
});

test("a refused request with a buffer body is sent again on the server's time", async () => {
  handle = clockOffBy(60 * MINUTE);
  const res = await http.send({
    method: 'PUT',
    bucket: 'b',
    key: 'k',
    headers: { 'content-length': '5' },
    body: Buffer.from('hello'),
  });
  consumeRest(res.body);
  expect(res.statusCode).toBe(200);
  expect(received).toHaveLength(2);
  expect(received[1]!.body.toString()).toBe('hello');
});

test('the refusal of a request sent again is read: no abort listener stays on its signal', async () => {
  handle = clockOffBy(-20 * MINUTE);
  const stop = new AbortController();
  const res = await http.send({ method: 'GET', bucket: 'b', key: 'k', signal: stop.signal });
  await readText(res.body, 1024);
  expect(res.statusCode).toBe(200);
  expect(received).toHaveLength(2);
  await new Promise((r) => setTimeout(r, 50));
  expect(getEventListeners(stop.signal, 'abort')).toHaveLength(0);
});

test("a copy to a mirror whose clock is off fails once, and its retry is signed on the mirror's time", async () => {
  const mirrorHttp = signedS3Http({
    ...endpoint,
    credentials: staticCredentials('mirror', { ...endpoint.credentials.current(), accessKeyId: 'MIRRORKEY' }),
  });
  const store: typeof handle = (req, res) => {
    if (req.method === 'GET') res.writeHead(200, { 'content-length': 5, etag: '"e"' });
    else res.writeHead(200, { etag: '"e"' });
    res.end(req.method === 'GET' ? 'hello' : undefined);
  };
  const mirrorOffClock = clockOffBy(-20 * MINUTE, store);
  handle = (req, res, got) =>
    (got.headers.authorization!.includes('Credential=MIRRORKEY/') ? mirrorOffClock : store)(req, res, got);
  const sdk = {} as S3Client;
  const clients = { main: { http, sdk }, mirror: { http: mirrorHttp, sdk }, ...SAME_BUCKET };
  try {
    await expect(mirrorKey(clients, 'b', 'k')).rejects.toMatchObject({ name: 'RequestTimeTooSkewed' });
    expect(await mirrorKey(clients, 'b', 'k')).toMatchObject({ exists: true, size: 5 });
    const puts = received.filter((r) => r.method === 'PUT');
    expect(puts).toHaveLength(2);
    expect(puts[1]!.body.toString()).toBe('hello');
  } finally {
    await mirrorHttp.destroy();
  }
});
