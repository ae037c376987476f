/**
 * Reads of objects over the proxy's own signed client (S3Http), no AWS SDK: HeadObject and one page of
 * ListObjectsV2. The copier heads main's object; the anti-entropy scan lists and heads both sides.
 */
import { isListing, parseObjectListing, type ObjectListing } from '../s3/response-body';
import { objectHeadOf, type ObjectHead } from './object-headers';
import { consumeRest, errorOf, isSuccess, readText, type S3Http } from './s3-http';

/** The object's headers; undefined when the endpoint answers 404 (no such key, or no such bucket). */
export async function headObject(
  s3: S3Http,
  bucket: string,
  key: string,
  signal?: AbortSignal,
): Promise<ObjectHead | undefined> {
  const res = await s3.send({ method: 'HEAD', bucket, key, ...(signal ? { signal } : {}) });
  if (res.statusCode !== 404 && !isSuccess(res.statusCode)) throw await errorOf(res);
  consumeRest(res.body);
  return res.statusCode === 404 ? undefined : objectHeadOf(res.headers);
}

/**
 * A page of 1,000 keys of up to 1,024 bytes is about 1.3 MB as S3 sends it URL-encoded; a backend that ignores
 * `encoding-type` writes an `&` as `&amp;` (5 bytes): up to about 5.5 MB. Beyond that, not a listing page.
 */
const LISTING_MAX_BYTES = 8 * 1024 * 1024;

/** A 2xx answer that cannot be read as a listing page (too large, not a listing, a key that will not decode). */
export class UnreadableListing extends Error {
  override name = 'UnreadableListing';
}

/**
 * One ListObjectsV2 page of `bucket`: keys after `startAfter`, at most `maxKeys` of them. Keys are asked
 * URL-encoded, since XML 1.0 cannot carry every byte a key may hold. An error answer throws its S3 error
 * (NoSuchBucket is named so); a 2xx answer that is no listing throws UnreadableListing, never an empty page.
 */
export async function listObjects(
  s3: S3Http,
  bucket: string,
  page: { startAfter: string | undefined; maxKeys: number },
): Promise<ObjectListing> {
  const query: [string, string][] = [
    ['list-type', '2'],
    ['encoding-type', 'url'],
    ['max-keys', String(page.maxKeys)],
  ];
  if (page.startAfter !== undefined) query.push(['start-after', page.startAfter]);
  const res = await s3.send({ method: 'GET', bucket, query });
  if (!isSuccess(res.statusCode)) throw await errorOf(res);
  const { text, complete } = await readText(res.body, LISTING_MAX_BYTES);
  const where = `the listing of ${bucket} after ${page.startAfter === undefined ? 'the start' : JSON.stringify(page.startAfter)}`;
  if (!complete) throw new UnreadableListing(`${where} is over ${LISTING_MAX_BYTES} bytes`);
  if (!isListing(text))
    throw new UnreadableListing(`${where} is not a ListBucketResult: ${text.slice(0, 100)}`);
  try {
    return parseObjectListing(text);
  } catch (err) {
    throw new UnreadableListing(`${where} holds a key that does not decode (${(err as Error).message})`);
  }
}
