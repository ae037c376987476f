/**
 * A Postgres server shutting down can send FATAL 57P01 in the same TCP read as the ReadyForQuery that
 * completes a new connection. pg emits that as an 'error' event before any promise continuation runs, so a
 * listener attached after `await pool.connect()` comes too late and the process dies of an unhandled
 * 'error'. This happened under pool churn while Postgres restarted; a tiny server speaking just enough of
 * the protocol makes the race deterministic.
 */
import net from 'node:net';

import { Pool } from 'pg';

import { withClient } from '../../src/inventory/pools';

function message(type: string, body: Buffer): Buffer {
  const header = Buffer.alloc(5);
  header.write(type, 0, 'ascii');
  header.writeInt32BE(body.length + 4, 1);
  return Buffer.concat([header, body]);
}

const authenticationOk = message('R', Buffer.from([0, 0, 0, 0]));
const readyForQuery = message('Z', Buffer.from('I'));
const adminShutdown = message(
  'E',
  Buffer.from('SFATAL\0VFATAL\0C57P01\0Mterminating connection due to administrator command\0\0', 'latin1'),
);

let server: net.Server;
let port: number;
let connections = 0;

beforeAll(async () => {
  server = net.createServer((socket) => {
    connections++;
    socket.on('error', () => undefined);
    // The startup message, then the whole answer in one write: the client parses it in one go.
    socket.once('data', () => socket.end(Buffer.concat([authenticationOk, readyForQuery, adminShutdown])));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  port = (server.address() as net.AddressInfo).port;
});

afterAll(async () => {
  await new Promise<void>((resolve) => server.close(() => resolve()));
});

test('a FATAL in the same read as ReadyForQuery fails the work, not the process', async () => {
  const pool = new Pool({ host: '127.0.0.1', port, user: 'u', database: 'd', max: 1 });
  const poolErrors: Error[] = [];
  pool.on('error', (err) => poolErrors.push(err));
  const before = connections;
  try {
    let ran = false;
    await expect(
      withClient(pool, async (client) => {
        ran = true;
        await client.query('SELECT 1');
      }),
    ).rejects.toThrow();
    expect(ran).toBe(true);
    expect(connections).toBe(before + 1);
    // Handed back as broken: the pool drops it rather than lending it out again.
    expect(pool.totalCount).toBe(0);
  } finally {
    await pool.end();
  }
});
