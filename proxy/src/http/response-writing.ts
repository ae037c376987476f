/** Writing answers to the app: main's status and headers, S3-style errors, and the filtered bucket list. */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Readable } from 'node:stream';
import type { Dispatcher } from 'undici';

import { filterBucketList } from '../s3/bucket-list-filter';
import { renderS3ErrorXml, s3Errors, type S3Error } from '../s3/errors';
import { downstreamResponseHeaders } from '../s3/forward-headers';
import type { RequestTarget } from '../s3/request-target';
import { holdResponseBody } from '../tracking/response-hold';

/**
 * Bounds on reading a tracked response body before relaying it: a DeleteObjects result of 1,000 keys of
 * 1,024 bytes (XML-escaped) fits; the wait covers S3's whitespace keep-alive during long operations.
 */
export const MAX_HELD_BODY_BYTES = 8 * 1024 * 1024;
export const MAX_HELD_BODY_MS = 10_000;

export function header(req: IncomingMessage, name: string): string | undefined {
  const v = req.headers[name];
  return Array.isArray(v) ? v.join(', ') : v;
}

export function expectsContinue(req: IncomingMessage): boolean {
  return /\b100-continue\b/i.test(header(req, 'expect') ?? '');
}

/**
 * Sends main's status and headers byte for byte (header values are latin1 strings: one char per byte).
 * Content-Disposition goes first: a Content-Disposition that Node meets after Content-Length is re-encoded
 * as UTF-8 (nodejs/node#46528), which refuses or garbles a value with non-ASCII bytes, such as an object
 * stored with a UTF-8 file name.
 */
export function writeResponseHead(
  res: ServerResponse,
  statusCode: number,
  headers: Record<string, string | string[]>,
): void {
  const disposition = headers['content-disposition'];
  res.writeHead(
    statusCode,
    disposition === undefined ? headers : { 'content-disposition': disposition, ...headers },
  );
}

/**
 * Answers a ListBuckets through a sidecar with an allow-list with only the allowed buckets. The document is
 * small (S3 lists at most 10,000 buckets); one too large or compressed to read is refused, never passed on.
 * Returns the bytes sent.
 */
export async function sendAllowedBucketList(
  res: ServerResponse,
  upstream: Dispatcher.ResponseData,
  allowed: readonly string[],
): Promise<number> {
  const encoding = upstream.headers['content-encoding'];
  const held =
    encoding === undefined || encoding === 'identity'
      ? await holdResponseBody(upstream.body, MAX_HELD_BODY_BYTES, MAX_HELD_BODY_MS)
      : undefined;
  if (!held?.ended) {
    discard(upstream.body);
    throw s3Errors.accessDenied('This sidecar cannot filter the bucket list to its allowed buckets.');
  }
  const xml = filterBucketList(Buffer.concat(held.chunks).toString('utf8'), allowed);
  const headers = downstreamResponseHeaders(upstream.headers);
  delete headers['content-md5'];
  writeResponseHead(res, upstream.statusCode, {
    ...headers,
    'content-length': String(Buffer.byteLength(xml)),
  });
  res.end(xml);
  return Buffer.byteLength(xml);
}

/** Bounds on reading the body of a request refused before its body was used. */
const REFUSED_BODY_MAX_BYTES = 1024 * 1024;
const REFUSED_BODY_MAX_MS = 2_000;

/** Reads and drops what is left of a refused request's body, within bounds; never fails. */
export function drainBriefly(req: IncomingMessage): Promise<void> {
  return new Promise((resolve) => {
    let bytes = 0;
    const done = (): void => {
      clearTimeout(timer);
      req.off('data', count);
      req.pause();
      resolve();
    };
    const count = (chunk: Buffer): void => {
      bytes += chunk.length;
      if (bytes > REFUSED_BODY_MAX_BYTES) done();
    };
    const timer = setTimeout(done, REFUSED_BODY_MAX_MS);
    req.on('data', count).once('end', done).once('error', done).once('close', done);
    req.resume();
  });
}

export function discard(source: Readable): void {
  source.on('error', () => undefined); // destroying an unread undici body emits an abort error
  source.destroy();
}

export function resourceOf(target: RequestTarget | undefined): string {
  return target?.bucket ? `/${target.bucket}${target.key ? '/' + target.key : ''}` : '/';
}

export function sendError(
  res: ServerResponse,
  error: S3Error,
  resource: string,
  requestId: string,
  closeAfter: boolean,
) {
  if (res.headersSent) {
    res.destroy(error);
    return;
  }
  const body = renderS3ErrorXml(error, resource, requestId);
  res.writeHead(error.statusCode, {
    'content-type': 'application/xml',
    'content-length': Buffer.byteLength(body),
    'x-amz-request-id': requestId,
    ...(closeAfter ? { connection: 'close' } : {}),
  });
  res.end(body);
}
