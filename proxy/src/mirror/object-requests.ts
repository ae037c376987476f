/**
 * Reads of objects over the proxy's own signed client (S3Http), no AWS SDK: HeadObject and one page of
 * ListObjectsV2. The copier heads main's object; the anti-entropy scan lists and heads both sides.
 */
import { objectHeadOf, type ObjectHead } from './object-headers';
import { consumeRest, errorOf, readText, type S3Http } from './s3-http';
import { parseObjectListing, type ObjectListing } from '../s3/response-body';

const ok = (status: number): boolean => status >= 200 && status < 300;

/** The object's headers; undefined when the endpoint answers 404 (no such key, or no such bucket). */
export async function headObject(
  s3: S3Http,
  bucket: string,
  key: string,
  signal?: AbortSignal,
): Promise<ObjectHead | undefined> {
  const res = await s3.send({ method: 'HEAD', bucket, key, ...(signal ? { signal } : {}) });
  if (res.statusCode !== 404 && !ok(res.statusCode)) throw await errorOf(res);
  consumeRest(res.body);
  return res.statusCode === 404 ? undefined : objectHeadOf(res.headers);
}

/**
 * A listing page of 1,000 keys of up to 1,024 bytes each, URL-encoded (up to three bytes a byte) with
 * their sizes, ETags and dates, stays under 4 MiB.
 */
const LISTING_MAX_BYTES = 8 * 1024 * 1024;

export class ListingTooLarge extends Error {}

/**
 * One ListObjectsV2 page of `bucket`: keys after `startAfter`, at most `maxKeys` of them. Keys are asked
 * URL-encoded, since XML 1.0 cannot carry every byte a key may hold. An error answer throws its S3 error
 * (NoSuchBucket is named so).
 */
export async function listObjects(
  s3: S3Http,
  bucket: string,
  page: { startAfter?: string; maxKeys: number },
): Promise<ObjectListing> {
  const query: [string, string][] = [
    ['list-type', '2'],
    ['encoding-type', 'url'],
    ['max-keys', String(page.maxKeys)],
  ];
  if (page.startAfter !== undefined) query.push(['start-after', page.startAfter]);
  const res = await s3.send({ method: 'GET', bucket, query });
  if (!ok(res.statusCode)) throw await errorOf(res);
  const { text, complete } = await readText(res.body, LISTING_MAX_BYTES);
  if (!complete) throw new ListingTooLarge(`a listing page of ${bucket} is over ${LISTING_MAX_BYTES} bytes`);
  return parseObjectListing(text);
}
