import {
  CreateBucketCommand,
  DeleteObjectCommand,
  GetBucketVersioningCommand,
  GetObjectCommand,
  GetObjectTaggingCommand,
  HeadObjectCommand,
  PutBucketVersioningCommand,
  PutObjectCommand,
  type PutObjectCommandInput,
  type GetObjectCommandOutput,
  type HeadObjectCommandOutput,
  type S3Client,
} from '@aws-sdk/client-s3';
import { Upload } from '@aws-sdk/lib-storage';
import { pipeline, type Readable, Transform } from 'node:stream';

import { sameEtag } from '../s3/etag';
import type { SpooledBody, SpoolOutcome } from '../spool';
import { errorText, isNoSuchBucket, isNotFound } from './s3';
import type { Slots } from './slots';
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
  /** Bounds the multipart copies running at once, each holding about two parts in memory. */
  partedCopies?: Slots;
  /** Aborts the transfer (reading main and writing the mirror) when the proxy stops. */
  signal?: AbortSignal;
}

// Only for objects over 5 GiB (see upload()): the smallest part S3 accepts, one at a time, so a copy holds
// about two parts and the sidecar stays small.
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
  | 'TagCount'
>;

class MissingMirrorBucket extends Error {}

/**
 * Makes the mirror's copy of `key` equal to what main holds now (level-triggered): main has it → stream its
 * bytes to the mirror with the same headers, user metadata and tags (one PutObject, or a multipart Upload
 * over 5 GiB); main says 404 → delete on the mirror. Memory per copy stays bounded.
 *
 * The bytes come from `spooled` (the upload kept on local disk) only when main still holds that very write:
 * a HEAD must show the spooled write's ETag and size, and the headers are HEAD's. Otherwise, or when the
 * local bytes do not check, they are read from main with GetObject, as without a spool.
 *
 * Missing mirror bucket: created on the mirror, with main's versioning status, then the copy starts over,
 * once: a mirror still answering NoSuchBucket after that fails the copy (the caller retries it later).
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
    return await mirrorKeyOnce(main, mirror, bucket, key, opts, spooled);
  } catch (err) {
    if (!(err instanceof MissingMirrorBucket)) throw err;
  }
  // The body may be partly consumed: create the bucket and start over from a fresh read.
  await ensureMirrorBucket(main, mirror, bucket);
  try {
    return await mirrorKeyOnce(main, mirror, bucket, key, opts, spooled);
  } catch (err) {
    if (!(err instanceof MissingMirrorBucket)) throw err;
    // Without this bound, a mirror that keeps answering so (an eventually consistent one, a misrouted
    // endpoint) would loop here forever.
    const message = `mirror bucket ${bucket} still answers NoSuchBucket after CreateBucket (${err.message})`;
    throw new Error(message, { cause: err });
  }
}

/** One attempt of mirrorKey; MissingMirrorBucket when the mirror has no such bucket. */
async function mirrorKeyOnce(
  main: S3Client,
  mirror: S3Client,
  bucket: string,
  key: string,
  opts: CopierOptions,
  spooled: SpooledBody | undefined,
): Promise<MirrorResult> {
  if (!spooled) return copyFromMain(main, mirror, bucket, key, opts);
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
    obj = await main.send(new GetObjectCommand({ Bucket: bucket, Key: key }), { abortSignal: opts.signal });
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

/** S3's limit for one PutObject; larger objects must go up in parts. */
export const SINGLE_PUT_MAX_BYTES = 5 * 1024 ** 3;

/**
 * Main's tag set of the key. GetObject and HeadObject report how many tags an object has
 * (x-amz-tagging-count, sent by AWS S3 and Ceph RGW only when there are some): without tags, no request.
 * A backend without tagging (NotImplemented) has none; any other error fails the copy.
 */
async function tagsOf(
  main: S3Client,
  bucket: string,
  key: string,
  tagCount: number | undefined,
): Promise<{ Key: string; Value: string }[]> {
  if (!tagCount) return [];
  try {
    const tagging = await main.send(new GetObjectTaggingCommand({ Bucket: bucket, Key: key }));
    return (tagging.TagSet ?? []).map((t) => ({ Key: t.Key ?? '', Value: t.Value ?? '' }));
  } catch (err) {
    if ((err as { name?: string }).name === 'NotImplemented') return [];
    throw err;
  }
}

/**
 * Uploads `body` with main's headers and tags; the mirror's ETag of the result. A body of known length up
 * to 5 GiB streams through one PutObject: no part buffers (memory stays at socket buffers), and a
 * single-part object keeps its MD5 ETag on the mirror. Larger or unknown-length bodies go through
 * lib-storage's multipart Upload, which holds about partSize × (queueSize + 1).
 */
async function upload(
  main: S3Client,
  mirror: S3Client,
  bucket: string,
  key: string,
  obj: ObjectHeaders,
  body: Readable | undefined,
  opts: CopierOptions,
): Promise<string | undefined> {
  opts.signal?.throwIfAborted();
  const tags = await tagsOf(main, bucket, key, obj.TagCount);
  const params = {
    Bucket: bucket,
    Key: key,
    ContentType: obj.ContentType,
    ContentEncoding: obj.ContentEncoding,
    CacheControl: obj.CacheControl,
    ContentDisposition: obj.ContentDisposition,
    ContentLanguage: obj.ContentLanguage,
    Expires: obj.Expires,
    Metadata: obj.Metadata,
  };
  try {
    const size = obj.ContentLength;
    if (size !== undefined && size <= SINGLE_PUT_MAX_BYTES) {
      return await putInOne(mirror, { ...params, Tagging: tagQuery(tags) }, body, size, opts);
    }
    const parted = (): Promise<string | undefined> => putInParts(mirror, params, tags, body, opts);
    return await (opts.partedCopies ? opts.partedCopies.run(parted) : parted());
  } catch (err) {
    if (isNoSuchBucket(err)) throw new MissingMirrorBucket(errorText(err));
    throw err;
  }
}

function tagQuery(tags: { Key: string; Value: string }[]): string | undefined {
  if (tags.length === 0) return undefined;
  return tags.map((t) => `${encodeURIComponent(t.Key)}=${encodeURIComponent(t.Value)}`).join('&');
}

type UploadParams = Omit<PutObjectCommandInput, 'Body' | 'ContentLength'>;

async function putInOne(
  mirror: S3Client,
  params: UploadParams,
  body: Readable | undefined,
  size: number,
  opts: CopierOptions,
): Promise<string | undefined> {
  // The SDK pipes the body without watching its errors: a source that fails (main drops the connection, a
  // spooled file does not check) must abort the request, so the mirror never stores a short object.
  const abort = new AbortController();
  const counted = body && size > 0 ? countedBody(body, opts.onBytes, (err) => abort.abort(err)) : undefined;
  const signal = opts.signal ? AbortSignal.any([abort.signal, opts.signal]) : abort.signal;
  try {
    const put = await mirror.send(
      new PutObjectCommand({ ...params, Body: counted ?? Buffer.alloc(0), ContentLength: size }),
      { abortSignal: signal },
    );
    return put.ETag;
  } catch (err) {
    throw abort.signal.aborted ? (abort.signal.reason as Error) : err;
  } finally {
    counted?.destroy();
  }
}

const PROGRESS_STEP_BYTES = 1024 * 1024;

/** `body` passed through, reporting bytes as they go (so the copy's progress shows on /metrics). */
function countedBody(
  body: Readable,
  onBytes: ((n: number) => void) | undefined,
  onError: (err: Error) => void,
): Readable {
  let unreported = 0;
  const report = (): void => {
    if (unreported > 0) onBytes?.(unreported);
    unreported = 0;
  };
  const counter = new Transform({
    transform(chunk: Buffer, _enc, done) {
      unreported += chunk.length;
      if (unreported >= PROGRESS_STEP_BYTES) report();
      done(null, chunk);
    },
    flush(done) {
      report();
      done();
    },
  });
  pipeline(body, counter, (err) => {
    if (err) onError(err);
  });
  return counter;
}

async function putInParts(
  mirror: S3Client,
  params: UploadParams,
  tags: { Key: string; Value: string }[],
  body: Readable | undefined,
  opts: CopierOptions,
): Promise<string | undefined> {
  const up = new Upload({
    client: mirror,
    partSize: opts.partSizeBytes,
    queueSize: opts.queueSize,
    leavePartsOnError: false,
    tags,
    params: { ...params, Body: body ?? Buffer.alloc(0) },
  });
  const stop = (): void => void up.abort().catch(() => undefined);
  opts.signal?.addEventListener('abort', stop, { once: true });
  let last = 0;
  up.on('httpUploadProgress', (p) => {
    if (p.loaded !== undefined && opts.onBytes) {
      opts.onBytes(p.loaded - last);
      last = p.loaded;
    }
  });
  let done: { ETag?: string };
  try {
    done = (await up.done()) as { ETag?: string };
  } finally {
    opts.signal?.removeEventListener('abort', stop);
  }
  if (done.ETag) return done.ETag;
  // Ceph RGW 16 answers CompleteMultipartUpload with an empty ETag: read it back (this worker holds
  // the row's lease, so no other copy of this key runs now).
  const head = await mirror.send(new HeadObjectCommand({ Bucket: params.Bucket, Key: params.Key }));
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
