/** Small XML reads of response bodies the proxy needs for tracking. Pure. */
import { decodeFormComponent } from './form-encoding';

const ENTITIES: Record<string, string> = { amp: '&', lt: '<', gt: '>', quot: '"', apos: "'" };

export function unescapeXml(text: string): string {
  return text.replace(/&(#x[0-9a-f]+|#\d+|amp|lt|gt|quot|apos);/gi, (_m, ent: string) => {
    if (ent[0] === '#') {
      const code = ent[1] === 'x' || ent[1] === 'X' ? parseInt(ent.slice(2), 16) : parseInt(ent.slice(1), 10);
      return String.fromCodePoint(code);
    }
    return ENTITIES[ent.toLowerCase()] ?? '';
  });
}

/**
 * S3 answers some calls (Copy, CompleteMultipartUpload) with 200 and an error document: one whose ROOT element
 * is <Error>. A DeleteObjects result may hold per-key <Error> entries next to <Deleted> ones: not an error
 * document, and its deleted keys still count.
 */
export function isErrorDocument(body: string): boolean {
  return /^\s*(?:<\?xml[^>]*\?>\s*)?<Error[\s>]/.test(body);
}

export interface DeletedEntry {
  key: string;
  versionId?: string;
}

/** The raw content of every `<name>` element in `xml` (S3's documents nest none in itself). */
function elements(xml: string, name: string): string[] {
  return [...xml.matchAll(new RegExp(`<${name}>([\\s\\S]*?)</${name}>`, 'g'))].map((m) => m[1]!);
}

/** The raw content of the first `<name>` element in `xml`. */
function element(xml: string, name: string): string | undefined {
  return new RegExp(`<${name}>([\\s\\S]*?)</${name}>`).exec(xml)?.[1];
}

/** Keys that a DeleteObjects response reports as deleted. */
export function parseDeletedKeys(body: string): DeletedEntry[] {
  const entries: DeletedEntry[] = [];
  for (const inner of elements(body, 'Deleted')) {
    const key = element(inner, 'Key');
    if (key === undefined) continue;
    const versionId = element(inner, 'VersionId');
    entries.push({ key: unescapeXml(key), ...(versionId ? { versionId: unescapeXml(versionId) } : {}) });
  }
  return entries;
}

/** What an S3 error document says: `<Error><Code>…</Code><Message>…</Message>…</Error>`. */
export interface ErrorDocument {
  code?: string;
  message?: string;
}

/** The code and message of an error document; empty when the body is none (a HEAD, a proxy's HTML page). */
export function parseErrorDocument(body: string): ErrorDocument {
  if (!isErrorDocument(body)) return {};
  const code = element(body, 'Code');
  const message = element(body, 'Message');
  return {
    ...(code !== undefined ? { code: unescapeXml(code).trim() } : {}),
    ...(message !== undefined ? { message: unescapeXml(message) } : {}),
  };
}

export interface Tag {
  Key: string;
  Value: string;
}

/** The tag set of a GetObjectTagging answer (`<Tagging><TagSet><Tag><Key>…</Key><Value>…</Value></Tag>…`). */
export function parseTagSet(body: string): Tag[] {
  const tags: Tag[] = [];
  for (const inner of elements(body, 'Tag')) {
    const key = element(inner, 'Key');
    if (key === undefined) continue;
    tags.push({ Key: unescapeXml(key), Value: unescapeXml(element(inner, 'Value') ?? '') });
  }
  return tags;
}

/** One key of a ListObjectsV2 answer. */
export interface ListedObject {
  key: string;
  size: number;
  etag: string;
  lastModified: Date | undefined;
}

export interface ObjectListing {
  objects: ListedObject[];
  isTruncated: boolean;
}

/** Whether `body` is a ListObjectsV2 answer (its root element), not an error document or some other page. */
export function isListing(body: string): boolean {
  return /^\s*(?:<\?xml[^>]*\?>\s*)?<ListBucketResult[\s/>]/.test(body);
}

/**
 * A ListObjectsV2 answer (`<ListBucketResult><Contents><Key>…`). Keys are URL-decoded when the answer says
 * `<EncodingType>url</EncodingType>` (a backend that ignores the parameter sends them as they are).
 */
export function parseObjectListing(body: string): ObjectListing {
  const urlEncoded = element(body, 'EncodingType')?.trim() === 'url';
  const objects: ListedObject[] = [];
  for (const inner of elements(body, 'Contents')) {
    const key = element(inner, 'Key');
    if (key === undefined) continue;
    const text = unescapeXml(key);
    const size = Number(element(inner, 'Size') ?? 0);
    const modified = element(inner, 'LastModified');
    const date = modified === undefined ? undefined : new Date(modified.trim());
    objects.push({
      // AWS writes a space as `+` (RGW as `%20`), both a `+` as `%2B`; a bad escape throws (URIError).
      key: urlEncoded ? decodeFormComponent(text) : text,
      size: Number.isFinite(size) ? size : 0,
      etag: unescapeXml(element(inner, 'ETag') ?? ''),
      lastModified: date && !Number.isNaN(date.getTime()) ? date : undefined,
    });
  }
  return { objects, isTruncated: element(body, 'IsTruncated')?.trim() === 'true' };
}

/** The status of a GetBucketVersioning answer: `Enabled`, `Suspended`, or undefined (never enabled). */
export function parseVersioningStatus(body: string): string | undefined {
  return element(body, 'Status')?.trim() || undefined;
}
