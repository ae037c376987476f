import { createHash, createHmac, hash } from 'node:crypto';
import type { S3Endpoint } from '../config';
import { uriEncode } from '../s3/request-target';

export type HeaderMap = Record<string, string>;

export interface UnsignedRequest {
  method: string;
  /** Wire path, already URI-encoded once; it is signed as is. */
  path: string;
  query: readonly [string, string | null][];
  /**
   * Exactly the headers to send, lower-case names. Values are byte strings (one char per byte, as Node's
   * HTTP parser hands them over and as undici writes them): they are signed as those bytes. Must include
   * `x-amz-content-sha256`.
   */
  headers: HeaderMap;
}

/**
 * Headers sent but never signed. Content-Length and Transfer-Encoding are framing the HTTP client owns (it
 * drops a zero Content-Length on a bodiless GET, HEAD or DELETE, and chooses chunked for a body of unknown
 * length), so signing them would sign something that may never arrive. The rest may be changed by any hop,
 * as the AWS SDKs also assume.
 */
export const UNSIGNED_HEADERS: ReadonlySet<string> = new Set([
  'content-length',
  'transfer-encoding',
  'connection',
  'keep-alive',
  'expect',
  'te',
  'trailer',
  'upgrade',
  'user-agent',
  'x-amzn-trace-id',
]);

const ALGORITHM = 'AWS4-HMAC-SHA256';

/** Up to this many names are sorted by insertion (sortNames). */
const INSERTION_SORT_MAX = 24;

/** x-amz-content-sha256 of a request without a body. */
export const EMPTY_PAYLOAD_SHA256 = createHash('sha256').digest('hex');

/** A value with a space or tab to trim at either end, a tab, or a run of spaces. */
const NEEDS_TRIM = /^[ \t]|[ \t]$|\t| {2}/;

/** SigV4 "trimall": trim, and fold runs of spaces and tabs. Only those: other bytes may be part of UTF-8. */
function canonicalValue(value: string): string {
  // Most values have nothing to trim or fold: skip the two replacements (two new strings per header).
  if (!NEEDS_TRIM.test(value)) return value;
  return value.replace(/^[ \t]+|[ \t]+$/g, '').replace(/[ \t]+/g, ' ');
}

/** The last second formatted: every request signed within one second shares it. */
let lastAmzDate = { second: NaN, text: '' };

/** 20130524T000000Z: ISO 8601 basic format, whole seconds, UTC. */
export function amzDate(date: Date): string {
  return amzDateAt(date.getTime());
}

/** amzDate() of a time in milliseconds: a request signed now needs no Date of its own. */
function amzDateAt(ms: number): string {
  const second = Math.floor(ms / 1000);
  if (second !== lastAmzDate.second) {
    const text = new Date(ms)
      .toISOString()
      .replace(/[-:]/g, '')
      .replace(/\.\d{3}/, '');
    lastAmzDate = { second, text };
  }
  return lastAmzDate.text;
}

/** Parameters sorted by encoded name, then encoded value; a value-less one (`?uploads`) signs as `uploads=`. */
export function canonicalQuery(query: readonly [string, string | null][]): string {
  if (query.length === 0) return ''; // most requests: no three empty arrays to map, sort and join
  return query
    .map(([name, value]) => [uriEncode(name, false), uriEncode(value ?? '', false)] as const)
    .sort(([an, av], [bn, bv]) => (an < bn ? -1 : an > bn ? 1 : av < bv ? -1 : av > bv ? 1 : 0))
    .map(([name, value]) => `${name}=${value}`)
    .join('&');
}

/**
 * Sorts header names in place, as Array.prototype.sort would (UTF-16 code units). A request's usual few by
 * insertion, which allocates nothing, where V8's sort copies the array into work arrays of its own (about 2 %
 * of the bytes a small GET allocated, in an allocation profile); many (an app may send up to 2,000 headers,
 * all signed) by V8's sort, as insertion is quadratic.
 */
export function sortNames(names: string[]): void {
  if (names.length > INSERTION_SORT_MAX) {
    names.sort();
    return;
  }
  for (let i = 1; i < names.length; i++) {
    const name = names[i]!;
    let j = i - 1;
    for (; j >= 0 && names[j]! > name; j--) names[j + 1] = names[j]!;
    names[j + 1] = name;
  }
}

/**
 * Signs requests for one endpoint with SigV4 (service s3), with node:crypto over the exact bytes sent.
 * The signing key is derived once per day.
 */
export class RequestSigner {
  readonly hostHeader: string;
  private signingKey: { day: string; secret: string; key: Buffer } | undefined;

  constructor(private readonly endpoint: S3Endpoint) {
    this.hostHeader = endpoint.url.host;
  }

  /**
   * Returns the headers to send: the input plus host, x-amz-date, the session token of temporary
   * credentials (signed) and authorization.
   */
  sign(request: UnsignedRequest, signingDate?: Date): HeaderMap {
    // Read once: a refresh between here and the signature must not mix two key pairs.
    const credentials = this.endpoint.credentials.current();
    const date = amzDateAt(signingDate ? signingDate.getTime() : Date.now());
    const day = date.slice(0, 8);
    // Copied name by name, leaving out what is replaced, rather than spread and pruned: a `delete` turns
    // the object into a slower, larger dictionary (this runs once per request; allocation profile, issue 12).
    const headers: HeaderMap = {};
    for (const name in request.headers) {
      // `date` would be a second, competing timestamp: x-amz-date supersedes it. The token is the
      // credentials' own, added below.
      if (name !== 'date' && name !== 'x-amz-security-token') headers[name] = request.headers[name]!;
    }
    headers.host = this.hostHeader;
    headers['x-amz-date'] = date;
    if (credentials.sessionToken) headers['x-amz-security-token'] = credentials.sessionToken;
    const names: string[] = [];
    for (const name in headers) if (!UNSIGNED_HEADERS.has(name)) names.push(name);
    sortNames(names);
    const signedHeaders = names.join(';');
    let canonicalHeaders = '';
    for (const name of names) canonicalHeaders += name + ':' + canonicalValue(headers[name]!) + '\n';
    const canonicalRequest =
      request.method +
      '\n' +
      request.path +
      '\n' +
      canonicalQuery(request.query) +
      '\n' +
      canonicalHeaders +
      '\n' +
      signedHeaders +
      '\n' +
      (headers['x-amz-content-sha256'] ?? 'UNSIGNED-PAYLOAD');
    const scope = `${day}/${this.endpoint.region}/s3/aws4_request`;
    const stringToSign = [
      ALGORITHM,
      date,
      scope,
      // latin1: one byte per char, so header values are hashed as the bytes that go on the wire.
      hash('sha256', Buffer.from(canonicalRequest, 'latin1')),
    ].join('\n');
    const signature = createHmac('sha256', this.keyFor(day, credentials.secretAccessKey))
      .update(stringToSign)
      .digest('hex');
    headers.authorization =
      `${ALGORITHM} Credential=${credentials.accessKeyId}/${scope}, ` +
      `SignedHeaders=${signedHeaders}, Signature=${signature}`;
    return headers;
  }

  /**
   * Main's credential for a browser-form policy signed at `date`, with the session token of temporary
   * credentials, and `sign`, which signs a policy (its base64 text is the string to sign) with the same keys.
   */
  policyCredential(date: Date = new Date()): {
    credential: string;
    amzDate: string;
    securityToken?: string;
    sign(policyBase64: string): string;
  } {
    const credentials = this.endpoint.credentials.current();
    const amz = amzDate(date);
    const day = amz.slice(0, 8);
    return {
      credential: `${credentials.accessKeyId}/${day}/${this.endpoint.region}/s3/aws4_request`,
      amzDate: amz,
      ...(credentials.sessionToken ? { securityToken: credentials.sessionToken } : {}),
      sign: (policyBase64) =>
        createHmac('sha256', this.keyFor(day, credentials.secretAccessKey))
          .update(policyBase64)
          .digest('hex'),
    };
  }

  /** Derived once per day and key pair (refreshed credentials bring a new secret). */
  private keyFor(day: string, secret: string): Buffer {
    if (this.signingKey?.day !== day || this.signingKey.secret !== secret) {
      const hmac = (key: string | Buffer, data: string): Buffer =>
        createHmac('sha256', key).update(data).digest();
      const dateKey = hmac(`AWS4${secret}`, day);
      const key = hmac(hmac(hmac(dateKey, this.endpoint.region), 's3'), 'aws4_request');
      this.signingKey = { day, secret, key };
    }
    return this.signingKey.key;
  }
}
