import type { IncomingMessage } from 'node:http';
import { Transform, type Readable } from 'node:stream';
import { createAwsChunkedDecoder, planAwsChunked, type AwsChunkedDecoder } from '../chunked';
import { countBodyBytes } from '../memory/body-bytes';
import { s3Errors } from '../s3/errors';

/** The body to send upstream, and what the proxy learnt about it on the way. */
export interface UpstreamBody {
  /** Null when the request has no body. */
  stream: Readable | null;
  /** Content-Length to declare upstream, when known. */
  contentLength?: number;
  /** Set when the app sent aws-chunked framing, which is decoded here. */
  decoder?: AwsChunkedDecoder;
  /** Content-Encoding left once aws-chunked is removed. */
  contentEncoding?: string | null;
  /** Payload bytes that went upstream so far. */
  bytesForwarded(): number;
  /** Why the body failed (an S3Error for bad framing or checksums), if it did. */
  failure(): Error | undefined;
}

/** A request without a body (most GETs): shared, not made per request. */
const NO_BODY: UpstreamBody = Object.freeze({
  stream: null,
  bytesForwarded: () => 0,
  failure: () => undefined,
});
/** One with `Content-Length: 0`, which goes upstream too. */
const EMPTY_DECLARED_BODY: UpstreamBody = Object.freeze({ ...NO_BODY, contentLength: 0 });

function header(req: IncomingMessage, name: string): string | undefined {
  const v = req.headers[name];
  return Array.isArray(v) ? v.join(', ') : v;
}

/**
 * Sees each payload chunk on its way upstream (the decoded bytes of an aws-chunked body), e.g. to spool it.
 * Must not throw and must return at once: it never holds the body back.
 */
export type PayloadObserver = (chunk: Buffer) => void;

/**
 * Asked once the payload length is known, before the first byte flows: returns the observer for this body,
 * if any.
 */
export type ObserverFor = (payloadLength: number | undefined) => PayloadObserver | undefined;

/** Counts bytes on their way upstream, as a stream stage (for the decoded aws-chunked body). */
function counter(observe: PayloadObserver | undefined): { stream: Transform; count: () => number } {
  let n = 0;
  const stream = new Transform({
    transform(chunk: Buffer, _enc, cb) {
      n += chunk.length;
      countBodyBytes(chunk.length);
      observe?.(chunk);
      cb(null, chunk);
    },
  });
  return { stream, count: () => n };
}

/**
 * A plain body goes upstream as the request stream itself: no extra stream stage per request (measured:
 * about a tenth of the proxy's CPU per small PUT). undici detaches the socket before it destroys a finished
 * IncomingMessage body, so the connection survives for the answer. Paused before the counting 'data'
 * listener is added, so that the body does not start flowing (and get lost) before the upstream client
 * attaches and resumes it.
 */
function passThroughBody(
  req: IncomingMessage,
  length: string | undefined,
  onFailure: (err: Error) => void,
  observe: PayloadObserver | undefined,
): UpstreamBody {
  let n = 0;
  let failed: Error | undefined;
  req.pause();
  req.on(
    'data',
    observe
      ? (chunk: Buffer) => {
          n += chunk.length;
          countBodyBytes(chunk.length);
          observe(chunk);
        }
      : (chunk: Buffer) => {
          n += chunk.length;
          countBodyBytes(chunk.length);
        },
  );
  req.on('error', (err) => {
    if (failed) return;
    failed = err;
    onFailure(err);
  });
  return {
    stream: req,
    ...(length !== undefined ? { contentLength: Number(length) } : {}),
    bytesForwarded: () => n,
    failure: () => failed,
  };
}

/**
 * Refuses a PUT body of unknown length (chunked, no Content-Length, not aws-chunked with its decoded
 * length) as S3 does: 411 MissingContentLength, before the body is invited with 100 Continue.
 */
export function checkBodyFraming(method: string, headers: IncomingMessage['headers']): void {
  if (method !== 'PUT' || headers['content-length'] !== undefined) return;
  if (headers['transfer-encoding'] === undefined || planAwsChunked(headers)) return;
  throw s3Errors.missingContentLength();
}

/**
 * Wires the request body for forwarding: aws-chunked framing is decoded (and validated) on the fly,
 * any other body passes through unchanged. Never buffers. Errors in the body (bad framing, BadDigest,
 * the client going away) surface as an error of the returned stream, which fails the upstream request
 * before it completes; the request socket is left open so the proxy can still answer.
 * Rejects with an S3Error for headers that already make the request invalid, or for an empty aws-chunked
 * body whose framing is invalid. `observerFor` gets the payload length (undefined when not declared) before
 * any byte flows, and may return an observer of the payload.
 */
export async function prepareUpstreamBody(
  req: IncomingMessage,
  onFailure: (err: Error) => void,
  observerFor?: ObserverFor,
): Promise<UpstreamBody> {
  const plan = planAwsChunked(req.headers);
  const length = header(req, 'content-length');
  const hasBody = (length !== undefined && length !== '0') || req.headers['transfer-encoding'] !== undefined;
  if (!plan && !hasBody) {
    observerFor?.(0); // no body: an empty payload
    return length === '0' ? EMPTY_DECLARED_BODY : NO_BODY;
  }
  if (!plan) {
    const declared = length !== undefined && /^\d+$/.test(length) ? Number(length) : undefined;
    return passThroughBody(req, length, onFailure, observerFor?.(declared));
  }
  const count = counter(observerFor?.(plan.decodedLength));
  let failed: Error | undefined;
  // The body may fail before the upstream client has attached to it: keep the first error, never throw it.
  const fail = (err: Error): void => {
    if (failed) return;
    failed = err;
    count.stream.destroy(err);
    onFailure(err);
  };
  count.stream.on('error', fail);
  req.on('error', fail);
  const base = { bytesForwarded: count.count, failure: () => failed };
  const decoder = createAwsChunkedDecoder(plan);
  // Not pipeline(): that would destroy the request, and with it the socket the error answer goes on.
  decoder.on('error', fail);
  req.pipe(decoder).pipe(count.stream);
  const decoded = { decoder, contentEncoding: plan.contentEncoding, ...base };
  if (plan.decodedLength === 0) {
    // Upstream would store an empty object as soon as it saw the headers: validate the framing first.
    await new Promise<void>((resolve) => {
      count.stream.on('end', resolve).on('close', resolve).resume();
    });
    if (failed) throw failed;
    return { stream: null, contentLength: 0, ...decoded };
  }
  return { stream: count.stream, contentLength: plan.decodedLength, ...decoded };
}
