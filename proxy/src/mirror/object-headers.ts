/**
 * What a copy reads from main's HeadObject or GetObject answer, and the headers of the mirror's PutObject
 * made from it. Pure. Header values stay byte strings (one char per byte, as undici reads and writes them),
 * so non-ASCII metadata reaches the mirror as the same bytes.
 */
import type { Tag } from '../s3/response-body';

export type ResponseHeaders = Record<string, string | string[] | undefined>;

/** The object headers a copy carries over; with every `x-amz-meta-*` header. */
const COPIED_HEADERS: readonly string[] = [
  'content-type',
  'content-encoding',
  'cache-control',
  'content-disposition',
  'content-language',
  'expires',
];

const META_PREFIX = 'x-amz-meta-';

/** What the AWS SDK sends for a body without a content type; S3 answers every HEAD with one anyway. */
const DEFAULT_CONTENT_TYPE = 'application/octet-stream';

/** The object as main described it. */
export interface ObjectHead {
  /** Content-Length; undefined when main did not say (a chunked GET). */
  size: number | undefined;
  etag: string | undefined;
  contentType: string | undefined;
  lastModified: Date | undefined;
  versionId: string | undefined;
  /** x-amz-tagging-count: AWS S3 and Ceph RGW send it only when the object has tags. */
  tagCount: number;
  /** The headers the mirror's copy gets, lower-case names: see COPIED_HEADERS. */
  copied: Record<string, string>;
}

/** One value of a header; a repeated one joined as S3 and SigV4 join them. */
export function headerValue(headers: ResponseHeaders, name: string): string | undefined {
  const value = headers[name];
  return Array.isArray(value) ? value.join(',') : value;
}

function nonNegativeInteger(text: string | undefined): number | undefined {
  if (text === undefined || !/^\s*\d+\s*$/.test(text)) return undefined;
  const n = Number(text);
  return Number.isSafeInteger(n) ? n : undefined;
}

function httpDate(text: string | undefined): Date | undefined {
  if (text === undefined) return undefined;
  const date = new Date(text);
  return Number.isNaN(date.getTime()) ? undefined : date;
}

/** Reads a HEAD or GET answer of main (lower-case header names, as undici gives them). */
export function objectHeadOf(headers: ResponseHeaders): ObjectHead {
  const copied: Record<string, string> = {};
  for (const name of Object.keys(headers)) {
    if (!COPIED_HEADERS.includes(name) && !name.startsWith(META_PREFIX)) continue;
    const value = headerValue(headers, name);
    if (value !== undefined) copied[name] = value;
  }
  return {
    size: nonNegativeInteger(headerValue(headers, 'content-length')),
    etag: headerValue(headers, 'etag'),
    contentType: headerValue(headers, 'content-type'),
    lastModified: httpDate(headerValue(headers, 'last-modified')),
    versionId: headerValue(headers, 'x-amz-version-id'),
    tagCount: nonNegativeInteger(headerValue(headers, 'x-amz-tagging-count')) ?? 0,
    copied,
  };
}

/** The tag set as PutObject's `x-amz-tagging` header (a URL query); undefined for none. */
export function taggingHeader(tags: readonly Tag[]): string | undefined {
  if (tags.length === 0) return undefined;
  return tags.map((t) => `${encodeURIComponent(t.Key)}=${encodeURIComponent(t.Value)}`).join('&');
}

/** S3 wants Content-MD5 in base64; the spool and ETags give it in hex. */
export function contentMd5(hexMd5: string): string {
  return Buffer.from(hexMd5, 'hex').toString('base64');
}

/**
 * The headers of the mirror's PutObject of `head`'s object (content-length and signing come on top): main's
 * object headers and user metadata as main sent them, the tag set, and Content-MD5 when the bytes' MD5 is
 * known, so that the mirror refuses bytes that changed on the way.
 */
export function putObjectHeaders(
  head: Pick<ObjectHead, 'copied'>,
  tags: readonly Tag[],
  md5?: string,
): Record<string, string> {
  const headers: Record<string, string> = { 'content-type': DEFAULT_CONTENT_TYPE, ...head.copied };
  const tagging = taggingHeader(tags);
  if (tagging !== undefined) headers['x-amz-tagging'] = tagging;
  if (md5 !== undefined) headers['content-md5'] = contentMd5(md5);
  return headers;
}

/** The same headers as the SDK's PutObject and lib-storage Upload parameters (multipart copies over 5 GiB). */
export interface SdkObjectParams {
  ContentType?: string;
  ContentEncoding?: string;
  CacheControl?: string;
  ContentDisposition?: string;
  ContentLanguage?: string;
  Expires?: Date;
  Metadata?: Record<string, string>;
}

export function sdkObjectParams(head: Pick<ObjectHead, 'copied'>): SdkObjectParams {
  const h = head.copied;
  const metadata: Record<string, string> = {};
  for (const [name, value] of Object.entries(h)) {
    if (name.startsWith(META_PREFIX)) metadata[name.slice(META_PREFIX.length)] = value;
  }
  const expires = httpDate(h.expires);
  return {
    ...(h['content-type'] !== undefined ? { ContentType: h['content-type'] } : {}),
    ...(h['content-encoding'] !== undefined ? { ContentEncoding: h['content-encoding'] } : {}),
    ...(h['cache-control'] !== undefined ? { CacheControl: h['cache-control'] } : {}),
    ...(h['content-disposition'] !== undefined ? { ContentDisposition: h['content-disposition'] } : {}),
    ...(h['content-language'] !== undefined ? { ContentLanguage: h['content-language'] } : {}),
    ...(expires !== undefined ? { Expires: expires } : {}),
    ...(Object.keys(metadata).length > 0 ? { Metadata: metadata } : {}),
  };
}
