import type { IncomingHttpHeaders } from 'node:http';

/** Headers that belong to one hop, or to the app's own signature, and never go upstream as they came. */
const DROPPED_REQUEST_HEADERS = new Set([
  'host',
  'authorization',
  'x-amz-date',
  'x-amz-security-token',
  'x-amz-content-sha256',
  'content-length',
  'connection',
  'keep-alive',
  'proxy-authorization',
  'proxy-connection',
  'te',
  'trailer',
  'transfer-encoding',
  'upgrade',
  'expect',
  'http2-settings',
]);

/** Set by aws-chunked framing, which the proxy decodes before forwarding. */
const AWS_CHUNKED_HEADERS = new Set([
  'content-encoding',
  'x-amz-decoded-content-length',
  'x-amz-trailer',
  'x-amz-sdk-checksum-algorithm',
]);

const HOP_BY_HOP_RESPONSE_HEADERS = new Set([
  'connection',
  'keep-alive',
  'proxy-authenticate',
  'proxy-connection',
  'te',
  'trailer',
  'transfer-encoding',
  'upgrade',
]);

const NO_TOKENS: ReadonlySet<string> = new Set();

function connectionTokens(value: string | string[] | undefined): ReadonlySet<string> {
  // Most requests and answers have no Connection header, or one naming only keep-alive (dropped anyway).
  if (value === undefined || value === 'keep-alive') return NO_TOKENS;
  const joined = Array.isArray(value) ? value.join(',') : value;
  return new Set(
    joined
      .split(',')
      .map((t) => t.trim().toLowerCase())
      .filter(Boolean),
  );
}

/** Node's default maxHeadersCount: the headers it puts in `headers` and `headersDistinct`. */
const MAX_HEADERS = 2000;

export interface UpstreamHeaderOptions {
  /** The body is aws-chunked and will be decoded; value is the remaining Content-Encoding, if any. */
  decodedAwsChunked?: { contentEncoding: string | null };
  contentLength?: number;
  payloadHash: string;
}

/**
 * Builds the headers to forward to main, before signing, from the app's request as received (Node's
 * `rawHeaders`: name, value, name, value…). Lower-case names, single string values: a header the app sent
 * several times goes as one line, its values joined by `,` as S3 and SigV4 combine them. (Read straight from
 * the raw list: Node's `headersDistinct` would build an array per header first.)
 */
export function upstreamRequestHeaders(
  rawHeaders: readonly string[],
  options: UpstreamHeaderOptions,
): Record<string, string> {
  let out: Record<string, string> = {};
  let connection: string | undefined;
  // Node's headers objects keep the first 2,000 headers (maxHeadersCount): so does this.
  const end = Math.min(rawHeaders.length, 2 * MAX_HEADERS);
  for (let i = 0; i + 1 < end; i += 2) {
    const name = rawHeaders[i]!.toLowerCase();
    const value = rawHeaders[i + 1]!;
    if (name === 'connection') connection = connection === undefined ? value : `${connection},${value}`;
    if (DROPPED_REQUEST_HEADERS.has(name)) continue;
    if (options.decodedAwsChunked && AWS_CHUNKED_HEADERS.has(name)) continue;
    out[name] = Object.hasOwn(out, name) ? `${out[name]},${value}` : value;
  }
  const hopByHop = connectionTokens(connection);
  // Connection may come after the headers it names (rare: rebuilt without them).
  if (hopByHop.size > 0)
    out = Object.fromEntries(Object.entries(out).filter(([name]) => !hopByHop.has(name)));
  if (options.decodedAwsChunked?.contentEncoding)
    out['content-encoding'] = options.decodedAwsChunked.contentEncoding;
  if (options.contentLength !== undefined) out['content-length'] = String(options.contentLength);
  out['x-amz-content-sha256'] = options.payloadHash;
  return out;
}

/** The payload hash to sign: the app's own SHA-256 when the body goes up unchanged, otherwise UNSIGNED-PAYLOAD. */
export function payloadHashFor(incoming: IncomingHttpHeaders, bodyUnchanged: boolean): string {
  const declared = incoming['x-amz-content-sha256'];
  if (bodyUnchanged && typeof declared === 'string' && /^[0-9a-f]{64}$/i.test(declared)) {
    return declared.toLowerCase();
  }
  return 'UNSIGNED-PAYLOAD';
}

/** Response headers to pass back to the app unchanged, minus hop-by-hop ones. */
export function downstreamResponseHeaders(
  upstream: Record<string, string | string[] | undefined>,
): Record<string, string | string[]> {
  const hopByHop = connectionTokens(upstream.connection);
  const out: Record<string, string | string[]> = {};
  // for…in, not Object.entries(): no array of pairs per response.
  for (const name in upstream) {
    const value = upstream[name];
    const lower = name.toLowerCase();
    if (value === undefined || HOP_BY_HOP_RESPONSE_HEADERS.has(lower) || hopByHop.has(lower)) continue;
    out[lower] = value;
  }
  return out;
}
