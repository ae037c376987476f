import http from 'node:http';
import type { AddressInfo } from 'node:net';

import { createDataServer } from '../../src/http/data-server';

type Handler = (req: http.IncomingMessage, res: http.ServerResponse) => Promise<void>;

const servers: http.Server[] = [];
const rejections: unknown[] = [];
const onRejection = (reason: unknown): void => void rejections.push(reason);

beforeEach(() => {
  rejections.length = 0;
  process.on('unhandledRejection', onRejection);
});

afterEach(async () => {
  process.off('unhandledRejection', onRejection);
  await Promise.all(
    servers
      .splice(0)
      .map((s) => new Promise<void>((resolve) => (s.closeAllConnections(), s.close(() => resolve())))),
  );
});

/** A data server around `handler`, listening on a free port, with its error log captured. */
async function serve(handler: Handler): Promise<{ port: number; errors: unknown[][] }> {
  const errors: unknown[][] = [];
  const logger = { error: (...args: unknown[]) => void errors.push(args) };
  const server = createDataServer({ clientIdleTimeoutMs: 5_000 }, handler, logger);
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  return { port: (server.address() as AddressInfo).port, errors };
}

/** One GET: its status and body, or the error the client saw when the connection was cut. */
function get(port: number, path = '/bucket/key?x=1'): Promise<{ status: number; body: string } | Error> {
  return new Promise((resolve) => {
    const req = http.get({ host: '127.0.0.1', port, path, agent: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () =>
        resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') }),
      );
      res.on('error', resolve);
    });
    req.on('error', resolve);
  });
}

/** Lets a rejection nobody handled reach the process handler (Node reports it after the microtask queue). */
const settle = (): Promise<void> => new Promise((resolve) => setTimeout(resolve, 50));

describe('data server: a failing handler', () => {
  test('rejecting before answering: 500 InternalError in S3 XML, one error line, no unhandled rejection', async () => {
    const { port, errors } = await serve(async (_req, res) => {
      res.setHeader('content-length', '999'); // set, not sent: must not leak into the error answer
      throw new Error('bug in cleanup');
    });
    const answer = await get(port);
    await settle();
    expect(answer).toMatchObject({ status: 500 });
    const body = (answer as { body: string }).body;
    expect(body).toContain('<Code>InternalError</Code>');
    expect(body).toContain('<Resource>/bucket/key</Resource>');
    expect(errors).toHaveLength(1);
    expect(errors[0]![1]).toMatchObject({ error: 'bug in cleanup' });
    expect(rejections).toEqual([]);
  });

  test('throwing synchronously is handled the same way', async () => {
    const { port, errors } = await serve(() => {
      throw new Error('sync bug');
    });
    expect(await get(port)).toMatchObject({ status: 500 });
    await settle();
    expect(errors).toHaveLength(1);
    expect(rejections).toEqual([]);
  });

  test('rejecting after the headers went out: the connection is cut, the client never sees a short body as complete', async () => {
    const { port, errors } = await serve(async (_req, res) => {
      res.writeHead(200, { 'content-length': '10' });
      await new Promise<void>((resolve) => res.write('12345', () => resolve()));
      throw new Error('late bug');
    });
    const answer = await get(port);
    await settle();
    // An Error from the client (not `instanceof`: Node's errors come from another realm than Jest's).
    expect(answer).not.toHaveProperty('status');
    expect((answer as Error).message).toMatch(/aborted|hang up|ECONNRESET/);
    expect(errors).toHaveLength(1);
    expect(rejections).toEqual([]);
  });

  test('rejecting after a complete answer leaves that answer intact', async () => {
    const { port, errors } = await serve(async (_req, res) => {
      await new Promise<void>((resolve) => res.end('done', () => resolve()));
      throw new Error('bug after the answer');
    });
    expect(await get(port)).toEqual({ status: 200, body: 'done' });
    await settle();
    expect(errors).toHaveLength(1);
    expect(rejections).toEqual([]);
  });
});
