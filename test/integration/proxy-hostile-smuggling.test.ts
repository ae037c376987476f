/**
 * Request smuggling, SSRF and path traversal against the running proxy, with hand-written request bytes
 * (issue 7). A decoy server listens on another port and is named in every way a request can name a host;
 * it must never get a connection. Main sits behind a recording forwarder, so the tests see exactly which
 * requests reached it: refused requests never do, and accepted ones carry one encoded path.
 */
import {
  CreateBucketCommand,
  GetObjectCommand,
  HeadObjectCommand,
  ListBucketsCommand,
  PutObjectCommand,
  type S3Client,
} from '@aws-sdk/client-s3';
import { startHttpFaultProxy, type HttpFaultProxy } from '../harness/http-fault-proxy';
import { appClient, directClient, proxyEnv, startProxyProcess, type ProxyInstance } from '../harness/proxy';
import { rawRequest, startDecoy, type Decoy, type RawResponse } from '../harness/raw-http';
import { loadServices, type TestServices } from '../harness/services';

let services: TestServices;
let proxy: ProxyInstance;
let recorder: HttpFaultProxy;
let decoy: Decoy;
let direct: S3Client;
const bucket = `smuggle-${Date.now().toString(36)}`;
const other = `${bucket}-other`;
const CONTENT = 'the object that the proxy is allowed to serve';

beforeAll(async () => {
  services = loadServices();
  decoy = await startDecoy();
  recorder = await startHttpFaultProxy(services.ceph.mainEndpoint);
  proxy = await startProxyProcess(
    proxyEnv(services, { MAIN_S3_ENDPOINT: recorder.url, VIRTUAL_HOST_BASES: 'localhost,s3.local' }),
  );
  direct = directClient(services.ceph.mainEndpoint, services.ceph.main);
  await direct.send(new CreateBucketCommand({ Bucket: bucket }));
  await direct.send(new CreateBucketCommand({ Bucket: other }));
  await direct.send(new PutObjectCommand({ Bucket: bucket, Key: 'obj', Body: CONTENT }));
  await direct.send(new PutObjectCommand({ Bucket: other, Key: 'secret', Body: 'other bucket' }));
});

afterAll(async () => {
  if (proxy) process.stderr.write(`--- proxy output (tail)\n${proxy.process.output().slice(-6000)}\n`);
  await proxy?.stop();
  await recorder?.close();
  await decoy?.close();
  direct?.destroy();
});

afterEach(() => {
  // Whatever a test sent, nothing ever reached the decoy.
  expect(decoy.connections).toEqual([]);
});

const decoyHost = () => `127.0.0.1:${decoy.port}`;
const send = (request: string, opts: Parameters<typeof rawRequest>[2] = {}) =>
  rawRequest(proxy.port, Buffer.from(request, 'latin1'), opts);

/** Requests main received while `fn` ran. */
async function upstreamDuring<T>(fn: () => Promise<T>): Promise<{ result: T; seen: string[] }> {
  const before = recorder.requests.length;
  const result = await fn();
  // Let an in-flight forward land before reading the log.
  await new Promise((r) => setTimeout(r, 200));
  // The proxy's own mirror worker also reads from main (its copier, or the SDK for multipart); keep only
  // the data path's requests.
  const dataPath = recorder.requests
    .slice(before)
    .filter((r) => !/aws-sdk-js|k8s-s3-mirror-copier/.test(String(r.headers['user-agent'] ?? '')));
  return { result, seen: dataPath.map((r) => `${r.method} ${r.url}`) };
}

/** An S3 XML error; `fromProxy` also checks the proxy's own rendering (main's differs in details). */
function expectS3Error(res: RawResponse, status: number, code: string, fromProxy = true): void {
  expect({ status: res.status, code: /<Code>([^<]*)<\/Code>/.exec(res.body)?.[1] }).toEqual({ status, code });
  expect(res.headers['content-type']).toBe('application/xml');
  if (fromProxy) {
    expect(res.body.startsWith('<?xml version="1.0" encoding="UTF-8"?>\n<Error>')).toBe(true);
    expect(res.headers['x-amz-request-id']).toMatch(/^[0-9A-F]{16}$/);
  }
}

describe('SSRF: only MAIN_S3_ENDPOINT is ever contacted', () => {
  test.each([
    [
      'absolute-form naming the decoy',
      () => `GET http://${decoyHost()}/${bucket}/obj HTTP/1.1\r\nHost: ${decoyHost()}\r\n`,
    ],
    [
      'absolute-form with userinfo',
      () => `GET http://user:pw@${decoyHost()}/${bucket}/obj HTTP/1.1\r\nHost: x\r\n`,
    ],
    [
      'absolute-form https',
      () => `GET https://${decoyHost()}/${bucket}/obj HTTP/1.1\r\nHost: ${decoyHost()}\r\n`,
    ],
    ['Host naming the decoy', () => `GET /${bucket}/obj HTTP/1.1\r\nHost: ${decoyHost()}\r\n`],
    [
      'Host naming the real main endpoint',
      () => `GET /${bucket}/obj HTTP/1.1\r\nHost: ${new URL(services.ceph.mainEndpoint).host}\r\n`,
    ],
    [
      'forwarding headers naming the decoy',
      () =>
        `GET /${bucket}/obj HTTP/1.1\r\nHost: localhost\r\nX-Forwarded-Host: ${decoyHost()}\r\n` +
        `Forwarded: host=${decoyHost()};proto=http\r\nX-Forwarded-For: 10.0.0.1\r\nX-Original-URL: http://${decoyHost()}/\r\n`,
    ],
    ['HTTP/1.0 without Host', () => `GET /${bucket}/obj HTTP/1.0\r\n`],
  ])('%s → served from main', async (_name, request) => {
    const { result, seen } = await upstreamDuring(() => send(`${request()}Connection: close\r\n\r\n`));
    expect(result.status).toBe(200);
    expect(result.body).toBe(CONTENT);
    expect(seen).toEqual([`GET /${bucket}/obj`]);
    const forwarded = recorder.requests.at(-1)!;
    expect(forwarded.headers.host).toBe(new URL(recorder.url).host);
    for (const h of ['x-forwarded-host', 'forwarded', 'x-original-url']) {
      // Passed on (S3 ignores them) but they cannot change where the proxy connects or what it signs for.
      if (forwarded.headers[h] !== undefined)
        expect(forwarded.headers.authorization).toMatch(/^AWS4-HMAC-SHA256 /);
    }
  });

  test('virtual-hosted Host names a bucket, never a server', async () => {
    const { result, seen } = await upstreamDuring(() =>
      send(`GET /obj HTTP/1.1\r\nHost: ${bucket}.s3.local:${decoy.port}\r\nConnection: close\r\n\r\n`),
    );
    expect(result.body).toBe(CONTENT);
    expect(seen).toEqual([`GET /${bucket}/obj`]);
    // The port is cut at the last colon, so this is no virtual host: path-style, bucket "obj", on main.
    const weird = await upstreamDuring(() =>
      send(`GET /obj HTTP/1.1\r\nHost: 127.0.0.1:${decoy.port}.localhost\r\nConnection: close\r\n\r\n`),
    );
    expectS3Error(weird.result, 404, 'NoSuchBucket', false);
    expect(weird.seen).toEqual(['GET /obj']);
  });

  test('CONNECT to the decoy is refused with an S3 error and no tunnel', async () => {
    const { result, seen } = await upstreamDuring(() =>
      send(
        `CONNECT ${decoyHost()} HTTP/1.1\r\nHost: ${decoyHost()}\r\n\r\nGET / HTTP/1.1\r\nHost: x\r\n\r\n`,
        { waitClose: true },
      ),
    );
    expectS3Error(result, 405, 'MethodNotAllowed');
    expect(result.count).toBe(1);
    expect(result.closed).toBe(true);
    expect(seen).toEqual([]);
  });

  test('an Upgrade request is not tunnelled: main gets a plain request without Upgrade', async () => {
    const { result, seen } = await upstreamDuring(() =>
      send(
        `GET /${bucket}/obj HTTP/1.1\r\nHost: localhost\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n` +
          `Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n`,
      ),
    );
    if (seen.length === 0) {
      // Refused outright: fine, as long as it is an S3 error and nothing was tunnelled.
      expectS3Error(result, 405, 'MethodNotAllowed');
    } else {
      expect(result.status).toBe(200);
      expect(result.body).toBe(CONTENT);
      expect(recorder.requests.at(-1)!.headers.upgrade).toBeUndefined();
    }
    expect(result.raw).not.toMatch(/^HTTP\/1\.1 101/);
  });

  test.each(['TRACE', 'OPTIONS'])('%s is refused', async (method) => {
    const { result, seen } = await upstreamDuring(() =>
      send(`${method} /${bucket}/obj HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n`),
    );
    expectS3Error(result, 405, 'MethodNotAllowed');
    expect(seen).toEqual([]);
  });

  test('asterisk-form is refused', async () => {
    const { result, seen } = await upstreamDuring(() =>
      send(`GET * HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n`),
    );
    expectS3Error(result, 400, 'InvalidURI');
    expect(seen).toEqual([]);
  });
});

describe('smuggling: ambiguous framing is refused before anything reaches main', () => {
  const smuggled = (head: string, body: string) =>
    `${head}\r\n${body}GET /${bucket}/smuggled HTTP/1.1\r\nHost: localhost\r\n\r\n`;

  test.each([
    [
      'duplicate Content-Length (different values)',
      smuggled(
        `PUT /${bucket}/cl HTTP/1.1\r\nHost: localhost\r\nContent-Length: 5\r\nContent-Length: 50\r\n`,
        'hello',
      ),
    ],
    [
      'duplicate Content-Length (same values)',
      smuggled(
        `PUT /${bucket}/cl HTTP/1.1\r\nHost: localhost\r\nContent-Length: 5\r\nContent-Length: 5\r\n`,
        'hello',
      ),
    ],
    [
      'Content-Length list',
      smuggled(`PUT /${bucket}/cl HTTP/1.1\r\nHost: localhost\r\nContent-Length: 5, 5\r\n`, 'hello'),
    ],
    [
      'Content-Length with Transfer-Encoding (CL.TE)',
      smuggled(
        `PUT /${bucket}/clte HTTP/1.1\r\nHost: localhost\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n`,
        '0\r\n\r\n',
      ),
    ],
    [
      'Transfer-Encoding with Content-Length (TE.CL)',
      smuggled(
        `PUT /${bucket}/tecl HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding: chunked\r\nContent-Length: 60\r\n`,
        '0\r\n\r\n',
      ),
    ],
    [
      'obfuscated Transfer-Encoding',
      smuggled(
        `PUT /${bucket}/te HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding: xchunked\r\n`,
        '0\r\n\r\n',
      ),
    ],
    [
      'Transfer-Encoding not ending in chunked',
      smuggled(
        `PUT /${bucket}/te HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding: chunked, identity\r\n`,
        '0\r\n\r\n',
      ),
    ],
    [
      'Transfer-Encoding with a space before the colon',
      smuggled(
        `PUT /${bucket}/te HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding : chunked\r\n`,
        '0\r\n\r\n',
      ),
    ],
    [
      'Transfer-Encoding folded onto a continuation line',
      smuggled(
        `PUT /${bucket}/te HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding:\r\n chunked\r\n`,
        '0\r\n\r\n',
      ),
    ],
    ['bare LF line ends', smuggled(`PUT /${bucket}/lf HTTP/1.1\nHost: localhost\nContent-Length: 0\n`, '')],
    [
      'bare CR inside a header value',
      smuggled(
        `PUT /${bucket}/cr HTTP/1.1\r\nHost: localhost\r\nX-Amz-Meta-A: x\rX-Injected: 1\r\nContent-Length: 0\r\n`,
        '',
      ),
    ],
    [
      'a space inside a header name',
      smuggled(`PUT /${bucket}/sp HTTP/1.1\r\nHost: localhost\r\nX-Amz Meta: x\r\nContent-Length: 0\r\n`, ''),
    ],
    ['NUL in the request line', smuggled(`GET /${bucket}/obj\0 HTTP/1.1\r\nHost: localhost\r\n`, '')],
    [
      'invalid chunk size in a chunked body',
      `PUT /${bucket}/badchunk HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding: chunked\r\n\r\n` +
        `5\r\nhello\r\nzz\r\nGET /${bucket}/smuggled HTTP/1.1\r\nHost: localhost\r\n\r\n`,
    ],
  ])('%s', async (_name, request) => {
    const { result, seen } = await upstreamDuring(() =>
      send(request, { timeoutMs: 15_000, waitClose: true }),
    );
    expect(result.status).toBe(400);
    expect(result.body).toMatch(
      /<Error><Code>BadRequest<\/Code>|<Code>IncompleteBody<\/Code>|<Code>InvalidRequest<\/Code>/,
    );
    // Exactly one answer, then the connection is closed: the tail is never parsed as a second request.
    expect(result.count).toBe(1);
    expect(result.closed).toBe(true);
    expect(seen.filter((s) => s.includes('smuggled'))).toEqual([]);
    // No object was written under any of the keys used above.
    for (const key of ['cl', 'clte', 'tecl', 'te', 'lf', 'cr', 'sp', 'badchunk', 'smuggled']) {
      await expect(direct.send(new HeadObjectCommand({ Bucket: bucket, Key: key }))).rejects.toMatchObject({
        name: 'NotFound',
      });
    }
  });

  test('well-framed pipelined requests are answered in order (the framing is honoured, not guessed)', async () => {
    const res = await send(
      `GET /${bucket}/obj HTTP/1.1\r\nHost: localhost\r\n\r\n` +
        `GET /${bucket}/obj HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n`,
      { responses: 2 },
    );
    expect(res.count).toBe(2);
    expect(res.status).toBe(200);
  });
});

describe('header injection and huge headers', () => {
  test('CR/LF encoded in a key stays inside the key: one request line upstream, no injected header', async () => {
    const encodedKey = 'inj%0D%0AX-Injected:%20yes%0D%0A%0D%0AGET%20/evil';
    const put = await upstreamDuring(() =>
      send(
        `PUT /${bucket}/${encodedKey} HTTP/1.1\r\nHost: localhost\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok`,
      ),
    );
    const forwarded = recorder.requests.at(-1)!;
    expect(forwarded.headers['x-injected']).toBeUndefined();
    expect(put.seen).toHaveLength(1);
    expect(put.seen[0]).toBe(
      `PUT /${bucket}/inj%0D%0AX-Injected%3A%20yes%0D%0A%0D%0AGET%20%2Fevil`.replace('%2F', '/'),
    );
    if (put.result.status === 200) {
      const got = await direct.send(
        new GetObjectCommand({ Bucket: bucket, Key: 'inj\r\nX-Injected: yes\r\n\r\nGET /evil' }),
      );
      expect(await got.Body!.transformToString()).toBe('ok');
    } else {
      // If main refuses such a key, the refusal is main's S3 error, passed through.
      expect(put.result.body).toContain('<Error>');
    }
  });

  test('CR/LF encoded in query values and metadata stays encoded', async () => {
    const { result, seen } = await upstreamDuring(() =>
      send(
        `GET /${bucket}/obj?response-content-type=text%2Fplain%0D%0AX-Injected:%201 HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n`,
      ),
    );
    expect(seen).toEqual([`GET /${bucket}/obj?response-content-type=text%2Fplain%0D%0AX-Injected%3A%201`]);
    expect(result.raw.toLowerCase()).not.toContain('\r\nx-injected:');
  });

  test('a header section over the limit gets 431 with an S3 error', async () => {
    const { result, seen } = await upstreamDuring(() =>
      send(`GET /${bucket}/obj HTTP/1.1\r\nHost: localhost\r\nX-Amz-Meta-Big: ${'a'.repeat(20_000)}\r\n\r\n`),
    );
    expect(result.status).toBe(431);
    expect(result.body).toContain('<Code>RequestHeaderSectionTooLarge</Code>');
    expect(seen).toEqual([]);
  });

  test('many small headers over the limit get 431 too', async () => {
    const many = Array.from({ length: 1500 }, (_, i) => `X-Amz-Meta-H${i}: v\r\n`).join('');
    const { result, seen } = await upstreamDuring(() =>
      send(`GET /${bucket}/obj HTTP/1.1\r\nHost: localhost\r\n${many}\r\n`),
    );
    expect(result.status).toBe(431);
    expect(seen).toEqual([]);
  });

  test('a large header set within the limit is main’s to judge: forwarded intact, main’s answer returned', async () => {
    // 8 KiB of user metadata: over AWS S3's 2 KiB limit, within RGW's. The proxy must not decide either way.
    const meta = Array.from({ length: 40 }, (_, i) => `X-Amz-Meta-K${i}: ${'v'.repeat(200)}\r\n`).join('');
    const { result, seen } = await upstreamDuring(() =>
      send(
        `PUT /${bucket}/meta HTTP/1.1\r\nHost: localhost\r\n${meta}Content-Length: 1\r\nConnection: close\r\n\r\nx`,
      ),
    );
    expect(seen).toEqual([`PUT /${bucket}/meta`]);
    const forwarded = recorder.requests.find((r) => r.method === 'PUT' && r.url === `/${bucket}/meta`)!;
    expect(Object.keys(forwarded.headers).filter((h) => h.startsWith('x-amz-meta-'))).toHaveLength(40);
    expect(result.status).toBe(forwarded.status);
    if (result.status === 200) {
      const head = await direct.send(new HeadObjectCommand({ Bucket: bucket, Key: 'meta' }));
      expect(Object.keys(head.Metadata ?? {})).toHaveLength(40);
    } else {
      expect(result.body).toContain('<Code>MetadataTooLarge</Code>');
    }
  });
});

describe('path traversal', () => {
  const traversals = [
    `/${bucket}/../${other}/secret`,
    `/${bucket}/%2e%2e/${other}/secret`,
    `/${bucket}/%2E%2E/${other}/secret`,
    `/${bucket}/.%2e/${other}/secret`,
    `/${bucket}/a/%2F../../${other}/secret`,
    `/${bucket}/a%2F..%2F..%2F${other}%2Fsecret`,
    `/${bucket}/./obj`,
    `/${bucket}/obj/..`,
    `/${bucket}/%2e`,
  ];

  // S3 stores `..` and `.` segments as part of a key (issue 10): such a request names a key of that bucket,
  // sent on as SDKs send it. It must never become a path into another bucket, on the way or at main.
  const expectStaysInBucket = (result: RawResponse, seen: string[]): void => {
    expectS3Error(result, 404, 'NoSuchKey', false);
    expect(result.body).not.toContain('other bucket');
    expect(seen).toHaveLength(1);
    expect(seen[0]!.startsWith(`GET /${bucket}/`)).toBe(true);
  };

  test.each(traversals)(
    'path-style %s: a literal key of that bucket, never the other bucket',
    async (path) => {
      const { result, seen } = await upstreamDuring(() =>
        send(`GET ${path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n`),
      );
      expectStaysInBucket(result, seen);
    },
  );

  test.each([
    `/../${other}/secret`,
    `/%2e%2e/${other}/secret`,
    `/%2e%2e%2f${other}%2fsecret`,
    `/x/../../${other}/secret`,
  ])('virtual-hosted %s: a literal key of that bucket, never the other bucket', async (path) => {
    const { result, seen } = await upstreamDuring(() =>
      send(`GET ${path} HTTP/1.1\r\nHost: ${bucket}.localhost\r\nConnection: close\r\n\r\n`),
    );
    expectStaysInBucket(result, seen);
  });

  test.each([`/..`, `/%2e%2e/secret`, `/.%2E/x`, `/${encodeURIComponent(`${bucket}/..`)}/x`])(
    'a bucket segment %s → InvalidBucketName',
    async (path) => {
      const { result, seen } = await upstreamDuring(() =>
        send(`GET ${path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n`),
      );
      expectS3Error(result, 400, 'InvalidBucketName');
      expect(seen).toEqual([]);
    },
  );

  test('look-alikes that are legal keys reach main as literal, encoded keys', async () => {
    for (const [raw, key, wire] of [
      [`..%5Cx`, '..\\x', '..%5Cx'],
      [`...`, '...', '...'],
      [`..a/b..`, '..a/b..', '..a/b..'],
      [`%252e%252e`, '%2e%2e', '%252e%252e'],
    ] as const) {
      const { result, seen } = await upstreamDuring(() =>
        send(
          `PUT /${bucket}/t/${raw} HTTP/1.1\r\nHost: localhost\r\nContent-Length: 3\r\nConnection: close\r\n\r\nabc`,
        ),
      );
      expect(result.status).toBe(200);
      expect(seen).toEqual([`PUT /${bucket}/t/${wire}`]);
      const got = await direct.send(new GetObjectCommand({ Bucket: bucket, Key: `t/${key}` }));
      expect(await got.Body!.transformToString()).toBe('abc');
    }
  });
});

describe('ALLOWED_BUCKETS also bounds what a copy may read', () => {
  let fenced: ProxyInstance;
  beforeAll(async () => {
    fenced = await startProxyProcess(proxyEnv(services, { ALLOWED_BUCKETS: bucket }));
  });
  afterAll(async () => {
    await fenced?.stop();
  });
  const put = (key: string, source: string) =>
    rawRequest(
      fenced.port,
      `PUT /${bucket}/${key} HTTP/1.1\r\nHost: localhost\r\nx-amz-copy-source: ${source}\r\n` +
        'Content-Length: 0\r\nConnection: close\r\n\r\n',
    );

  test('a disallowed bucket is refused directly', async () => {
    const res = await rawRequest(
      fenced.port,
      `GET /${other}/secret HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n`,
    );
    expectS3Error(res, 403, 'AccessDenied');
  });

  test.each([
    `/${other}/secret`,
    `${other}/secret`,
    `${encodeURIComponent(other)}/secret?versionId=null`,
    `/${bucket}%2F..%2F${other}/secret`,
    'arn:aws:s3:us-east-1:123456789012:accesspoint/ap/object/secret',
    'garbage',
  ])('CopyObject from %s is refused and writes nothing', async (source) => {
    const res = await put('copied', source);
    expectS3Error(res, 403, 'AccessDenied');
    await expect(direct.send(new HeadObjectCommand({ Bucket: bucket, Key: 'copied' }))).rejects.toMatchObject(
      {
        name: 'NotFound',
      },
    );
  });

  test('UploadPartCopy from a disallowed bucket is refused', async () => {
    const res = await rawRequest(
      fenced.port,
      `PUT /${bucket}/mp?partNumber=1&uploadId=x HTTP/1.1\r\nHost: localhost\r\n` +
        `x-amz-copy-source: /${other}/secret\r\nContent-Length: 0\r\nConnection: close\r\n\r\n`,
    );
    expectS3Error(res, 403, 'AccessDenied');
  });

  test('ListBuckets names only the allowed bucket (main holds more)', async () => {
    const names = async (client: S3Client): Promise<string[]> =>
      ((await client.send(new ListBucketsCommand({}))).Buckets ?? []).map((b) => b.Name!);
    const all = await names(direct);
    expect(all).toEqual(expect.arrayContaining([bucket, other]));
    expect(await names(appClient(fenced.url))).toEqual([bucket]);
    // Without an allow-list the proxy passes main's whole answer.
    expect((await names(appClient(proxy.url))).sort()).toEqual([...all].sort());
  });

  test('a copy inside the allowed bucket works (the check can pass)', async () => {
    const res = await put('copied-ok', `/${bucket}/obj`);
    expect(res.status).toBe(200);
    const got = await direct.send(new GetObjectCommand({ Bucket: bucket, Key: 'copied-ok' }));
    expect(await got.Body!.transformToString()).toBe(CONTENT);
  });
});

test('the proxy process is still the same, healthy process', async () => {
  const exited = await Promise.race([
    proxy.process.exited,
    new Promise((r) => setTimeout(() => r('running'), 100)),
  ]);
  expect(exited).toBe('running');
  expect((await fetch(`${proxy.adminUrl}/healthz`)).status).toBe(200);
  const res = await send(`GET /${bucket}/obj HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n`);
  expect(res.body).toBe(CONTENT);
});
