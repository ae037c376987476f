import type { IncomingMessage, RequestListener, ServerResponse } from 'node:http';
import type { Registry } from 'prom-client';

export interface AdminState {
  /** False while starting and once shutdown has begun. */
  ready(): boolean;
  /** Extra detail for /readyz, e.g. inventory and mirror status. Never secrets. */
  details?(): object;
}

/**
 * Health and metrics, on their own port: every path on the data port may be a bucket. Three fixed paths on
 * node:http (a framework costs each pod more memory than these routes are worth).
 */
export function createAdminHandler(registry: Registry, state: AdminState): RequestListener {
  return (req, res) => {
    answer(req, res, registry, state).catch((err: unknown) => {
      if (res.headersSent) res.destroy();
      else send(res, 500, 'text/plain; charset=utf-8', `failed: ${String(err)}\n`);
    });
  };
}

async function answer(
  req: IncomingMessage,
  res: ServerResponse,
  registry: Registry,
  state: AdminState,
): Promise<void> {
  if (req.method !== 'GET' && req.method !== 'HEAD') {
    res.setHeader('allow', 'GET, HEAD');
    return send(res, 405, 'text/plain; charset=utf-8', 'method not allowed\n');
  }
  const path = (req.url ?? '/').split('?', 1)[0];
  switch (path) {
    case '/healthz':
      return send(res, 200, 'text/plain; charset=utf-8', 'ok\n');
    case '/readyz': {
      const ready = state.ready();
      const body = JSON.stringify({ ready, ...(state.details?.() ?? {}) });
      return send(res, ready ? 200 : 503, 'application/json; charset=utf-8', body);
    }
    case '/metrics':
      // A collector that throws is answered 500 by the handler's catch.
      return send(res, 200, registry.contentType, await registry.metrics());
    default:
      return send(res, 404, 'text/plain; charset=utf-8', 'not found\n');
  }
}

function send(res: ServerResponse, status: number, contentType: string, body: string): void {
  res.writeHead(status, { 'content-type': contentType, 'content-length': Buffer.byteLength(body) });
  res.end(body);
}
