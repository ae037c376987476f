import { s3Errors } from './errors';
import { decodeFormComponent } from './form-encoding';

/** Where an S3 request points, independent of how the app addressed it. */
export interface RequestTarget {
  /** Undefined for service-level calls such as ListBuckets. */
  bucket?: string;
  /** Object key, byte for byte as the app meant it. Undefined for bucket-level calls. */
  key?: string;
  /** Query parameters in order, decoded; a value of null means the parameter had no `=` (e.g. `?uploads`). */
  query: [string, string | null][];
  addressing: 'path' | 'virtual-hosted';
}

export interface ParseTargetInput {
  /** The raw request-target from the request line: origin-form or absolute-form. */
  rawUrl: string;
  host: string | undefined;
  /** Base hosts under which `bucket.<base>` means virtual-hosted style. */
  virtualHostBases: readonly string[];
}

/** SigV4 presigned-URL parameters the app's SDK added; the proxy signs anew. */
const PRESIGN_PARAMS = new Set([
  'x-amz-algorithm',
  'x-amz-credential',
  'x-amz-date',
  'x-amz-expires',
  'x-amz-signedheaders',
  'x-amz-signature',
  'x-amz-security-token',
]);

const BUCKET_NAME = /^[a-z0-9][a-z0-9.\-_]{1,254}$/i;

/** `decode(text)`, with a malformed escape answered as S3 does (InvalidURI). */
function orInvalidUri(decode: (text: string) => string, text: string): string {
  try {
    return decode(text);
  } catch {
    throw s3Errors.invalidUri();
  }
}

const decodePercent = (text: string): string => orInvalidUri(decodeURIComponent, text);
const decodeQueryComponent = (text: string): string => orInvalidUri(decodeFormComponent, text);

function hostWithoutPort(host: string): string {
  const lower = host.trim().toLowerCase();
  if (lower.startsWith('[')) return lower.slice(0, lower.indexOf(']') + 1);
  const colon = lower.lastIndexOf(':');
  return colon === -1 ? lower : lower.slice(0, colon);
}

/** Returns the bucket when `host` is `<bucket>.<base>` for one of the bases. */
export function bucketFromHost(host: string | undefined, bases: readonly string[]): string | undefined {
  if (!host) return undefined;
  const name = hostWithoutPort(host);
  for (const base of bases) {
    if (name.length > base.length + 1 && name.endsWith('.' + base)) return name.slice(0, -(base.length + 1));
  }
  return undefined;
}

/**
 * SigV2 presigned-URL parameters. `Expires` only means that next to the other two: alone it is not S3's
 * (and S3 refuses a request that carries two kinds of authentication, so none may reach main).
 */
const SIGV2_PRESIGN_PARAMS = new Set(['AWSAccessKeyId', 'Signature', 'Expires']);

function parseQuery(raw: string): [string, string | null][] {
  const params: [string, string | null][] = [];
  if (raw === '') return params;
  for (const part of raw.split('&')) {
    if (part === '') continue;
    const eq = part.indexOf('=');
    const name = decodeQueryComponent(eq === -1 ? part : part.slice(0, eq));
    if (PRESIGN_PARAMS.has(name.toLowerCase())) continue;
    params.push([name, eq === -1 ? null : decodeQueryComponent(part.slice(eq + 1))]);
  }
  const sigV2 = params.some(([name]) => name === 'AWSAccessKeyId' || name === 'Signature');
  return sigV2 ? params.filter(([name]) => !SIGV2_PRESIGN_PARAMS.has(name)) : params;
}

function stripAbsoluteForm(rawUrl: string): string {
  // An absolute-form request line names a host; the proxy ignores it and only ever talks to main.
  const match = /^[a-z][a-z0-9+.-]*:\/\/[^/?#]*/i.exec(rawUrl);
  const rest = match ? rawUrl.slice(match[0].length) : rawUrl;
  return rest === '' || rest.startsWith('?') ? '/' + rest : rest;
}

// A lone UTF-16 surrogate has no UTF-8 form: it could never be encoded for main (encodeURIComponent throws).
const LONE_SURROGATE = /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/;

/** Extracts bucket, key and query from a request as apps send it, path-style or virtual-hosted-style. */
export function parseRequestTarget(input: ParseTargetInput): RequestTarget {
  if (LONE_SURROGATE.test(input.rawUrl)) throw s3Errors.invalidUri();
  const target = stripAbsoluteForm(input.rawUrl);
  if (!target.startsWith('/')) throw s3Errors.invalidUri();
  const hashless = target.split('#', 1)[0]!;
  const q = hashless.indexOf('?');
  const rawPath = q === -1 ? hashless : hashless.slice(0, q);
  const query = parseQuery(q === -1 ? '' : hashless.slice(q + 1));
  if (/[\r\n\0]/.test(rawPath)) throw s3Errors.invalidUri();

  const hostBucket = bucketFromHost(input.host, input.virtualHostBases);
  let bucket: string | undefined;
  let key: string | undefined;
  let addressing: RequestTarget['addressing'];
  if (hostBucket !== undefined) {
    addressing = 'virtual-hosted';
    bucket = hostBucket;
    const decoded = decodePercent(rawPath.slice(1));
    key = decoded === '' ? undefined : decoded;
  } else {
    addressing = 'path';
    const slash = rawPath.indexOf('/', 1);
    const rawBucket = slash === -1 ? rawPath.slice(1) : rawPath.slice(1, slash);
    bucket = rawBucket === '' ? undefined : decodePercent(rawBucket);
    const decodedKey = slash === -1 ? '' : decodePercent(rawPath.slice(slash + 1));
    key = decodedKey === '' ? undefined : decodedKey;
  }
  if (bucket !== undefined && !BUCKET_NAME.test(bucket)) throw s3Errors.invalidBucketName();
  if (key !== undefined) {
    if (Buffer.byteLength(key) > 1024)
      throw s3Errors.invalidArgument('Object keys are limited to 1024 bytes.');
  }
  return { bucket, key, query, addressing };
}

/** SigV4 URI encoding: everything but unreserved characters, once. */
export function uriEncode(text: string, keepSlash: boolean): string {
  const encoded = encodeURIComponent(text).replace(
    /[!'()*]/g,
    (c) => '%' + c.charCodeAt(0).toString(16).toUpperCase(),
  );
  return keepSlash ? encoded.replace(/%2F/g, '/') : encoded;
}

/** The path sent to main: always path-style, encoded exactly once, so the wire path is the canonical path. */
export function upstreamPath(target: RequestTarget): string {
  if (target.bucket === undefined) return '/';
  const bucketPath = '/' + uriEncode(target.bucket, false);
  return target.key === undefined ? bucketPath : bucketPath + '/' + uriEncode(target.key, true);
}

/** The query string sent to main, encoded the same way the signer encodes it. */
export function upstreamQuery(query: readonly [string, string | null][]): string {
  if (query.length === 0) return '';
  return (
    '?' +
    query
      .map(([name, value]) => uriEncode(name, false) + (value === null ? '' : '=' + uriEncode(value, false)))
      .join('&')
  );
}

/**
 * The source bucket named by `x-amz-copy-source` (`[/]bucket/key[?versionId=…]`, URL-encoded), or
 * undefined when the value names none the proxy can read (an access-point ARN, garbage).
 */
export function copySourceBucket(header: string | string[] | undefined): string | undefined {
  const value = Array.isArray(header) ? header.join(',') : header;
  if (value === undefined) return undefined;
  const path = value.trim().replace(/^\//, '').split('?', 1)[0]!;
  const slash = path.indexOf('/');
  if (slash <= 0) return undefined;
  let bucket: string;
  try {
    bucket = decodeURIComponent(path.slice(0, slash));
  } catch {
    return undefined;
  }
  return BUCKET_NAME.test(bucket) ? bucket : undefined;
}
