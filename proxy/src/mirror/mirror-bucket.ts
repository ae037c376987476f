/**
 * Creating a missing mirror bucket, over the proxy's own signed client (S3Http), no AWS SDK: a sidecar
 * whose first write meets a new bucket loads nothing it would keep for its lifetime (the SDK costs about
 * 30 MB of memory once loaded).
 */
import { createHash } from 'node:crypto';

import { escapeXml } from '../s3/errors';
import { parseVersioningStatus } from '../s3/response-body';
import { consumeRest, errorOf, readText, type S3Http } from './s3-http';

const S3_XMLNS = 'http://s3.amazonaws.com/doc/2006-03-01/';

/** CreateBucket's body for `region`; none in us-east-1, where AWS refuses the constraint spelled out. Pure. */
export function createBucketBody(region: string): string | undefined {
  if (region === 'us-east-1') return undefined;
  return (
    `<CreateBucketConfiguration xmlns="${S3_XMLNS}">` +
    `<LocationConstraint>${escapeXml(region)}</LocationConstraint></CreateBucketConfiguration>`
  );
}

/** PutBucketVersioning's body. Pure. */
export function versioningBody(status: 'Enabled' | 'Suspended'): string {
  return `<VersioningConfiguration xmlns="${S3_XMLNS}"><Status>${status}</Status></VersioningConfiguration>`;
}

/** A PUT on the bucket itself (CreateBucket, or `?versioning`); the S3 error of a refusal is thrown. */
async function putOnBucket(
  s3: S3Http,
  bucket: string,
  body: string | undefined,
  query?: [string, null][],
): Promise<void> {
  const bytes = body === undefined ? undefined : Buffer.from(body, 'utf8');
  const res = await s3.send({
    method: 'PUT',
    bucket,
    ...(query ? { query } : {}),
    headers: {
      'content-length': String(bytes?.length ?? 0),
      // PutBucketVersioning requires it; harmless elsewhere.
      ...(bytes ? { 'content-md5': createHash('md5').update(bytes).digest('base64') } : {}),
    },
    ...(bytes ? { body: bytes } : {}),
  });
  if (res.statusCode < 200 || res.statusCode >= 300) throw await errorOf(res);
  consumeRest(res.body);
}

/**
 * CreateBucket in `region`. RGW refuses a LocationConstraint other than its zonegroup's name
 * (InvalidLocationConstraint) where AWS needs one outside us-east-1: asked again without one, the gateway
 * puts the bucket in its own zonegroup.
 */
async function createBucket(mirror: S3Http, bucket: string, region: string): Promise<void> {
  const body = createBucketBody(region);
  try {
    await putOnBucket(mirror, bucket, body);
  } catch (err) {
    if ((err as { name?: string }).name !== 'InvalidLocationConstraint' || body === undefined) throw err;
    await putOnBucket(mirror, bucket, undefined);
  }
}

/** Main's versioning status of `bucket`; undefined when never enabled or when main will not say. */
async function versioningOf(main: S3Http, bucket: string): Promise<string | undefined> {
  const res = await main.send({ method: 'GET', bucket, query: [['versioning', null]] });
  if (res.statusCode < 200 || res.statusCode >= 300) throw await errorOf(res);
  return parseVersioningStatus((await readText(res.body, 64 * 1024)).text);
}

/** Thrown when the mirror bucket's name is taken by another account: no copy can go there. */
export class MirrorBucketTaken extends Error {
  override name = 'MirrorBucketTaken';
}

/**
 * Creates `mirrorBucket` (main's `bucket` on the mirror) in `region` and copies main's versioning status
 * onto it. Race-safe: another sidecar's CreateBucket (BucketAlreadyOwnedByYou) is success. AWS answers
 * BucketAlreadyExists when another account owns the name (on AWS, possibly main's own bucket when the
 * mirror bucket has main's name): an error, never a bucket to write into.
 */
export async function ensureMirrorBucket(
  main: S3Http,
  mirror: S3Http,
  bucket: string,
  mirrorBucket: string,
  region: string,
): Promise<void> {
  try {
    await createBucket(mirror, mirrorBucket, region);
  } catch (err) {
    const name = (err as { name?: string }).name;
    if (name === 'BucketAlreadyExists') {
      throw new MirrorBucketTaken(
        `mirror bucket ${mirrorBucket} (of main bucket ${bucket}) belongs to another account ` +
          '(BucketAlreadyExists): name another with MIRROR_BUCKET_TEMPLATE',
        { cause: err },
      );
    }
    if (name !== 'BucketAlreadyOwnedByYou') throw err;
  }
  const status = await versioningOf(main, bucket).catch(() => undefined);
  if (status === 'Enabled' || status === 'Suspended') {
    await putOnBucket(mirror, mirrorBucket, versioningBody(status), [['versioning', null]]);
  }
}
