import net from 'node:net';

/**
 * A TCP forwarder on a free loopback port in front of host:port. `cut()` destroys every live
 * connection and refuses (accepts then immediately resets) new ones until `restore()`. Use it to
 * simulate an outage of Postgres or S3 when the real process cannot be stopped.
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
  /** Connections refused while cut. */
  readonly refusedConnections: number;
  readonly isCut: boolean;
  cut(): void;
  restore(): void;
  close(): Promise<void>;
}

export async function startTcpFaultProxy(targetHost: string, targetPort: number): Promise<TcpFaultProxy> {
  const live = new Set<net.Socket>();
  const clients = new Set<net.Socket>();
  let cut = false;
  let total = 0;
  let refused = 0;

  const server = net.createServer((client) => {
    if (cut) {
      refused++;
      client.resetAndDestroy();
      return;
    }
    total++;
    const upstream = net.connect({ host: targetHost, port: targetPort });
    live.add(client);
    live.add(upstream);
    clients.add(client);
    const done = (): void => {
      client.destroy();
      upstream.destroy();
      live.delete(client);
      live.delete(upstream);
      clients.delete(client);
    };
    client.on('error', done).on('close', done);
    upstream.on('error', done).on('close', done);
    client.pipe(upstream);
    upstream.pipe(client);
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
    get isCut() {
      return cut;
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
    close() {
      for (const s of live) s.destroy();
      live.clear();
      clients.clear();
      return new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
