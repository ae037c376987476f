import net from 'node:net';
import { Transform } from 'node:stream';

/**
 * A TCP forwarder on a free loopback port in front of host:port. `cut()` destroys every live
 * connection and refuses (accepts then immediately resets) new ones until `restore()`. Use it to
 * simulate an outage of Postgres or S3 when the real process cannot be stopped. `stall()` keeps every
 * connection open but lets no byte through either way until `resume()`: a peer that stopped answering.
 */
export interface TcpFaultProxy {
  host: string;
  port: number;
  /** `host:port` of the proxy, e.g. for building URLs. */
  address: string;
  /** Connections accepted and forwarded since start. */
  readonly totalConnections: number;
  /** Connections currently open. */
  readonly activeConnections: number;
  /** Chunks forwarded from clients to the target (a client's statement is usually one chunk). */
  readonly clientChunks: number;
  /** Connections refused while cut. */
  readonly refusedConnections: number;
  readonly isCut: boolean;
  /** Chunks held back by `stall()` (at most one per direction per connection; the rest waits in TCP). */
  readonly heldChunks: number;
  /** Whether a chunk held back by `stall()` contains `text` (latin1): which request is held, not just that one is. */
  isHolding(text: string): boolean;
  cut(): void;
  restore(): void;
  stall(): void;
  /** Stalls from the first client chunk containing `text` (latin1) on, that chunk included: one chosen request is held. */
  stallOn(text: string): void;
  /** Delivers what `stall()` held back and forwards as usual again. */
  resume(): void;
  close(): Promise<void>;
}

export async function startTcpFaultProxy(targetHost: string, targetPort: number): Promise<TcpFaultProxy> {
  const live = new Set<net.Socket>();
  const clients = new Set<net.Socket>();
  let cut = false;
  let stalled = false;
  let stallTrigger: string | undefined;
  let held: { gate: Transform; chunk: Buffer; deliver: () => void }[] = [];
  let total = 0;
  let refused = 0;
  let clientChunks = 0;

  // Between the sockets: holding a chunk's callback keeps pipe()'s backpressure, so nothing piles up here.
  const gate = (): Transform =>
    new Transform({
      transform(chunk: Buffer, _encoding, callback) {
        if (!stalled && stallTrigger !== undefined && chunk.toString('latin1').includes(stallTrigger)) {
          stalled = true;
          stallTrigger = undefined;
        }
        if (!stalled) return callback(null, chunk);
        held.push({ gate: this, chunk, deliver: () => callback(null, chunk) });
      },
    });

  const server = net.createServer((client) => {
    if (cut) {
      refused++;
      client.resetAndDestroy();
      return;
    }
    total++;
    const upstream = net.connect({ host: targetHost, port: targetPort });
    const toUpstream = gate();
    const toClient = gate();
    live.add(client);
    live.add(upstream);
    clients.add(client);
    const done = (): void => {
      client.destroy();
      upstream.destroy();
      toUpstream.destroy();
      toClient.destroy();
      live.delete(client);
      live.delete(upstream);
      clients.delete(client);
    };
    client.on('data', () => clientChunks++);
    client.on('error', done).on('close', done);
    upstream.on('error', done).on('close', done);
    client.pipe(toUpstream).pipe(upstream);
    upstream.pipe(toClient).pipe(client);
  });

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const address = server.address();
  if (!address || typeof address !== 'object') throw new Error('TcpFaultProxy: no address');
  const port = address.port;

  return {
    host: '127.0.0.1',
    port,
    address: `127.0.0.1:${port}`,
    get totalConnections() {
      return total;
    },
    get activeConnections() {
      return clients.size;
    },
    get refusedConnections() {
      return refused;
    },
    get clientChunks() {
      return clientChunks;
    },
    get isCut() {
      return cut;
    },
    get heldChunks() {
      return held.filter((h) => !h.gate.destroyed).length;
    },
    isHolding(text: string) {
      return held.some((h) => !h.gate.destroyed && h.chunk.toString('latin1').includes(text));
    },
    cut() {
      cut = true;
      for (const s of live) s.resetAndDestroy();
      live.clear();
      clients.clear();
    },
    restore() {
      cut = false;
    },
    stall() {
      stalled = true;
    },
    stallOn(text: string) {
      stallTrigger = text;
    },
    resume() {
      stalled = false;
      stallTrigger = undefined;
      const release = held;
      held = [];
      for (const h of release) if (!h.gate.destroyed) h.deliver();
    },
    close() {
      held = [];
      for (const s of live) s.destroy();
      live.clear();
      clients.clear();
      return new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
