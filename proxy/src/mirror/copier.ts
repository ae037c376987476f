import {
  CreateBucketCommand,
  DeleteObjectCommand,
  GetBucketVersioningCommand,
  GetObjectCommand,
  GetObjectTaggingCommand,
  HeadObjectCommand,
  PutBucketVersioningCommand,
  type GetObjectCommandOutput,
  type HeadObjectCommandOutput,
  type S3Client,
} from '@aws-sdk/client-s3';
import { Upload } from '@aws-sdk/lib-storage';
import type { Readable } from 'node:stream';

import { sameEtag } from '../s3/etag';
import type { SpooledBody, SpoolOutcome } from '../spool';
import { errorText, isNoSuchBucket, isNotFound } from './s3';
import { verifiedBody } from './verified-body';

/** What main held for the key when it was mirrored. */
export type MirrorResult = (
  | { exists: false }
  | {
      exists: true;
      size: number;
      etag: string | undefined;
      mirrorEtag: string | undefined;
      contentType: string | undefined;
      lastModified: Date | undefined;
      versionId: string | undefined;
      /** Where the bytes were read: the upload spool, or main (absent when nothing was copied). */
      source?: 'spool' | 'main';
    }
) & {
  /** Given a spooled body: whether it was used, or why not. */
  spool?: SpoolOutcome;
};

export interface CopierOptions {
  partSizeBytes: number;
  queueSize: number;
  /** Called with bytes as they are uploaded (metrics). */
  onBytes?: (n: number) => void;
}

// The smallest part S3 accepts, one at a time: a copy holds about two parts, and the sidecar must stay small
// (1 GiB mirrored next to a 1 GiB GET: peak RSS 149 MB with these, 166 MB with 8 MiB x 2).
export const DEFAULT_COPIER_OPTIONS: CopierOptions = { partSizeBytes: 5 * 1024 * 1024, queueSize: 1 };

/** The object headers a copy carries over (GetObject and HeadObject answer the same ones). */
type ObjectHeaders = Pick<
  HeadObjectCommandOutput,
  | 'ContentType'
  | 'ContentEncoding'
  | 'CacheControl'
  | 'ContentDisposition'
  | 'ContentLanguage'
  | 'Expires'
  | 'Metadata'
  | 'ContentLength'
  | 'ETag'
  | 'LastModified'
  | 'VersionId'
>;

class MissingMirrorBucket extends Error {}

/**
 * Makes the mirror's copy of `key` equal to what main holds now (level-triggered): main has it → stream its
 * bytes into a (multipart when large) Upload with the same headers, user metadata and tags; main says 404 →
 * delete on the mirror. Memory stays at about partSize × (queueSize + 1) per copy.
 *
 * The bytes come from `spooled` (the upload kept on local disk) only when main still holds that very write:
 * a HEAD must show the spooled write's ETag and size, and the headers are HEAD's. Otherwise, or when the
 * local bytes do not check, they are read from main with GetObject, as without a spool.
 *
 * Missing mirror bucket: created on the mirror, with main's versioning status, then the copy starts over.
 */
export async function mirrorKey(
  main: S3Client,
  mirror: S3Client,
  bucket: string,
  key: string,
  opts: CopierOptions = DEFAULT_COPIER_OPTIONS,
  spooled?: SpooledBody,
): Promise<MirrorResult> {
  try {
    if (!spooled) return await copyFromMain(main, mirror, bucket, key, opts);
    const head = await headOnMain(main, bucket, key);
    if (!head) {
      await deleteOnMirror(mirror, bucket, key);
      return { exists: false, spool: 'changed' };
    }
    if (!sameEtag(head.ETag, spooled.etag) || head.ContentLength !== spooled.size) {
      return { ...(await copyFromMain(main, mirror, bucket, key, opts)), spool: 'changed' };
    }
    const body = verifiedBody(spooled.open(), spooled.md5, spooled.size);
    try {
      const mirrorEtag = await upload(main, mirror, bucket, key, head, body.stream, opts);
      return { ...resultOf(head, mirrorEtag, 'spool'), spool: 'used' };
    } catch (err) {
      if (err instanceof MissingMirrorBucket || !body.failure()) throw err;
      // The local copy is damaged or unreadable: main has the bytes.
      return { ...(await copyFromMain(main, mirror, bucket, key, opts)), spool: 'corrupt' };
    } finally {
      body.stream.destroy();
    }
  } catch (err) {
    if (!(err instanceof MissingMirrorBucket)) throw err;
    // The body may be partly consumed: create the bucket and start over from a fresh read.
    await ensureMirrorBucket(main, mirror, bucket);
    return mirrorKey(main, mirror, bucket, key, opts, spooled);
  }
}

async function headOnMain(main: S3Client, bucket: string, key: string): Promise<ObjectHeaders | undefined> {
  try {
    return await main.send(new HeadObjectCommand({ Bucket: bucket, Key: key }));
  } catch (err) {
    if (!isNotFound(err) && !isNoSuchBucket(err)) throw err;
    return undefined;
  }
}

async function copyFromMain(
  main: S3Client,
  mirror: S3Client,
  bucket: string,
  key: string,
  opts: CopierOptions,
): Promise<MirrorResult> {
  let obj: GetObjectCommandOutput;
  try {
    obj = await main.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
  } catch (err) {
    if (!isNotFound(err) && !isNoSuchBucket(err)) throw err;
    await deleteOnMirror(mirror, bucket, key);
    return { exists: false };
  }
  const body = obj.Body as Readable | undefined;
  try {
    return resultOf(obj, await upload(main, mirror, bucket, key, obj, body, opts), 'main');
  } finally {
    body?.destroy();
  }
}

function resultOf(
  obj: ObjectHeaders,
  mirrorEtag: string | undefined,
  source: 'spool' | 'main',
): MirrorResult {
  return {
    exists: true,
    size: obj.ContentLength ?? 0,
    etag: obj.ETag,
    mirrorEtag,
    contentType: obj.ContentType,
    lastModified: obj.LastModified,
    versionId: obj.VersionId,
    source,
  };
}

/** Uploads `body` with main's headers and tags; the mirror's ETag of the result. */
async function upload(
  main: S3Client,
  mirror: S3Client,
  bucket: string,
  key: string,
  obj: ObjectHeaders,
  body: Readable | undefined,
  opts: CopierOptions,
): Promise<string | undefined> {
  const tagging = await main
    .send(new GetObjectTaggingCommand({ Bucket: bucket, Key: key }))
    .catch(() => ({ TagSet: [] }));
  const tags = (tagging.TagSet ?? []).map((t) => ({ Key: t.Key ?? '', Value: t.Value ?? '' }));
  const up = new Upload({
    client: mirror,
    partSize: opts.partSizeBytes,
    queueSize: opts.queueSize,
    leavePartsOnError: false,
    tags,
    params: {
      Bucket: bucket,
      Key: key,
      Body: body ?? Buffer.alloc(0),
      ContentType: obj.ContentType,
      ContentEncoding: obj.ContentEncoding,
      CacheControl: obj.CacheControl,
      ContentDisposition: obj.ContentDisposition,
      ContentLanguage: obj.ContentLanguage,
      Expires: obj.Expires,
      Metadata: obj.Metadata,
    },
  });
  let last = 0;
  up.on('httpUploadProgress', (p) => {
    if (p.loaded !== undefined && opts.onBytes) {
      opts.onBytes(p.loaded - last);
      last = p.loaded;
    }
  });
  let done: unknown;
  try {
    done = await up.done();
  } catch (err) {
    if (isNoSuchBucket(err)) throw new MissingMirrorBucket(errorText(err));
    throw err;
  }
  const etag = (done as { ETag?: string }).ETag;
  if (etag) return etag;
  // Ceph RGW 16 answers CompleteMultipartUpload with an empty ETag: read it back (this worker holds
  // the row's lease, so no other copy of this key runs now).
  const head = await mirror.send(new HeadObjectCommand({ Bucket: bucket, Key: key }));
  return head.ETag;
}

export async function deleteOnMirror(mirror: S3Client, bucket: string, key: string): Promise<void> {
  try {
    await mirror.send(new DeleteObjectCommand({ Bucket: bucket, Key: key }));
  } catch (err) {
    if (isNoSuchBucket(err) || isNotFound(err)) return;
    throw err;
  }
}

/** Creates the mirror bucket and copies main's versioning status onto it. Race-safe. */
export async function ensureMirrorBucket(main: S3Client, mirror: S3Client, bucket: string): Promise<void> {
  try {
    await mirror.send(new CreateBucketCommand({ Bucket: bucket }));
  } catch (err) {
    const name = (err as { name?: string }).name;
    if (name !== 'BucketAlreadyOwnedByYou' && name !== 'BucketAlreadyExists') throw err;
  }
  const v = await main.send(new GetBucketVersioningCommand({ Bucket: bucket })).catch(() => undefined);
  if (v?.Status === 'Enabled' || v?.Status === 'Suspended') {
    await mirror.send(
      new PutBucketVersioningCommand({ Bucket: bucket, VersioningConfiguration: { Status: v.Status } }),
    );
  }
}
