/**
 * The mirror copier's I/O edge: one signed request to one S3 endpoint (main or the mirror), with the
 * proxy's own SigV4 signer and an undici pool, no AWS SDK. The interface has one method, like
 * aws-sigv4-proxy's `Client.Do`, so the copy logic runs against fakes in unit tests.
 */
import { Readable } from 'node:stream';
import type { Dispatcher } from 'undici';
import { Pool, type PoolOptions } from '../http/undici-pool';

import type { S3Endpoint } from '../config';
import type { Logger } from '../log';
import { s3ResponseError, type S3ResponseError } from '../s3/errors';
import { upstreamPath, upstreamQuery } from '../s3/request-target';
import { EMPTY_PAYLOAD_SHA256, RequestSigner } from '../sigv4/signer';
import { CLOCK_SKEW_THRESHOLD_MS, skewedClockOffset } from './clock-skew';
import type { ResponseHeaders } from './object-headers';

/** The user agent of the mirror's own requests (copies, deletes) to main and the mirror. */
export const MIRROR_USER_AGENT = 'k8s-s3-mirror-copier';

export interface S3HttpRequest {
  method: 'GET' | 'HEAD' | 'PUT' | 'DELETE';
  bucket: string;
  /** Absent: the bucket itself (HeadBucket). */
  key?: string;
  /** Decoded names and values; null for a parameter without a value (`?tagging`). */
  query?: readonly [string, string | null][];
  /** Lower-case names; values are byte strings (one char per byte), signed and sent as those bytes. */
  headers?: Record<string, string>;
  /**
   * Streamed as it is read, or one buffer; `headers['content-length']` must give its length. Sent
   * UNSIGNED-PAYLOAD.
   */
  body?: Readable | Buffer;
  signal?: AbortSignal;
}

export interface S3HttpResponse {
  statusCode: number;
  /** Lower-case names; values as byte strings. */
  headers: ResponseHeaders;
  /** Must be read to its end (consumeRest) or destroyed, or the connection is not reused. */
  body: Readable;
}

/** One signed request to one S3 endpoint. */
export interface S3Http {
  send(request: S3HttpRequest): Promise<S3HttpResponse>;
}

export interface ClosableS3Http extends S3Http {
  /** Closes every connection at once, as S3Client.destroy() does: requests still running fail. */
  destroy(): Promise<void>;
}

// Keep-alive: a copy is a HEAD or GET on main and a PUT on the mirror, so connection set-up would be most
// of a small copy's cost. undici's default idle timeout (4 s) stays below the servers' own (RGW: 65 s).
const POOL_OPTIONS: PoolOptions = {
  connections: 64,
  headersTimeout: 300_000,
  bodyTimeout: 300_000,
};

/**
 * A connection the server had closed when it was reused: a request is sent once more unless its body was a
 * stream, which is spent (a buffer, as CreateBucket's or a small copy's, can go again).
 */
const STALE_CONNECTION_CODES: ReadonlySet<string> = new Set(['UND_ERR_SOCKET', 'ECONNRESET', 'EPIPE']);

export interface S3HttpOptions {
  /** Warned once when the endpoint's clock is found off: requests to it are then signed on its time. */
  logger?: Logger;
  dispatcher?: Dispatcher;
}

/**
 * Requests to `endpoint`, path-style, signed with its credentials. Signed on the endpoint's clock once one
 * of its answers refused a request for clock skew (see clock-skew.ts); that request is sent once more on
 * the corrected time when it has no body (a streamed body is gone: the copy fails, and its retry passes).
 */
export function signedS3Http(endpoint: S3Endpoint, options: S3HttpOptions = {}): ClosableS3Http {
  const { logger } = options;
  const signer = new RequestSigner(endpoint);
  const origin = endpoint.url.origin;
  const pool = options.dispatcher ?? new Pool(origin, POOL_OPTIONS);
  /** The endpoint's clock minus ours, in ms. */
  let clockOffsetMs = 0;
  const learn = (offsetMs: number): void => {
    // Answers to requests signed before the last correction show the same skew again: learnt once.
    if (Math.abs(offsetMs - clockOffsetMs) < CLOCK_SKEW_THRESHOLD_MS) return;
    clockOffsetMs = offsetMs;
    logger?.warn("clock skew: requests to the S3 endpoint are signed on the endpoint's clock", {
      endpoint: endpoint.url.host,
      clockOffsetSeconds: Math.round(offsetMs / 1000),
    });
  };
  /** The answer, and whether it refused the request for a skewed signing time. */
  const dispatch = async (request: S3HttpRequest): Promise<{ response: S3HttpResponse; skewed: boolean }> => {
    const { method, bucket, key, body, signal } = request;
    const query = request.query ?? [];
    const path = upstreamPath({
      bucket,
      ...(key !== undefined ? { key } : {}),
      query: [],
      addressing: 'path',
    });
    const offsetMs = clockOffsetMs;
    const sentAt = Date.now();
    const headers = signer.sign(
      {
        method,
        path,
        query,
        headers: {
          ...request.headers,
          'x-amz-content-sha256': body ? 'UNSIGNED-PAYLOAD' : EMPTY_PAYLOAD_SHA256,
        },
      },
      new Date(sentAt + offsetMs),
    );
    const answer = await pool.request({
      origin,
      path: path + upstreamQuery(query),
      method,
      // Not signed: names the copier in S3's access logs (and lets tests tell it from the data path).
      headers: { ...headers, 'user-agent': MIRROR_USER_AGENT },
      body: body ?? null,
      signal,
      // undici closes the connection after a HEAD unless told not to; S3 never sends a body with one.
      ...(method === 'HEAD' ? { reset: false } : {}),
    });
    const response = { statusCode: answer.statusCode, headers: answer.headers, body: answer.body };
    const serverOffset = skewedClockOffset({ ...response, offsetMs, sentAt, receivedAt: Date.now() });
    if (serverOffset !== undefined) learn(serverOffset);
    return { response, skewed: serverOffset !== undefined };
  };
  const sendOnce = async (request: S3HttpRequest): Promise<{ response: S3HttpResponse; skewed: boolean }> => {
    try {
      return await dispatch(request);
    } catch (err) {
      const code = (err as { code?: string }).code;
      const again = !spent(request) && !request.signal?.aborted && STALE_CONNECTION_CODES.has(code ?? '');
      if (!again) throw err;
      return dispatch(request);
    }
  };
  return {
    async send(request) {
      const first = await sendOnce(request);
      // A streamed body is spent: the caller gets the refusal, and its next try is signed on the right time.
      if (!first.skewed || spent(request) || request.signal?.aborted) return first.response;
      consumeRest(first.response.body);
      return (await sendOnce(request)).response;
    },
    destroy: () => pool.destroy(),
  };
}

/** Whether the request's body cannot be sent a second time (a stream that has been read). */
function spent(request: S3HttpRequest): boolean {
  return request.body instanceof Readable;
}

/** A 2xx answer. */
export const isSuccess = (status: number): boolean => status >= 200 && status < 300;

/** Reads and drops the rest of a small answer (a PUT's or DELETE's, a HEAD's): the connection is reused. */
export function consumeRest(body: Readable): void {
  body.on('error', () => undefined);
  // A 'data' listener rather than resume(): undici then counts the body as read, and does not defer its
  // clean-up to a setImmediate.
  body.on('data', () => undefined);
}

/** The first `maxBytes` of a body (a small XML document); `complete` when that was all of it. */
export async function readText(
  body: Readable,
  maxBytes: number,
): Promise<{ text: string; complete: boolean }> {
  const chunks: Buffer[] = [];
  let bytes = 0;
  for await (const chunk of body) {
    chunks.push(chunk as Buffer);
    bytes += (chunk as Buffer).length;
    // Leaving the loop destroys the body: the rest is never read.
    if (bytes > maxBytes) break;
  }
  const text = Buffer.concat(chunks).subarray(0, maxBytes).toString('utf8');
  return { text, complete: bytes <= maxBytes };
}

const ERROR_BODY_MAX_BYTES = 64 * 1024;

/** The error a non-2xx answer means; reads (the start of) its body, then lets the rest go. */
export async function errorOf(response: S3HttpResponse): Promise<S3ResponseError> {
  // A body that breaks off leaves the status alone to name the error.
  const { text } = await readText(response.body, ERROR_BODY_MAX_BYTES).catch(() => ({ text: '' }));
  return s3ResponseError(response.statusCode, text);
}
