/**
 * What main receives through the proxy is what the proxy signed, for the requests real clients send
 * (issue 10): zero Content-Length on bodiless requests, non-ASCII header bytes both ways, repeated and
 * spaced headers, Expect: 100-continue, chunked uploads, SigV2 presigned URLs and browser form uploads.
 * The client matrix (client-matrix.test.ts) runs the clients themselves; this file pins the mechanisms.
 */
import { createHmac } from 'node:crypto';
import net from 'node:net';

import {
  CreateBucketCommand,
  GetObjectCommand,
  HeadObjectCommand,
  PutObjectCommand,
  S3Client,
} from '@aws-sdk/client-s3';

import { directClient, proxyEnv, startProxyProcess, type ProxyInstance } from '../harness/proxy';
import { rawRequest } from '../harness/raw-http';
import { loadServices, type TestServices } from '../harness/services';
import { startSignatureAuditRelay, type SignatureAuditRelay } from '../harness/signature-audit';
import { tempStateDir } from '../harness/proxies';
import { waitForThreeWayEqual } from '../harness/three-way';

jest.setTimeout(300_000);

let services: TestServices;
let relay: SignatureAuditRelay;
let proxy: ProxyInstance;
let direct: S3Client;
const bucket = `wire-${Date.now().toString(36)}`;
/** Written only through the proxy, so main, mirror and inventory must end equal. */
const formBucket = `${bucket}-forms`;

beforeAll(async () => {
  services = loadServices();
  // Its own relay, so this file can read the findings itself (the harness's is read at teardown).
  relay = await startSignatureAuditRelay(services.ceph.mainEndpoint);
  proxy = await startProxyProcess(
    proxyEnv(services, {
      MAIN_S3_ENDPOINT: relay.url,
      STATE_DIR: tempStateDir(),
      ALLOWED_BUCKETS: `${bucket},${formBucket}`,
    }),
  );
  direct = directClient(services.ceph.mainEndpoint, services.ceph.main);
  await direct.send(new CreateBucketCommand({ Bucket: bucket }));
  await direct.send(new CreateBucketCommand({ Bucket: formBucket }));
});

afterAll(async () => {
  await proxy?.stop();
  await relay?.close();
});

const headOf = (method: string, path: string, headers: string[] = []): string =>
  [`${method} ${path} HTTP/1.1`, 'Host: 127.0.0.1', ...headers, '', ''].join('\r\n');

async function putDirect(key: string, body = 'x') {
  await direct.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: body }));
}

describe('the headers main receives are the headers the proxy signed', () => {
  test.each([
    ['GET', 'Content-Length: 0', 200],
    ['HEAD', 'Content-Length: 0', 200],
    ['DELETE', 'Content-Length: 0', 204],
  ])(
    '%s with %s (Python requests, s3cmd, several SDKs): answered as direct',
    async (method, header, status) => {
      const key = `cl0-${method.toLowerCase()}`;
      await putDirect(key);
      const res = await rawRequest(proxy.port, headOf(method, `/${bucket}/${key}`, [header]), {
        head: method === 'HEAD',
      });
      expect(res.status).toBe(status);
    },
  );

  test('a non-ASCII request header (UTF-8 Content-Disposition, user metadata) is stored byte for byte', async () => {
    const disposition = Buffer.from('attachment; filename="résumé-日本.pdf"', 'utf8');
    const meta = Buffer.from('ünïcödé', 'utf8');
    const request = Buffer.concat([
      Buffer.from(
        `PUT /${bucket}/non-ascii HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 2\r\nContent-Disposition: `,
      ),
      disposition,
      Buffer.from('\r\nx-amz-meta-name: '),
      meta,
      Buffer.from('\r\n\r\nhi'),
    ]);
    expect((await rawRequest(proxy.port, request)).status).toBe(200);
    const stored = await rawRequest(proxy.port, headOf('HEAD', `/${bucket}/non-ascii`), { head: true });
    expect(Buffer.from(stored.headers['content-disposition']!, 'latin1')).toEqual(disposition);
    expect(Buffer.from(stored.headers['x-amz-meta-name']!, 'latin1')).toEqual(meta);
  });

  test('runs of spaces in a value and mixed-case names are signed as SigV4 canonicalises them', async () => {
    const res = await rawRequest(
      proxy.port,
      headOf('PUT', `/${bucket}/spaces`, [
        'X-Amz-Meta-Spaced:   a   b  ',
        'CONTENT-TYPE: text/plain',
        'Content-Length: 0',
      ]),
    );
    expect(res.status).toBe(200);
    const head = await direct.send(new HeadObjectCommand({ Bucket: bucket, Key: 'spaces' }));
    expect(head.Metadata?.spaced).toBe('a   b');
    expect(head.ContentType).toBe('text/plain');
  });

  test('a header sent twice goes as one line with the values joined by "," (as S3 combines them)', async () => {
    const res = await rawRequest(
      proxy.port,
      headOf('PUT', `/${bucket}/repeated`, ['x-amz-meta-r: one', 'x-amz-meta-r: two', 'Content-Length: 0']),
    );
    expect(res.status).toBe(200);
    const head = await direct.send(new HeadObjectCommand({ Bucket: bucket, Key: 'repeated' }));
    expect(head.Metadata?.r).toBe('one,two');
  });

  test('every request above reached main with exactly the headers it was signed with', () => {
    expect(relay.findings).toEqual([]);
    // The seven requests above, plus whatever the mirror copier read from main meanwhile.
    expect(relay.audited).toBeGreaterThanOrEqual(7);
  });

  test('the audit itself catches a request whose signed headers did not all arrive', async () => {
    const before = relay.findings.length;
    const port = Number(new URL(relay.url).port);
    const auth =
      'AWS4-HMAC-SHA256 Credential=K/20260101/us-east-1/s3/aws4_request, ' +
      'SignedHeaders=content-length;host;x-amz-date, Signature=00';
    await rawRequest(
      port,
      headOf('DELETE', `/${bucket}/nothing`, [`Authorization: ${auth}`, 'x-amz-date: 1']),
    );
    expect(relay.findings.slice(before)).toEqual([
      { request: `DELETE /${bucket}/nothing`, problem: 'signed but not received: content-length' },
    ]);
  });
});

describe('response headers', () => {
  test('non-ASCII bytes in a stored Content-Disposition reach the app unchanged (they were a 503)', async () => {
    const disposition = 'attachment; filename="日本.txt"';
    // Stored with the raw UTF-8 bytes (the JS SDK cannot send them: Node refuses such a header value).
    const stored = await rawRequest(
      proxy.port,
      Buffer.concat([
        Buffer.from(`PUT /${bucket}/utf8-disposition HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 4\r\n`),
        Buffer.from(`Content-Disposition: ${disposition}\r\n\r\nbody`, 'utf8'),
      ]),
    );
    expect(stored.status).toBe(200);
    for (const method of ['GET', 'HEAD']) {
      const res = await rawRequest(proxy.port, headOf(method, `/${bucket}/utf8-disposition`), {
        head: method === 'HEAD',
      });
      expect(res.status).toBe(200);
      expect(Buffer.from(res.headers['content-disposition']!, 'latin1').toString('utf8')).toBe(disposition);
      expect(res.headers['content-length']).toBe('4');
    }
  });

  test('?response-content-disposition with UTF-8 comes back as main sends it', async () => {
    const res = await rawRequest(
      proxy.port,
      headOf(
        'GET',
        `/${bucket}/utf8-disposition?response-content-disposition=attachment%3B%20filename%3D%22%E6%97%A5.txt%22`,
      ),
    );
    expect(res.status).toBe(200);
    expect(Buffer.from(res.headers['content-disposition']!, 'latin1').toString('utf8')).toBe(
      'attachment; filename="日.txt"',
    );
  });
});

/** Sends a request head with Expect: 100-continue; tells whether 100 came before the body was sent. */
function expectContinue(head: string, body: string): Promise<{ interim: boolean; final: string }> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(proxy.port, '127.0.0.1');
    let raw = '';
    let interim: boolean | undefined;
    const sendBody = (): void => {
      if (interim !== undefined) return;
      interim = raw.startsWith('HTTP/1.1 100');
      if (interim || raw === '') socket.write(body);
    };
    socket.on('connect', () => {
      socket.write(head);
      // Clients wait a moment for 100 (curl: 1 s), then send the body anyway.
      setTimeout(sendBody, 1500);
    });
    socket.on('data', (d: Buffer) => {
      raw += d.toString('latin1');
      if (interim === undefined) sendBody();
      const final = raw.replace(/^HTTP\/1\.1 100 Continue\r\n\r\n/, '');
      if (/\r\n\r\n/.test(final) && /content-length: (\d+)/i.test(final)) {
        const length = Number(/content-length: (\d+)/i.exec(final)![1]);
        if (final.length >= final.indexOf('\r\n\r\n') + 4 + length) {
          socket.destroy();
          resolve({ interim: interim ?? false, final });
        }
      }
    });
    socket.on('error', reject);
    socket.on('close', () => resolve({ interim: interim ?? false, final: raw }));
  });
}

describe('Expect: 100-continue (the Java SDK always sends it)', () => {
  test('an admitted upload is invited with 100 Continue, then stored', async () => {
    const { interim, final } = await expectContinue(
      headOf('PUT', `/${bucket}/expect`, ['Expect: 100-continue', 'Content-Length: 5']),
      'hello',
    );
    expect(interim).toBe(true);
    expect(final).toMatch(/^HTTP\/1\.1 200/);
  });

  test('a refused upload gets its error instead of 100, and the connection is closed', async () => {
    const { interim, final } = await expectContinue(
      headOf('PUT', '/not-allowed-bucket/k', ['Expect: 100-continue', 'Content-Length: 5']),
      'hello',
    );
    expect(interim).toBe(false);
    expect(final).toMatch(/^HTTP\/1\.1 403/);
    expect(final).toMatch(/<Code>AccessDenied<\/Code>/);
    expect(final).toMatch(/connection: close/i);
  });
});

test('a chunked upload without a length is refused as S3 refuses it: 411 MissingContentLength, nothing stored', async () => {
  const res = await rawRequest(
    proxy.port,
    headOf('PUT', `/${bucket}/chunked`, ['Transfer-Encoding: chunked']) + '5\r\nhello\r\n0\r\n\r\n',
  );
  expect(res.status).toBe(411);
  expect(res.body).toMatch(/<Code>MissingContentLength<\/Code>/);
  await expect(direct.send(new HeadObjectCommand({ Bucket: bucket, Key: 'chunked' }))).rejects.toMatchObject({
    name: 'NotFound',
  });
});

test("a SigV2 presigned GET works: the app's AWSAccessKeyId, Signature and Expires never reach main", async () => {
  await putDirect('sigv2', 'presigned');
  const res = await rawRequest(
    proxy.port,
    headOf('GET', `/${bucket}/sigv2?AWSAccessKeyId=APPKEY&Expires=2000000000&Signature=abc%3D`),
  );
  expect(res.status).toBe(200);
  expect(res.body).toBe('presigned');
});

describe('browser form uploads (POST Object)', () => {
  /** A form as a browser sends it, signed by the app with its own (junk) credentials. */
  function appForm(key: string, file: string, boundary: string): Buffer {
    const date = new Date()
      .toISOString()
      .replace(/[-:]/g, '')
      .replace(/\.\d{3}/, '');
    const credential = `APPJUNKKEY/${date.slice(0, 8)}/us-east-1/s3/aws4_request`;
    const policy = Buffer.from(
      JSON.stringify({
        expiration: new Date(Date.now() + 600_000).toISOString(),
        conditions: [
          { bucket: formBucket },
          ['starts-with', '$key', 'form/'],
          { 'x-amz-algorithm': 'AWS4-HMAC-SHA256' },
          { 'x-amz-credential': credential },
          { 'x-amz-date': date },
        ],
      }),
    ).toString('base64');
    const fields: [string, string][] = [
      ['key', key],
      ['x-amz-algorithm', 'AWS4-HMAC-SHA256'],
      ['x-amz-credential', credential],
      ['x-amz-date', date],
      ['policy', policy],
      ['x-amz-signature', createHmac('sha256', 'app-junk').update(policy).digest('hex')],
    ];
    return Buffer.from(
      fields
        .map(([n, v]) => `--${boundary}\r\nContent-Disposition: form-data; name="${n}"\r\n\r\n${v}\r\n`)
        .join('') +
        `--${boundary}\r\nContent-Disposition: form-data; name="file"; filename="hello.txt"\r\n` +
        `Content-Type: text/plain\r\n\r\n${file}\r\n--${boundary}--\r\n`,
    );
  }

  test('is re-signed for main, stored, and mirrored like any write (it was a 403, and never tracked)', async () => {
    const boundary = 'FormBoundary7MA4YWxk';
    const file = 'uploaded from a browser form\n'.repeat(100);
    const body = appForm('form/${filename}', file, boundary);
    const res = await rawRequest(
      proxy.port,
      Buffer.concat([
        Buffer.from(
          headOf('POST', `/${formBucket}`, [
            `Content-Type: multipart/form-data; boundary=${boundary}`,
            `Content-Length: ${body.length}`,
          ]),
        ),
        body,
      ]),
    );
    expect(res.status).toBe(204);
    const stored = await direct.send(new GetObjectCommand({ Bucket: formBucket, Key: 'form/hello.txt' }));
    expect(await stored.Body!.transformToString()).toBe(file);
    await waitForThreeWayEqual(services, formBucket);
  });

  test('a form whose fields before the file exceed the bound is refused, nothing stored', async () => {
    const boundary = 'b';
    const body = Buffer.from(
      `--${boundary}\r\nContent-Disposition: form-data; name="key"\r\n\r\n${'k'.repeat(70_000)}\r\n`,
    );
    const res = await rawRequest(
      proxy.port,
      Buffer.concat([
        Buffer.from(
          headOf('POST', `/${bucket}`, [
            `Content-Type: multipart/form-data; boundary=${boundary}`,
            `Content-Length: ${body.length + 100}`,
          ]),
        ),
        body,
      ]),
    );
    expect(res.status).toBe(400);
    expect(res.body).toMatch(/<Code>MaxPostPreDataLengthExceededError<\/Code>/);
  });
});
