import { Readable } from 'node:stream';
import http from 'node:http';
import {
  CompleteMultipartUploadCommand,
  CopyObjectCommand,
  CreateBucketCommand,
  CreateMultipartUploadCommand,
  DeleteObjectCommand,
  DeleteObjectsCommand,
  GetBucketVersioningCommand,
  GetObjectAclCommand,
  GetObjectCommand,
  GetObjectTaggingCommand,
  HeadObjectCommand,
  ListObjectsV2Command,
  ListPartsCommand,
  PutBucketVersioningCommand,
  PutObjectCommand,
  PutObjectTaggingCommand,
  S3Client,
  UploadPartCommand,
  UploadPartCopyCommand,
  AbortMultipartUploadCommand,
} from '@aws-sdk/client-s3';
import { getSignedUrl } from '@aws-sdk/s3-request-presigner';
import { jsonLogLines } from '../harness/json-lines';
import { loadServices, type TestServices } from '../harness/services';
import { startTcpFaultProxy } from '../harness/tcp-fault-proxy';
import { pollUntil } from '../harness/wait';
import { appClient, directClient, proxyEnv, startProxyProcess, type ProxyInstance } from '../harness/proxy';

jest.setTimeout(300_000);

let services: TestServices;
let proxy: ProxyInstance;
let direct: S3Client;
const bucket = `data-path-${Date.now().toString(36)}`;

const KEYS = [
  'plain.txt',
  'with space/and more spaces.txt',
  'unicode/žluťoučký kůň/日本語.txt',
  'plus+sign+key',
  'percent%2Fliteral%25',
  'double//slash//key',
  'trailing/slash/',
  'colon:a:b',
  '_$folder$',
  'quote\'and"double',
  'tilde~and!bang*(paren)',
];

async function bodyText(body: unknown): Promise<string> {
  return (body as { transformToString(): Promise<string> }).transformToString();
}

function rawRequest(
  url: string,
  opts: http.RequestOptions & { body?: Buffer | string },
): Promise<{ status: number; headers: http.IncomingHttpHeaders; body: string }> {
  return new Promise((resolve, reject) => {
    const req = http.request(url, opts, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () =>
        resolve({ status: res.statusCode!, headers: res.headers, body: Buffer.concat(chunks).toString() }),
      );
    });
    req.on('error', reject);
    req.end(opts.body);
  });
}

beforeAll(async () => {
  services = loadServices();
  proxy = await startProxyProcess(proxyEnv(services));
  direct = directClient(services.ceph.mainEndpoint, services.ceph.main);
  await direct.send(new CreateBucketCommand({ Bucket: bucket }));
});

afterAll(async () => {
  await proxy?.stop();
});

describe('signing', () => {
  test('an app request with junk credentials succeeds through the proxy and is rejected straight at RGW', async () => {
    const app = appClient(proxy.url);
    await app.send(new PutObjectCommand({ Bucket: bucket, Key: 'signed.txt', Body: 'via proxy' }));
    const junkDirect = directClient(services.ceph.mainEndpoint, {
      accessKeyId: services.ceph.main.accessKeyId,
      secretAccessKey: 'app-junk-secret-that-is-wrong',
    });
    await expect(
      junkDirect.send(new GetObjectCommand({ Bucket: bucket, Key: 'signed.txt' })),
    ).rejects.toMatchObject({ name: 'SignatureDoesNotMatch' });
    const read = await direct.send(new GetObjectCommand({ Bucket: bucket, Key: 'signed.txt' }));
    expect(await bodyText(read.Body)).toBe('via proxy');
  });

  test('a presigned URL with the app’s junk signature works through the proxy', async () => {
    const app = appClient(proxy.url);
    const url = await getSignedUrl(app, new GetObjectCommand({ Bucket: bucket, Key: 'signed.txt' }));
    const res = await rawRequest(url, { method: 'GET' });
    expect(res.status).toBe(200);
    expect(res.body).toBe('via proxy');
  });

  test('presigned query parameters are dropped and the request re-signed', async () => {
    const res = await rawRequest(
      `${proxy.url}/${bucket}/signed.txt?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=junk%2F20200101%2Fus-east-1%2Fs3%2Faws4_request&X-Amz-Date=20200101T000000Z&X-Amz-Expires=60&X-Amz-SignedHeaders=host&X-Amz-Signature=deadbeef`,
      { method: 'GET' },
    );
    expect(res.status).toBe(200);
    expect(res.body).toBe('via proxy');
  });

  test('plain curl-style requests without any signature are signed by the proxy', async () => {
    const put = await rawRequest(`${proxy.url}/${bucket}/curl.txt`, {
      method: 'PUT',
      headers: { 'content-type': 'text/plain', 'x-amz-meta-origin': 'curl' },
      body: 'Hello World',
    });
    expect(put.status).toBe(200);
    const head = await direct.send(new HeadObjectCommand({ Bucket: bucket, Key: 'curl.txt' }));
    expect(head.ContentType).toBe('text/plain');
    expect(head.Metadata).toEqual({ origin: 'curl' });
  });
});

describe.each([
  ['SDK defaults (aws-chunked with trailing CRC32 for streams)', {}],
  ['requestChecksumCalculation WHEN_REQUIRED', { requestChecksumCalculation: 'WHEN_REQUIRED' as const }],
])('keys are preserved byte for byte: %s', (_label, clientConfig) => {
  test.each(['path', 'virtual-hosted'])('%s style', async (style) => {
    const app =
      style === 'path'
        ? appClient(proxy.url, clientConfig)
        : appClient(`http://localhost:${proxy.port}`, {
            ...clientConfig,
            forcePathStyle: false,
            // bucket.localhost does not resolve in Node; route every name to loopback like a pod's /etc/hosts would.
            requestHandler: {
              httpAgent: new http.Agent({
                lookup: ((_h: string, opts: unknown, cb: (...a: unknown[]) => void) =>
                  (opts as { all?: boolean }).all
                    ? cb(null, [{ address: '127.0.0.1', family: 4 }])
                    : cb(null, '127.0.0.1', 4)) as never,
              }),
            },
          });
    for (const [i, key] of KEYS.entries()) {
      const fullKey = `${style}/${JSON.stringify(clientConfig)}/${key}`;
      const payload = `payload ${i} for ${key}`;
      // A stream body makes the SDK use aws-chunked with a trailer at default settings.
      await app.send(
        new PutObjectCommand({
          Bucket: bucket,
          Key: fullKey,
          Body: Readable.from([Buffer.from(payload)]),
          ContentLength: Buffer.byteLength(payload),
          ContentType: 'text/x-test',
        }),
      );
      const stored = await direct.send(new GetObjectCommand({ Bucket: bucket, Key: fullKey }));
      expect(await bodyText(stored.Body)).toBe(payload);
      expect(stored.ContentType).toBe('text/x-test');
      const viaProxy = await app.send(new GetObjectCommand({ Bucket: bucket, Key: fullKey }));
      expect(await bodyText(viaProxy.Body)).toBe(payload);
    }
    const prefix = `${style}/${JSON.stringify(clientConfig)}/`;
    const listed = await app.send(new ListObjectsV2Command({ Bucket: bucket, Prefix: prefix }));
    expect(new Set((listed.Contents ?? []).map((o) => o.Key))).toEqual(new Set(KEYS.map((k) => prefix + k)));
  });
});

describe('pass-through semantics', () => {
  const key = 'semantics/object.bin';
  const content = Buffer.from(Array.from({ length: 1000 }, (_, i) => i % 251));

  beforeAll(async () => {
    await direct.send(
      new PutObjectCommand({ Bucket: bucket, Key: key, Body: content, ContentType: 'application/x-bin' }),
    );
  });

  test('range requests return 206 with Content-Range', async () => {
    const res = await rawRequest(`${proxy.url}/${bucket}/${key}`, {
      method: 'GET',
      headers: { range: 'bytes=10-19' },
    });
    expect(res.status).toBe(206);
    expect(res.headers['content-range']).toBe('bytes 10-19/1000');
    expect(Buffer.from(res.body, 'latin1')).toEqual(content.subarray(10, 20));
  });

  test('conditional requests give 304 and 412, HEAD carries ETag and Last-Modified without a body', async () => {
    const head = await rawRequest(`${proxy.url}/${bucket}/${key}`, { method: 'HEAD' });
    expect(head.status).toBe(200);
    expect(head.headers.etag).toMatch(/^"[0-9a-f]+"$/);
    expect(head.headers['last-modified']).toBeDefined();
    expect(head.headers['content-length']).toBe('1000');
    expect(head.body).toBe('');
    const notModified = await rawRequest(`${proxy.url}/${bucket}/${key}`, {
      method: 'GET',
      headers: { 'if-none-match': head.headers.etag! },
    });
    expect(notModified.status).toBe(304);
    const failed = await rawRequest(`${proxy.url}/${bucket}/${key}`, {
      method: 'GET',
      headers: { 'if-match': '"0000"' },
    });
    expect(failed.status).toBe(412);
  });

  test('S3 XML errors pass through unchanged', async () => {
    const res = await rawRequest(`${proxy.url}/${bucket}/does/not/exist`, { method: 'GET' });
    expect(res.status).toBe(404);
    expect(res.body).toContain('<Code>NoSuchKey</Code>');
  });

  test('Expect: 100-continue uploads work', async () => {
    const status = await new Promise<number>((resolve, reject) => {
      const req = http.request(`${proxy.url}/${bucket}/semantics/expect.txt`, {
        method: 'PUT',
        headers: { expect: '100-continue', 'content-length': '5' },
      });
      req.on('continue', () => req.end('hello'));
      req.on('response', (res) => {
        res.resume();
        resolve(res.statusCode!);
      });
      req.on('error', reject);
    });
    expect(status).toBe(200);
    const stored = await direct.send(new GetObjectCommand({ Bucket: bucket, Key: 'semantics/expect.txt' }));
    expect(await bodyText(stored.Body)).toBe('hello');
  });

  test('a malformed request gets an S3 XML error from the proxy', async () => {
    const res = await rawRequest(`${proxy.url}/${bucket}/bad%zzpercent`, { method: 'GET' });
    expect(res.status).toBe(400);
    expect(res.body).toContain('<Code>InvalidURI</Code>');
  });

  test('the Host header cannot redirect the proxy elsewhere', async () => {
    const res = await rawRequest(`${proxy.url}/${bucket}/${key}`, {
      method: 'GET',
      headers: { host: 'evil.example.com' },
    });
    expect(res.status).toBe(200);
    expect(res.body.length).toBe(1000);
  });
});

describe('the whole S3 surface passes', () => {
  test('multipart with UploadPartCopy, ListParts, copy, tagging, ACL, multi-delete, versioning', async () => {
    const app = appClient(proxy.url);
    const part = Buffer.alloc(5 * 1024 * 1024, 'p');
    const created = await app.send(new CreateMultipartUploadCommand({ Bucket: bucket, Key: 'mp/object' }));
    const uploadId = created.UploadId!;
    const p1 = await app.send(
      new UploadPartCommand({
        Bucket: bucket,
        Key: 'mp/object',
        UploadId: uploadId,
        PartNumber: 1,
        Body: part,
      }),
    );
    const p2 = await app.send(
      new UploadPartCopyCommand({
        Bucket: bucket,
        Key: 'mp/object',
        UploadId: uploadId,
        PartNumber: 2,
        CopySource: `${bucket}/semantics/object.bin`,
      }),
    );
    const parts = await app.send(
      new ListPartsCommand({ Bucket: bucket, Key: 'mp/object', UploadId: uploadId }),
    );
    expect(parts.Parts?.map((p) => p.PartNumber)).toEqual([1, 2]);
    await app.send(
      new CompleteMultipartUploadCommand({
        Bucket: bucket,
        Key: 'mp/object',
        UploadId: uploadId,
        MultipartUpload: {
          Parts: [
            { PartNumber: 1, ETag: p1.ETag },
            { PartNumber: 2, ETag: p2.CopyPartResult!.ETag },
          ],
        },
      }),
    );
    const head = await direct.send(new HeadObjectCommand({ Bucket: bucket, Key: 'mp/object' }));
    expect(head.ContentLength).toBe(part.length + 1000);

    const aborted = await app.send(new CreateMultipartUploadCommand({ Bucket: bucket, Key: 'mp/aborted' }));
    await app.send(
      new AbortMultipartUploadCommand({ Bucket: bucket, Key: 'mp/aborted', UploadId: aborted.UploadId }),
    );

    await app.send(
      new CopyObjectCommand({ Bucket: bucket, Key: 'copy/dst', CopySource: `${bucket}/mp/object` }),
    );
    expect(
      (await direct.send(new HeadObjectCommand({ Bucket: bucket, Key: 'copy/dst' }))).ContentLength,
    ).toBe(part.length + 1000);

    await app.send(
      new PutObjectTaggingCommand({
        Bucket: bucket,
        Key: 'copy/dst',
        Tagging: { TagSet: [{ Key: 'k', Value: 'v' }] },
      }),
    );
    const tags = await app.send(new GetObjectTaggingCommand({ Bucket: bucket, Key: 'copy/dst' }));
    expect(tags.TagSet).toEqual([{ Key: 'k', Value: 'v' }]);
    const acl = await app.send(new GetObjectAclCommand({ Bucket: bucket, Key: 'copy/dst' }));
    expect(acl.Grants?.length).toBeGreaterThan(0);

    const deleted = await app.send(
      new DeleteObjectsCommand({
        Bucket: bucket,
        Delete: { Objects: [{ Key: 'copy/dst' }, { Key: 'mp/object' }] },
      }),
    );
    expect(deleted.Deleted?.map((d) => d.Key).sort()).toEqual(['copy/dst', 'mp/object']);
    await app.send(new DeleteObjectCommand({ Bucket: bucket, Key: 'curl.txt' }));
    await expect(
      direct.send(new HeadObjectCommand({ Bucket: bucket, Key: 'curl.txt' })),
    ).rejects.toMatchObject({
      name: 'NotFound',
    });

    const versioned = `${bucket}-v`;
    await app.send(new CreateBucketCommand({ Bucket: versioned }));
    await app.send(
      new PutBucketVersioningCommand({ Bucket: versioned, VersioningConfiguration: { Status: 'Enabled' } }),
    );
    expect((await app.send(new GetBucketVersioningCommand({ Bucket: versioned }))).Status).toBe('Enabled');
    const v1 = await app.send(new PutObjectCommand({ Bucket: versioned, Key: 'k', Body: 'one' }));
    const v2 = await app.send(new PutObjectCommand({ Bucket: versioned, Key: 'k', Body: 'two' }));
    expect(v1.VersionId).toBeDefined();
    expect(v2.VersionId).not.toBe(v1.VersionId);
    const old = await app.send(
      new GetObjectCommand({ Bucket: versioned, Key: 'k', VersionId: v1.VersionId }),
    );
    expect(await bodyText(old.Body)).toBe('one');
  });
});

describe('aws-chunked integrity', () => {
  test('a trailing checksum that does not match gives BadDigest and stores nothing', async () => {
    const payload = 'hello world, this is the payload';
    const body =
      `${Buffer.byteLength(payload).toString(16)}\r\n${payload}\r\n0\r\n` +
      `x-amz-checksum-crc32:AAAAAA==\r\n\r\n`;
    const res = await rawRequest(`${proxy.url}/${bucket}/chunked/bad-digest`, {
      method: 'PUT',
      headers: {
        'x-amz-content-sha256': 'STREAMING-UNSIGNED-PAYLOAD-TRAILER',
        'content-encoding': 'aws-chunked',
        'x-amz-decoded-content-length': String(Buffer.byteLength(payload)),
        'x-amz-trailer': 'x-amz-checksum-crc32',
        'content-length': String(Buffer.byteLength(body)),
      },
      body,
    });
    expect(res.status).toBe(400);
    expect(res.body).toContain('<Code>BadDigest</Code>');
    await expect(
      direct.send(new HeadObjectCommand({ Bucket: bucket, Key: 'chunked/bad-digest' })),
    ).rejects.toMatchObject({ name: 'NotFound' });
  });

  test('signed-chunk uploads (as the Java SDK sends over HTTP) are decoded', async () => {
    const payload = Buffer.alloc(70_000, 'j');
    const sig = 'a'.repeat(64);
    const body = Buffer.concat([
      Buffer.from(`10000;chunk-signature=${sig}\r\n`),
      payload.subarray(0, 65536),
      Buffer.from(`\r\n${(payload.length - 65536).toString(16)};chunk-signature=${sig}\r\n`),
      payload.subarray(65536),
      Buffer.from(`\r\n0;chunk-signature=${sig}\r\n\r\n`),
    ]);
    const res = await rawRequest(`${proxy.url}/${bucket}/chunked/signed`, {
      method: 'PUT',
      headers: {
        'x-amz-content-sha256': 'STREAMING-AWS4-HMAC-SHA256-PAYLOAD',
        'content-encoding': 'aws-chunked',
        'x-amz-decoded-content-length': String(payload.length),
        'content-length': String(body.length),
      },
      body,
    });
    expect(res.status).toBe(200);
    const stored = await direct.send(new GetObjectCommand({ Bucket: bucket, Key: 'chunked/signed' }));
    expect(Buffer.from(await stored.Body!.transformToByteArray())).toEqual(payload);
  });

  test('a client that disconnects mid-upload leaves no object', async () => {
    await new Promise<void>((resolve) => {
      const req = http.request(`${proxy.url}/${bucket}/partial/upload`, {
        method: 'PUT',
        headers: { 'content-length': String(10 * 1024 * 1024) },
      });
      req.on('error', () => resolve());
      req.write(Buffer.alloc(1024 * 1024, 'x'));
      setTimeout(() => {
        req.destroy();
        resolve();
      }, 300);
    });
    // Give the proxy and RGW a moment to observe the abort before checking.
    await new Promise((r) => setTimeout(r, 1000));
    await expect(
      direct.send(new HeadObjectCommand({ Bucket: bucket, Key: 'partial/upload' })),
    ).rejects.toMatchObject({
      name: 'NotFound',
    });
  });
});

describe('operations and security', () => {
  test('the proxy logs one JSON line per request and never the secrets', async () => {
    const lines = jsonLogLines(proxy.process.stdout());
    const requests = lines.filter((l) => l.message === 'request');
    expect(requests.length).toBeGreaterThan(10);
    expect(requests.some((l) => l.operation === 'PutObject' && l.bucket === bucket && l.status === 200)).toBe(
      true,
    );
    const all = proxy.process.output();
    expect(all).not.toContain(services.ceph.main.secretAccessKey);
    expect(all).not.toContain(services.ceph.mirror.secretAccessKey);
  });

  test('bytes sent to the app are counted for streamed bodies: the access log line and the response-bytes metric', async () => {
    const size = 300 * 1024;
    const key = `bytes-out/${Date.now()}`;
    await direct.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: Buffer.alloc(size, 'b') }));
    const metricOf = async (): Promise<number> => {
      const m = await rawRequest(`${proxy.adminUrl}/metrics`, { method: 'GET' });
      return Number(/^s3mirror_proxy_response_bytes_total (\d+)/m.exec(m.body)?.[1] ?? NaN);
    };
    const before = await metricOf();
    const got = await rawRequest(`${proxy.url}/${bucket}/${key}`, { method: 'GET' });
    expect(got.status).toBe(200);
    expect(got.body.length).toBe(size);
    await pollUntil('the access log line of that GET', async () =>
      proxy.process.stdout().includes(`"key":"${key}"`),
    );
    const line = proxy.process
      .stdout()
      .split('\n')
      .filter((l) => l.includes(`"key":"${key}"`))
      .map((l) => JSON.parse(l) as { operation: string; bytesOut: number })
      .find((l) => l.operation === 'GetObject');
    expect(line?.bytesOut).toBe(size);
    expect((await metricOf()) - before).toBeGreaterThanOrEqual(size);
  });

  test('HeadObject reuses upstream connections like every other request (no new connection per HEAD)', async () => {
    const main = new URL(services.ceph.proxyMainEndpoint);
    const counter = await startTcpFaultProxy(main.hostname, Number(main.port));
    const counted = await startProxyProcess(
      proxyEnv(services, { MAIN_S3_ENDPOINT: `http://${counter.address}`, ALLOWED_BUCKETS: bucket }),
    );
    try {
      await direct.send(new PutObjectCommand({ Bucket: bucket, Key: 'head/reuse', Body: 'h' }));
      const app = appClient(counted.url, { maxAttempts: 1 });
      await app.send(new HeadObjectCommand({ Bucket: bucket, Key: 'head/reuse' }));
      const afterFirst = counter.totalConnections;
      for (let i = 0; i < 20; i++)
        await app.send(new HeadObjectCommand({ Bucket: bucket, Key: 'head/reuse' }));
      // Sequential HEADs on a keep-alive pool: the connection of the first one carries them all.
      expect(counter.totalConnections - afterFirst).toBe(0);
      app.destroy();
    } finally {
      await counted.stop();
      await counter.close();
    }
  });

  test('metrics and health live on the admin port', async () => {
    await appClient(proxy.url).send(new PutObjectCommand({ Bucket: bucket, Key: 'metrics.txt', Body: 'm' }));
    const metrics = await rawRequest(`${proxy.adminUrl}/metrics`, { method: 'GET' });
    expect(metrics.status).toBe(200);
    expect(metrics.body).toMatch(/s3mirror_proxy_requests_total\{operation="PutObject",status="200"\} \d+/);
    expect((await rawRequest(`${proxy.adminUrl}/healthz`, { method: 'GET' })).status).toBe(200);
    // On the data port /healthz is just a bucket name.
    const asBucket = await rawRequest(`${proxy.url}/healthz`, { method: 'GET' });
    expect(asBucket.body).toContain('NoSuchBucket');
  });
});
