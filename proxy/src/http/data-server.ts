import http from 'node:http';
import type { Duplex } from 'node:stream';
import type { ProxyConfig } from '../config';
import { renderS3ErrorXml, s3Errors } from '../s3/errors';
import { newRequestId } from './request-id';

type Handler = (req: http.IncomingMessage, res: http.ServerResponse) => Promise<void>;
/** The one logger method used here (the app's logger; a plain function in tests). */
type ErrorLog = { error(message: string, meta: Record<string, unknown>): unknown };

/**
 * The S3 data-path server. Node's parser already rejects duplicate Content-Length and
 * Content-Length together with Transfer-Encoding, the usual smuggling vectors.
 */
export function createDataServer(
  config: Pick<ProxyConfig, 'clientIdleTimeoutMs'>,
  unguarded: Handler,
  logger: ErrorLog,
): http.Server {
  const handler = guarded(unguarded, logger);
  const headersTimeout = Math.min(config.clientIdleTimeoutMs, 20_000);
  const server = http.createServer(
    {
      // Slow-header (slowloris) clients are cut after this long.
      headersTimeout,
      // Node only checks that deadline every interval (30 s by default), which would let a slowloris
      // client hold a socket for half a minute whatever headersTimeout says.
      connectionsCheckingInterval: Math.max(100, Math.min(1000, Math.floor(headersTimeout / 4))),
      // Large uploads may legitimately take hours; idleness is bounded by the socket timeout instead.
      requestTimeout: 0,
      keepAliveTimeout: 5_000,
      maxHeaderSize: 16 * 1024,
    },
    handler,
  );
  // `Expect: 100-continue` goes to the handler too, which sends 100 only once it has admitted the request
  // (Node would otherwise invite every body at once, even one the proxy is about to refuse).
  server.on('checkContinue', handler);
  // A stalled upload or download is cut, which aborts the upstream request too.
  server.timeout = config.clientIdleTimeoutMs;
  server.on('clientError', (err: NodeJS.ErrnoException, socket) => {
    if (!socket.writable) return socket.destroy();
    const status =
      err.code === 'HPE_HEADER_OVERFLOW' ? 431 : err.code === 'ERR_HTTP_REQUEST_TIMEOUT' ? 408 : 400;
    const body =
      '<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>' +
      (status === 400 ? 'BadRequest' : status === 431 ? 'RequestHeaderSectionTooLarge' : 'RequestTimeout') +
      '</Code><Message>Malformed HTTP request.</Message></Error>';
    socket.end(
      `HTTP/1.1 ${status} ${http.STATUS_CODES[status]}\r\nContent-Type: application/xml\r\n` +
        `Content-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`,
    );
  });
  // CONNECT never reaches the request handler: Node hands it over as a raw socket. Refuse it as S3 would,
  // so the sidecar can never be used as a tunnel.
  server.on('connect', (req: http.IncomingMessage, socket: Duplex) => {
    const requestId = newRequestId();
    const body = renderS3ErrorXml(s3Errors.methodNotAllowed(), '/', requestId);
    socket.on('error', () => socket.destroy());
    socket.end(
      `HTTP/1.1 405 Method Not Allowed\r\nContent-Type: application/xml\r\nx-amz-request-id: ${requestId}\r\n` +
        `Content-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`,
    );
  });
  return server;
}

/**
 * The handler, made safe to call without awaiting: whatever it throws (a bug, say in a finally block) is
 * logged and answered here. An unhandled rejection would reach the process-wide handler, which exits the
 * sidecar and with it every other request in flight.
 */
function guarded(handler: Handler, logger: ErrorLog) {
  const failed = (req: http.IncomingMessage, res: http.ServerResponse, err: unknown): void => {
    try {
      handlerFailed(req, res, err, logger);
    } catch {
      res.destroy(); // nothing more can be done for this request, and nothing may escape
    }
  };
  return (req: http.IncomingMessage, res: http.ServerResponse): void => {
    // A synchronous throw is caught here; not by wrapping the call in a new Promise, whose executor and
    // resolvers every request would allocate.
    let running: Promise<void>;
    try {
      running = handler(req, res);
    } catch (err) {
      return failed(req, res, err);
    }
    running.catch((err: unknown) => failed(req, res, err));
  };
}

function handlerFailed(
  req: http.IncomingMessage,
  res: http.ServerResponse,
  err: unknown,
  logger: ErrorLog,
): void {
  const e = err instanceof Error ? err : new Error(String(err));
  logger.error('request handler failed', { method: req.method, error: e.message, stack: e.stack });
  if (!res.headersSent) return sendInternalError(req, res);
  // A started answer cannot turn into an error any more: cut it so the client sees it incomplete. One
  // already complete is left alone (destroying now could drop its unflushed end).
  if (!res.writableEnded) res.destroy();
}

function sendInternalError(req: http.IncomingMessage, res: http.ServerResponse): void {
  const requestId = newRequestId();
  const resource = (req.url ?? '/').split('?')[0]!;
  const body = renderS3ErrorXml(s3Errors.internalError(), resource, requestId);
  // Headers the handler set but never sent (a Content-Length, say) describe another answer.
  for (const name of res.getHeaderNames()) res.removeHeader(name);
  // The request body may be unread: close the connection rather than parse it as the next request.
  res.writeHead(500, {
    'content-type': 'application/xml',
    'content-length': Buffer.byteLength(body),
    'x-amz-request-id': requestId,
    connection: 'close',
  });
  res.end(body);
}
