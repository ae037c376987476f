/**
 * Creating a missing mirror bucket, over the proxy's own signed client (S3Http), no AWS SDK: a sidecar
 * whose first write meets a new bucket loads nothing it would keep for its lifetime (the SDK held about
 * 10 MB of RSS once loaded: test/bench/notes.md).
 */
import { createHash } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';

import { backoffMs } from '../inventory/backoff';
import { escapeXml } from '../s3/errors';
import { parseVersioningStatus } from '../s3/response-body';
import { consumeRest, errorOf, isSuccess, readText, type S3Http } from './s3-http';

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
  if (!isSuccess(res.statusCode)) throw await errorOf(res);
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

/** Answers by which main says it will not tell its versioning (no permission, no such call): none copied. */
const VERSIONING_NOT_TOLD: ReadonlySet<number> = new Set([403, 405, 501]);

/**
 * Main's versioning status of `bucket`; undefined when never enabled or when main will not say. Any other
 * failure throws: asked before the bucket is made, it fails the copy while the mirror bucket is still
 * missing, so the copy's retry sets the bucket up again, versioning included.
 */
async function versioningOf(main: S3Http, bucket: string): Promise<string | undefined> {
  const res = await main.send({ method: 'GET', bucket, query: [['versioning', null]] });
  if (VERSIONING_NOT_TOLD.has(res.statusCode)) {
    consumeRest(res.body);
    return undefined;
  }
  if (!isSuccess(res.statusCode)) throw await errorOf(res);
  return parseVersioningStatus((await readText(res.body, 64 * 1024)).text);
}

const VERSIONING_ATTEMPTS = 3;

/**
 * PutBucketVersioning on the new bucket, tried a few times: nothing sets it up again once the bucket
 * exists (later copies find the bucket), so the error of the last try says what is left to do by hand.
 */
async function copyVersioning(
  mirror: S3Http,
  mirrorBucket: string,
  status: 'Enabled' | 'Suspended',
): Promise<void> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await putOnBucket(mirror, mirrorBucket, versioningBody(status), [['versioning', null]]);
    } catch (err) {
      if (attempt >= VERSIONING_ATTEMPTS) {
        throw new Error(
          `mirror bucket ${mirrorBucket} was created, but setting its versioning to ${status} (as main's) ` +
            `failed ${VERSIONING_ATTEMPTS} times: set it on the mirror by hand (${(err as Error).message})`,
          { cause: err },
        );
      }
      await sleep(backoffMs(attempt, { baseMs: 200, maxMs: 1_000 }));
    }
  }
}

/** Thrown when the mirror bucket's name is taken by another account: no copy can go there. */
export class MirrorBucketTaken extends Error {
  override name = 'MirrorBucketTaken';
}

/**
 * Creates `mirrorBucket` (main's `bucket` on the mirror) in `region` and copies main's versioning status
 * onto it (read first: see versioningOf). Race-safe: another sidecar's CreateBucket (BucketAlreadyOwnedByYou) is success. AWS answers
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
  const status = await versioningOf(main, bucket);
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
  if (status === 'Enabled' || status === 'Suspended') await copyVersioning(mirror, mirrorBucket, status);
}
