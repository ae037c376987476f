/**
 * An HTTP/1.1 forwarder on a free loopback port in front of an S3 endpoint. It passes requests through
 * byte for byte (request-target, headers including Host, so SigV4 still verifies) and records what it saw.
 * Faults are injected here, never in product code: S3-style 500/503 answers and slow responses.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';

export interface SeenRequest {
  method: string;
  /** The request-target exactly as received. */
  url: string;
  headers: http.IncomingHttpHeaders;
  /** Status sent back (injected or from the target); 0 while in flight or when the exchange broke. */
  status: number;
  injected: boolean;
  /** The request body did not arrive whole: the client (the proxy) aborted the upload. */
  uploadCut: boolean;
  /** The response was not delivered whole: the client went away mid-download. */
  downloadCut: boolean;
  /** The exchange is over (either way). */
  done: boolean;
}

export interface HttpFaults {
  /** Probability (0..1) that a request is answered with one of `statuses` instead of being forwarded. */
  errorRate: number;
  statuses: number[];
  /** Delay before forwarding each request (slow main). */
  delayMs: number;
  /**
   * Delay between the target's response head and its body: main slow to finish an answer it has begun, as
   * S3 is with a long CopyObject or CompleteMultipartUpload (the head goes out at once, the body follows).
   */
  bodyDelayMs: number;
  /** The target carries the request out, but its answer never reaches the client: the connection is reset. */
  dropAnswers?: boolean;
}

export interface HttpFaultProxy {
  /** http://127.0.0.1:PORT */
  url: string;
  port: number;
  readonly requests: readonly SeenRequest[];
  /** How many requests got an injected error. */
  readonly injectedErrors: number;
  /** Exchanges not over yet, and the most there ever were at once. */
  readonly inFlight: number;
  readonly peakInFlight: number;
  setFaults(faults: Partial<HttpFaults>): void;
  /** Back to plain forwarding. */
  clearFaults(): void;
  close(): Promise<void>;
}

const CODES: Record<number, string> = { 500: 'InternalError', 503: 'SlowDown' };

export async function startHttpFaultProxy(
  target: string,
  opts: { record?: boolean; maxRecorded?: number } = {},
): Promise<HttpFaultProxy> {
  const targetUrl = new URL(target);
  const agent = new http.Agent({ keepAlive: true, maxSockets: 256 });
  const seen: SeenRequest[] = [];
  const record = opts.record ?? true;
  const maxRecorded = opts.maxRecorded ?? 10_000;
  let faults: HttpFaults = { errorRate: 0, statuses: [503], delayMs: 0, bodyDelayMs: 0 };
  let injectedErrors = 0;
  let inFlight = 0;
  let peakInFlight = 0;

  const server = http.createServer((req, res) => {
    const entry: SeenRequest = {
      method: req.method ?? '',
      url: req.url ?? '',
      headers: req.headers,
      status: 0,
      injected: false,
      uploadCut: false,
      downloadCut: false,
      done: false,
    };
    req.on('close', () => {
      if (!req.complete) entry.uploadCut = true;
    });
    peakInFlight = Math.max(peakInFlight, ++inFlight);
    res.on('close', () => {
      if (!res.writableFinished) entry.downloadCut = true;
      entry.done = true;
      inFlight--;
    });
    if (record && seen.length < maxRecorded) seen.push(entry);
    const current = faults;
    if (current.errorRate > 0 && Math.random() < current.errorRate) {
      const status = current.statuses[Math.floor(Math.random() * current.statuses.length)] ?? 503;
      injectedErrors++;
      entry.injected = true;
      entry.status = status;
      const body =
        '<?xml version="1.0" encoding="UTF-8"?>\n' +
        `<Error><Code>${CODES[status] ?? 'InternalError'}</Code><Message>injected by the test harness</Message></Error>`;
      // Read the whole request first, as S3 does, so the client sees a clean answer rather than a reset.
      req.resume();
      req.on('end', () =>
        res
          .writeHead(status, { 'content-type': 'application/xml', 'content-length': Buffer.byteLength(body) })
          .end(body),
      );
      return;
    }
    const forward = (): void => {
      const upstream = http.request(
        {
          host: targetUrl.hostname,
          port: targetUrl.port,
          method: req.method,
          path: req.url,
          headers: req.headers,
          agent,
        },
        (up) => {
          entry.status = up.statusCode ?? 0;
          if (current.dropAnswers) {
            up.resume();
            res.destroy();
            return;
          }
          res.writeHead(up.statusCode ?? 502, dispositionFirst(up.rawHeaders));
          up.on('error', () => res.destroy());
          if (current.bodyDelayMs === 0) return void up.pipe(res);
          res.flushHeaders();
          setTimeout(() => up.pipe(res), current.bodyDelayMs);
        },
      );
      upstream.on('error', () => {
        if (!res.headersSent) res.writeHead(502).end();
        else res.destroy();
      });
      req.pipe(upstream);
      // The client went away: abort the forwarded request too, as a real network path would.
      res.on('close', () => {
        if (!res.writableFinished) upstream.destroy();
      });
    };
    if (current.delayMs > 0) setTimeout(forward, current.delayMs);
    else forward();
  });
  server.keepAliveTimeout = 60_000;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const port = (server.address() as AddressInfo).port;
  return {
    url: `http://127.0.0.1:${port}`,
    port,
    get requests() {
      return seen;
    },
    get injectedErrors() {
      return injectedErrors;
    },
    get inFlight() {
      return inFlight;
    },
    get peakInFlight() {
      return peakInFlight;
    },
    setFaults(f) {
      faults = { ...faults, ...f };
    },
    clearFaults() {
      faults = { errorRate: 0, statuses: [503], delayMs: 0, bodyDelayMs: 0 };
    },
    close() {
      agent.destroy();
      return new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
    },
  };
}

/**
 * Raw headers with Content-Disposition first: one that Node meets after Content-Length is re-encoded and
 * refused when it has non-ASCII bytes (nodejs/node#46528; the proxy does the same).
 */
function dispositionFirst(raw: string[]): string[] {
  const first: string[] = [];
  const rest: string[] = [];
  for (let i = 0; i < raw.length; i += 2) {
    (raw[i]!.toLowerCase() === 'content-disposition' ? first : rest).push(raw[i]!, raw[i + 1]!);
  }
  return [...first, ...rest];
}
