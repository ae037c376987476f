import http from 'node:http';
import { RequestSigner } from '@k8s-s3-mirror/proxy/dist/sigv4/signer';
import { staticCredentials } from '@k8s-s3-mirror/proxy/dist/credentials';

/**
 * The benchmark's own light S3 client: node:http with keep-alive and SigV4 headers signed once per request
 * shape and reused (RGW accepts a signature for 15 minutes), so the client spends as little CPU as possible
 * and the same bytes go to the backend and to the proxy.
 */
export interface Endpoint {
  /** Display name, e.g. "direct" or "proxy". */
  name: string;
  /** http://127.0.0.1:PORT: what requests are signed for (their Host header), and sent to unless `via` is set. */
  url: string;
  /** Where requests go instead, signed for `url` all the same: a pass-through hop in front of `url`. */
  via?: string;
  accessKeyId: string;
  secretAccessKey: string;
}

/** 1 MiB of filler, written repeatedly for large uploads (never changed after creation). */
export const FILLER = Buffer.alloc(1024 * 1024, 'benchmark-payload-');

export class BenchClient {
  readonly agent: http.Agent;
  private readonly signer: RequestSigner;
  private readonly signed = new Map<string, Record<string, string>>();
  /** Where requests are sent. */
  private readonly base: string;

  constructor(
    readonly endpoint: Endpoint,
    maxSockets = 256,
  ) {
    this.agent = new http.Agent({ keepAlive: true, maxSockets, maxFreeSockets: maxSockets });
    this.base = endpoint.via ?? endpoint.url;
    this.signer = new RequestSigner({
      url: new URL(endpoint.url),
      region: 'us-east-1',
      credentials: staticCredentials('main', endpoint),
    });
  }

  /** Signed headers for one request shape; cached, so repeated requests cost no signing. */
  async headers(
    method: string,
    path: string,
    extra: Record<string, string> = {},
  ): Promise<Record<string, string>> {
    const cacheKey = `${method} ${path} ${JSON.stringify(extra)}`;
    const hit = this.signed.get(cacheKey);
    if (hit) return hit;
    const headers = this.signer.sign({
      method,
      path,
      query: [],
      headers: { 'x-amz-content-sha256': 'UNSIGNED-PAYLOAD', ...extra },
    });
    this.signed.set(cacheKey, headers);
    return headers;
  }

  /** One request with an in-memory body (or none); resolves with the status once the response is read. */
  send(method: string, path: string, headers: Record<string, string>, body?: Buffer): Promise<number> {
    return new Promise((resolve, reject) => {
      const req = http.request(this.base + path, { method, headers, agent: this.agent }, (res) => {
        res.on('data', () => undefined);
        res.on('end', () => resolve(res.statusCode ?? 0));
        res.on('error', reject);
      });
      req.on('error', reject);
      req.end(body);
    });
  }

  /** Streams `size` bytes of filler as one PUT, with backpressure. */
  putStream(path: string, headers: Record<string, string>, size: number): Promise<number> {
    return new Promise((resolve, reject) => {
      const req = http.request(this.base + path, { method: 'PUT', headers, agent: this.agent }, (res) => {
        res.on('data', () => undefined);
        res.on('end', () => resolve(res.statusCode ?? 0));
        res.on('error', reject);
      });
      req.on('error', reject);
      let left = size;
      const pump = (): void => {
        while (left > 0) {
          const chunk = left >= FILLER.length ? FILLER : FILLER.subarray(0, left);
          left -= chunk.length;
          if (!req.write(chunk)) {
            req.once('drain', pump);
            return;
          }
        }
        req.end();
      };
      pump();
    });
  }

  /** A GET whose body is counted and dropped; resolves with status and bytes. */
  getCounted(path: string, headers: Record<string, string>): Promise<{ status: number; bytes: number }> {
    return new Promise((resolve, reject) => {
      const req = http.request(this.base + path, { method: 'GET', headers, agent: this.agent }, (res) => {
        let bytes = 0;
        res.on('data', (c: Buffer) => (bytes += c.length));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, bytes }));
        res.on('error', reject);
      });
      req.on('error', reject);
      req.end();
    });
  }

  close(): void {
    this.agent.destroy();
  }
}

export interface LoopResult {
  /** Requests completed inside the measured window. */
  count: number;
  errors: number;
  /** Latency in ms of each request completed inside the window. */
  latenciesMs: number[];
  windowMs: number;
  /** Completed requests per second in the window. */
  rate: number;
  /** Every request sent, warm-up included (for CPU per request). */
  sent: number;
  firstError?: string;
}

/**
 * Closed loop: `concurrency` workers each send a request as soon as their previous one is answered. Requests
 * finishing during the warm-up are not counted (connections open, JIT warms).
 */
export async function closedLoop(opts: {
  concurrency: number;
  warmupMs: number;
  durationMs: number;
  request: (worker: number, seq: number) => Promise<number>;
}): Promise<LoopResult> {
  const start = performance.now();
  const windowStart = start + opts.warmupMs;
  const end = windowStart + opts.durationMs;
  const latenciesMs: number[] = [];
  let errors = 0;
  let firstError: string | undefined;
  let seq = 0;
  const worker = async (w: number): Promise<void> => {
    while (performance.now() < end) {
      const t0 = performance.now();
      let ok = false;
      try {
        const status = await opts.request(w, seq++);
        ok = status >= 200 && status < 300;
        if (!ok) firstError ??= `HTTP ${status}`;
      } catch (err) {
        firstError ??= (err as Error).message;
      }
      const t1 = performance.now();
      if (t1 >= windowStart && t1 <= end) {
        if (ok) latenciesMs.push(t1 - t0);
        else errors++;
      }
    }
  };
  await Promise.all(Array.from({ length: opts.concurrency }, (_, w) => worker(w)));
  return {
    count: latenciesMs.length,
    errors,
    latenciesMs,
    windowMs: opts.durationMs,
    rate: latenciesMs.length / (opts.durationMs / 1000),
    sent: seq,
    ...(firstError ? { firstError } : {}),
  };
}

/**
 * Open loop: starts requests at a fixed rate whatever the answers (as independent clients do), up to
 * `maxInFlight`. Returns each request's send and completion time (ms epoch) and status.
 */
export async function openLoop(opts: {
  ratePerSec: number;
  durationMs: number;
  maxInFlight?: number;
  request: (seq: number) => Promise<number>;
}): Promise<{ sentAt: number; doneAt: number; status: number; seq: number }[]> {
  const results: { sentAt: number; doneAt: number; status: number; seq: number }[] = [];
  const total = Math.round((opts.ratePerSec * opts.durationMs) / 1000);
  const maxInFlight = opts.maxInFlight ?? 512;
  const start = Date.now();
  let inFlight = 0;
  const pending: Promise<void>[] = [];
  for (let seq = 0; seq < total; seq++) {
    const due = start + (seq * 1000) / opts.ratePerSec;
    const wait = due - Date.now();
    if (wait > 1) await new Promise((r) => setTimeout(r, wait));
    while (inFlight >= maxInFlight) await new Promise((r) => setTimeout(r, 1));
    inFlight++;
    const sentAt = Date.now();
    pending.push(
      opts.request(seq).then(
        (status) => {
          inFlight--;
          results.push({ sentAt, doneAt: Date.now(), status, seq });
        },
        () => {
          inFlight--;
          results.push({ sentAt, doneAt: Date.now(), status: 0, seq });
        },
      ),
    );
  }
  await Promise.all(pending);
  return results.sort((a, b) => a.seq - b.seq);
}
