import http from 'node:http';
import type { Readable } from 'node:stream';

/**
 * The alternative forwarder the benchmark compares with undici's Pool: Node's own HTTP client with a
 * keep-alive Agent, which is also what http-proxy (and so http-proxy-middleware) uses underneath. It offers
 * the one call the proxy's handler makes on its upstream (`request`, returning status, headers and a body
 * stream) plus `close`, so the real handler, signer and tracker run unchanged in front of it.
 */
export interface UpstreamRequest {
  origin: string;
  path: string;
  method: string;
  headers: Record<string, string>;
  body: Readable | null;
  /** An AbortSignal, or the exchange's cancel (an EventEmitter undici takes; http/upstream-cancel.ts). */
  signal?: AbortSignal | { toAbortSignal(): AbortSignal };
}

export interface UpstreamResponse {
  statusCode: number;
  headers: Record<string, string | string[] | undefined>;
  body: Readable;
}

export class NodeHttpUpstream {
  private readonly agent: http.Agent;

  constructor(maxSockets = 256) {
    this.agent = new http.Agent({
      keepAlive: true,
      maxSockets,
      maxFreeSockets: maxSockets,
      scheduling: 'lifo',
    });
  }

  request(opts: UpstreamRequest): Promise<UpstreamResponse> {
    return new Promise((resolve, reject) => {
      const req = http.request(
        opts.origin + opts.path,
        {
          method: opts.method,
          headers: opts.headers,
          agent: this.agent,
          // node:http takes only an AbortSignal. (Told by shape: a build under BENCH_PROXY_DIST has classes
          // of its own.)
          ...(opts.signal
            ? { signal: 'toAbortSignal' in opts.signal ? opts.signal.toAbortSignal() : opts.signal }
            : {}),
        },
        (res) => resolve({ statusCode: res.statusCode ?? 502, headers: res.headers, body: res }),
      );
      req.on('error', reject);
      if (!opts.body) {
        req.end();
        return;
      }
      // A failing body (bad framing, client gone) must fail the upstream request, never complete it.
      opts.body.on('error', (err) => req.destroy(err));
      opts.body.pipe(req);
    });
  }

  async close(): Promise<void> {
    this.agent.destroy();
  }
}
