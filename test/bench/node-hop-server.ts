/**
 * The bench's Node.js reference hop: the cheapest pass-through Node can do with the proxy's own parts
 * (node:http in front, an undici pool behind, bodies streamed both ways): no signing, no parsing, no log line,
 * no metrics. What it costs per request is the floor under the proxy's cost in the same run; the rest is the
 * proxy's own work. Entry: node-hop-main.ts.
 */
import http from 'node:http';
import { pipeline } from 'node:stream';
// The proxy's own way to load undici's pool (its index would add 12 MB to the floor's RSS).
import { Pool } from '@k8s-s3-mirror/proxy/dist/http/undici-pool';

/** Connection-scoped headers: never forwarded by a proxy (RFC 9110 §7.6.1). */
const HOP_BY_HOP = new Set([
  'connection',
  'keep-alive',
  'proxy-connection',
  'transfer-encoding',
  'te',
  'trailer',
  'upgrade',
]);

function endToEnd(headers: Record<string, string | string[] | undefined>): Record<string, string | string[]> {
  const out: Record<string, string | string[]> = {};
  for (const [name, value] of Object.entries(headers)) {
    if (value !== undefined && !HOP_BY_HOP.has(name)) out[name] = value;
  }
  return out;
}

/**
 * Forwards `req` through `pool` and streams the answer back. The body is `req` itself, streamed, unless the
 * caller read it already (`body`); `onAnswer` sees the status once the answer is on its way.
 */
export function forward(
  pool: Pool,
  req: http.IncomingMessage,
  res: http.ServerResponse,
  opts: { body?: Buffer; onAnswer?: (statusCode: number) => void } = {},
): void {
  const hasBody = req.method !== 'GET' && req.method !== 'HEAD';
  pool
    .request({
      method: req.method as 'GET',
      path: req.url ?? '/',
      headers: endToEnd(req.headers),
      body: opts.body ?? (hasBody ? req : null),
    })
    .then(
      (answer) => {
        res.writeHead(answer.statusCode, endToEnd(answer.headers));
        pipeline(answer.body, res, () => undefined);
        opts.onAnswer?.(answer.statusCode);
      },
      (err: Error) => {
        res.writeHead(502, { 'content-type': 'text/plain' });
        res.end(err.message);
      },
    );
}

/** The hop's server, forwarding every request to `upstreamOrigin` (http://host:port). */
export function createNodeHopServer(upstreamOrigin: string): { server: http.Server; close(): Promise<void> } {
  const pool = new Pool(upstreamOrigin, { connections: 256, keepAliveTimeout: 300_000 });
  const server = http.createServer({ keepAliveTimeout: 300_000 }, (req, res) => forward(pool, req, res));
  return {
    server,
    async close() {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await pool.close();
    },
  };
}
