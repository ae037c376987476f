import http from 'node:http';
import { randomBytes } from 'node:crypto';
import type { Duplex } from 'node:stream';
import type { ProxyConfig } from '../config';
import { renderS3ErrorXml, s3Errors } from '../s3/errors';

/**
 * The S3 data-path server. Node's parser already rejects duplicate Content-Length and
 * Content-Length together with Transfer-Encoding, the usual smuggling vectors.
 */
export function createDataServer(
  config: ProxyConfig,
  handler: (req: http.IncomingMessage, res: http.ServerResponse) => Promise<void>,
): http.Server {
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
    (req, res) => void handler(req, res),
  );
  // `Expect: 100-continue` goes to the handler too, which sends 100 only once it has admitted the request
  // (Node would otherwise invite every body at once, even one the proxy is about to refuse).
  server.on('checkContinue', (req: http.IncomingMessage, res: http.ServerResponse) => void handler(req, res));
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
    const requestId = randomBytes(8).toString('hex').toUpperCase();
    const body = renderS3ErrorXml(s3Errors.methodNotAllowed(), '/', requestId);
    socket.on('error', () => socket.destroy());
    socket.end(
      `HTTP/1.1 405 Method Not Allowed\r\nContent-Type: application/xml\r\nx-amz-request-id: ${requestId}\r\n` +
        `Content-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`,
    );
  });
  return server;
}
