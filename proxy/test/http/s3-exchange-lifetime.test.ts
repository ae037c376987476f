import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { Readable } from 'node:stream';

import type { Dispatcher } from 'undici';

import { loadConfig } from '../../src/config';
import { createS3Handler } from '../../src/http/s3-handler';
import { createLogger } from '../../src/log';
import { createMetrics } from '../../src/metrics';
import { RequestSigner } from '../../src/sigv4/signer';
import { OFFLINE_ENV } from '../offline-config';

/** Main as a fake dispatcher: every request gets 200 and a small body. */
const upstream = {
  request: () =>
    Promise.resolve({
      statusCode: 200,
      headers: { 'content-length': '5', etag: '"abc"' },
      body: Readable.from([Buffer.from('hello')]),
    }),
} as unknown as Dispatcher;

describe('an exchange on a keep-alive connection', () => {
  let server: http.Server;
  const requests: http.IncomingMessage[] = [];
  const responsesClosed: Promise<void>[] = [];
  const activity: string[] = [];

  beforeAll(async () => {
    const config = loadConfig(OFFLINE_ENV);
    const handle = createS3Handler({
      config,
      signer: new RequestSigner(config.main),
      upstream,
      sink: { record: () => undefined },
      logger: createLogger('off'),
      metrics: createMetrics(),
      activity: {
        requestStarted: () => void activity.push('started'),
        requestEnded: () => void activity.push('ended'),
      },
    });
    server = http.createServer((req, res) => {
      requests.push(req);
      handle(req, res).catch(() => res.destroy());
      // Registered after the exchange's own close listener (its constructor ran above), so it runs after it.
      responsesClosed.push(new Promise((resolve) => res.once('close', () => resolve())));
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  });

  afterAll(async () => {
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  });

  // The server's parser keeps a connection's last request until the next one comes; a listener the exchange
  // left on it would keep the whole exchange (response, upstream body, handlers) alive as long.
  test('leaves no listener on the request once answered, while the connection stays open', async () => {
    const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
    const { port } = server.address() as AddressInfo;
    const body = await new Promise<string>((resolve, reject) => {
      http
        .get({ host: '127.0.0.1', port, path: '/bucket/key', agent }, (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('end', () => resolve(Buffer.concat(chunks).toString()));
        })
        .on('error', reject);
    });
    expect(body).toBe('hello');
    expect(requests).toHaveLength(1);
    await responsesClosed[0]; // the server's 'close' may come after the client's 'end'
    expect(requests[0]!.socket.destroyed).toBe(false); // kept alive: the parser still holds the request
    expect(requests[0]!.listenerCount('timeout')).toBe(0);
    agent.destroy();
  });

  // Catch-up mirror copies give way while the app has a request in flight (mirror/app-priority.ts).
  test('tells the app activity as the request starts and as its response closes', async () => {
    const { port } = server.address() as AddressInfo;
    activity.length = 0;
    await new Promise<void>((resolve, reject) => {
      http
        .get({ host: '127.0.0.1', port, path: '/bucket/other' }, (res) => {
          res.resume();
          res.on('end', () => resolve());
        })
        .on('error', reject);
    });
    await responsesClosed.at(-1);
    expect(activity).toEqual(['started', 'ended']);
  });
});
