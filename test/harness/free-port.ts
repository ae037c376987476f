import net from 'node:net';

/** Asks the kernel for a free TCP port on 127.0.0.1. Racy by nature, but fine for tests on one machine. */
export function freePort(host = '127.0.0.1'): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.unref();
    server.once('error', reject);
    server.listen(0, host, () => {
      const address = server.address();
      server.close(() => {
        if (address && typeof address === 'object') resolve(address.port);
        else reject(new Error('could not determine a free port'));
      });
    });
  });
}

/** Several distinct free ports (held open together, so they differ from each other). */
export async function freePorts(count: number, host = '127.0.0.1'): Promise<number[]> {
  const servers: net.Server[] = [];
  try {
    const ports: number[] = [];
    for (let i = 0; i < count; i++) {
      const server = net.createServer();
      servers.push(server);
      await new Promise<void>((resolve, reject) => {
        server.once('error', reject);
        server.listen(0, host, () => resolve());
      });
      const address = server.address();
      if (!address || typeof address !== 'object') throw new Error('could not determine a free port');
      ports.push(address.port);
    }
    return ports;
  } finally {
    await Promise.all(servers.map((s) => new Promise<void>((resolve) => s.close(() => resolve()))));
  }
}

/**
 * A port that refuses connections for the whole run. A port from freePort() is free only for a moment: the
 * kernel can hand it to the next listener that asks for port 0 (CI once gave a "closed" mirror port to the
 * proxy's own admin server). Port 1 lies below the ephemeral range, so no port-0 listener ever gets it.
 */
export async function refusedPort(host = '127.0.0.1'): Promise<number> {
  const port = 1;
  const refused = await new Promise<boolean>((resolve) => {
    const socket = net.connect(port, host);
    // Dropped rather than refused (a firewall): not the quick refusal the tests rely on.
    socket.setTimeout(2000, () => {
      socket.destroy();
      resolve(false);
    });
    socket.once('connect', () => {
      socket.destroy();
      resolve(false);
    });
    socket.once('error', (err: NodeJS.ErrnoException) => resolve(err.code === 'ECONNREFUSED'));
  });
  if (!refused) throw new Error(`expected ${host}:${port} to refuse connections`);
  return port;
}
