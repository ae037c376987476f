import { createHash, randomBytes } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';

import { createNodeHopServer } from './node-hop-server';

/** An upstream that records what reached it and answers GETs with `body`. */
function recordingUpstream(body: Buffer) {
  const seen: { method: string; url: string; headers: http.IncomingHttpHeaders; sha256: string }[] = [];
  const server = http.createServer((req, res) => {
    const hash = createHash('sha256');
    req.on('data', (chunk: Buffer) => hash.update(chunk));
    req.on('end', () => {
      seen.push({ method: req.method!, url: req.url!, headers: req.headers, sha256: hash.digest('hex') });
      if (req.method === 'GET') {
        res.writeHead(200, { etag: '"abc"', 'content-length': body.length, 'x-amz-request-id': 'R1' });
        res.end(body);
      } else res.writeHead(200, { etag: '"put"' }).end();
    });
  });
  return { server, seen };
}

function listen(server: http.Server): Promise<string> {
  return new Promise((resolve) =>
    server.listen(0, '127.0.0.1', () =>
      resolve(`http://127.0.0.1:${(server.address() as AddressInfo).port}`),
    ),
  );
}

function send(
  url: string,
  method: string,
  headers: Record<string, string>,
  body?: Buffer,
): Promise<{ status: number; headers: http.IncomingHttpHeaders; body: Buffer }> {
  return new Promise((resolve, reject) => {
    const req = http.request(url, { method, headers }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () =>
        resolve({ status: res.statusCode!, headers: res.headers, body: Buffer.concat(chunks) }),
      );
    });
    req.on('error', reject);
    req.end(body);
  });
}

describe('the Node.js reference hop', () => {
  const object = randomBytes(3 * 1024 * 1024 + 17);
  const upstream = recordingUpstream(object);
  let hop: ReturnType<typeof createNodeHopServer>;
  let hopUrl = '';

  beforeAll(async () => {
    hop = createNodeHopServer(await listen(upstream.server));
    hopUrl = await listen(hop.server);
  });

  afterAll(async () => {
    await hop.close();
    upstream.server.closeAllConnections();
    await new Promise((resolve) => upstream.server.close(resolve));
  });

  it('passes a request through untouched but for hop-by-hop headers, body streamed whole', async () => {
    const body = randomBytes(2 * 1024 * 1024 + 5);
    const signed = { authorization: 'AWS4-HMAC-SHA256 Credential=X', 'x-amz-date': '20261203T000000Z' };
    const answer = await send(
      `${hopUrl}/bucket/key%20with%20space?partNumber=1`,
      'PUT',
      { ...signed, 'content-length': String(body.length), 'proxy-connection': 'keep-alive' },
      body,
    );
    expect(answer.status).toBe(200);
    expect(answer.headers.etag).toBe('"put"');
    const got = upstream.seen.at(-1)!;
    expect(got).toMatchObject({
      method: 'PUT',
      url: '/bucket/key%20with%20space?partNumber=1',
      headers: signed,
    });
    expect(got.sha256).toBe(createHash('sha256').update(body).digest('hex'));
    expect(got.headers['proxy-connection']).toBeUndefined();
  });

  it("relays the upstream's answer: status, end-to-end headers and the whole body", async () => {
    const answer = await send(`${hopUrl}/bucket/big`, 'GET', {});
    expect(answer.status).toBe(200);
    expect(answer.headers).toMatchObject({ etag: '"abc"', 'x-amz-request-id': 'R1' });
    expect(answer.body.equals(object)).toBe(true);
  });
});
