/**
 * Hand-written HTTP/1.1 over a raw socket, for requests no well-behaved client would send (smuggling,
 * header injection, malformed framing) and for clients that stall or vanish. Also a decoy server that
 * records every connection it gets, to prove the proxy never talks to anything but main.
 */
import net from 'node:net';

export interface RawResponse {
  status: number;
  headers: Record<string, string>;
  body: string;
  /** Every byte the server sent, as latin1. */
  raw: string;
  /** Responses received on this connection (pipelining or smuggling shows up as more than one). */
  count: number;
  /** True when the server closed the connection. */
  closed: boolean;
}

interface Parsed {
  status: number;
  headers: Record<string, string>;
  body: string;
  end: number;
}

/** Parses one response at `from` in `raw`; null while incomplete. Bodies need Content-Length or a close. */
function parseOne(raw: string, from: number, closed: boolean, headOnly: boolean): Parsed | null {
  const headEnd = raw.indexOf('\r\n\r\n', from);
  if (headEnd === -1) return null;
  const lines = raw.slice(from, headEnd).split('\r\n');
  const status = Number(/^HTTP\/1\.[01] (\d{3})/.exec(lines[0] ?? '')?.[1] ?? NaN);
  const headers: Record<string, string> = {};
  for (const line of lines.slice(1)) {
    const colon = line.indexOf(':');
    if (colon > 0) headers[line.slice(0, colon).trim().toLowerCase()] = line.slice(colon + 1).trim();
  }
  const bodyStart = headEnd + 4;
  if (headOnly || status === 204 || status === 304 || (status >= 100 && status < 200)) {
    return { status, headers, body: '', end: bodyStart };
  }
  if (headers['content-length'] !== undefined) {
    const end = bodyStart + Number(headers['content-length']);
    if (raw.length < end) return null;
    return { status, headers, body: raw.slice(bodyStart, end), end };
  }
  if (headers['transfer-encoding']?.toLowerCase() === 'chunked') {
    let at = bodyStart;
    let body = '';
    for (;;) {
      const nl = raw.indexOf('\r\n', at);
      if (nl === -1) return null;
      const size = parseInt(raw.slice(at, nl), 16);
      if (size === 0) {
        const end = raw.indexOf('\r\n\r\n', nl);
        return end === -1 ? null : { status, headers, body, end: end + 4 };
      }
      if (raw.length < nl + 2 + size + 2) return null;
      body += raw.slice(nl + 2, nl + 2 + size);
      at = nl + 2 + size + 2;
    }
  }
  return closed ? { status, headers, body: raw.slice(bodyStart), end: raw.length } : null;
}

export interface RawOptions {
  /** Request bytes, written in order; a number pauses that many ms between pieces. */
  pieces?: (string | Buffer | number)[];
  /** Resolve after this many responses even if the connection stays open. Default 1. */
  responses?: number;
  /** The request was HEAD (responses carry no body). */
  head?: boolean;
  /** Resolve only once the server closed the connection (to assert that it does). */
  waitClose?: boolean;
  /** Give up waiting after this long (a guard so a broken proxy fails instead of hanging). Default 30 s. */
  timeoutMs?: number;
}

/**
 * Sends `request` (or `opts.pieces`) to 127.0.0.1:`port` and resolves with the first response once it is
 * complete, or with what arrived when the server closed. Rejects only on timeout with nothing received.
 */
export function rawRequest(
  port: number,
  request: string | Buffer,
  opts: RawOptions = {},
): Promise<RawResponse> {
  const pieces = opts.pieces ?? [request];
  const want = opts.responses ?? 1;
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, '127.0.0.1');
    let raw = '';
    let closed = false;
    let settled = false;
    const finish = (): void => {
      if (settled) return;
      const parsed: Parsed[] = [];
      let at = 0;
      for (;;) {
        const p = at < raw.length ? parseOne(raw, at, closed, opts.head ?? false) : null;
        if (!p) break;
        parsed.push(p);
        at = p.end;
      }
      if ((parsed.length < want || opts.waitClose) && !closed) return;
      settled = true;
      clearTimeout(timer);
      socket.destroy();
      const first = parsed[0];
      if (!first) {
        resolve({ status: 0, headers: {}, body: '', raw, count: 0, closed });
        return;
      }
      resolve({ ...first, raw, count: parsed.length, closed });
    };
    const timer = setTimeout(() => {
      if (settled) return;
      settled = true;
      socket.destroy();
      if (raw === '') reject(new Error(`no response within ${opts.timeoutMs ?? 30_000} ms`));
      else resolve({ status: 0, headers: {}, body: '', raw, count: 0, closed: false });
    }, opts.timeoutMs ?? 30_000);
    socket.on('data', (d: Buffer) => {
      raw += d.toString('latin1');
      finish();
    });
    socket.on('error', () => undefined);
    socket.on('close', () => {
      closed = true;
      finish();
    });
    socket.on('connect', () => {
      // Writing to a socket that is gone emits 'error' (ignored above), it does not throw.
      // eslint-disable-next-line @typescript-eslint/no-floating-promises -- cannot reject
      void (async () => {
        for (const piece of pieces) {
          if (socket.destroyed) return;
          if (typeof piece === 'number') await new Promise((r) => setTimeout(r, piece));
          else socket.write(piece);
        }
      })();
    });
  });
}

/** A listener that answers nothing useful and records every connection and the first bytes of each. */
export interface Decoy {
  port: number;
  host: string;
  /** First bytes received on each connection, as latin1. */
  readonly connections: string[];
  close(): Promise<void>;
}

export async function startDecoy(): Promise<Decoy> {
  const connections: string[] = [];
  const sockets = new Set<net.Socket>();
  const server = net.createServer((socket) => {
    const index = connections.push('') - 1;
    sockets.add(socket);
    socket.on('data', (d: Buffer) => {
      if (connections[index]!.length < 4096) connections[index] += d.toString('latin1');
      socket.end('HTTP/1.1 200 OK\r\nContent-Length: 5\r\nConnection: close\r\n\r\ndecoy');
    });
    socket.on('error', () => undefined);
    socket.on('close', () => sockets.delete(socket));
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const port = (server.address() as net.AddressInfo).port;
  return {
    port,
    host: '127.0.0.1',
    get connections() {
      return connections;
    },
    close() {
      for (const s of sockets) s.destroy();
      return new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
