import type { PutObjectCommandInput, S3Client } from '@aws-sdk/client-s3';
import { Readable, Transform } from 'node:stream';

import { discard } from '../http/response-writing';
import { countBodyBytes } from '../memory/body-bytes';
import { S3ResponseError } from '../s3/errors';
import { md5OfEtag, sameEtag } from '../s3/etag';
import { parseTagSet, type Tag } from '../s3/response-body';
import type { SpooledBody, SpoolOutcome } from '../spool';
import type { CopyPacing } from './app-priority';
import type { MirrorBucketName } from './bucket-name';
import { ensureMirrorBucket } from './mirror-bucket';
import {
  headerValue,
  objectHeadOf,
  putObjectHeaders,
  contentMd5 as contentMd5OfHex,
  sdkObjectParams,
  type ObjectHead,
} from './object-headers';
import { headObject } from './object-requests';
import { errorText, isBadDigest, isNoSuchBucket } from './s3';
import { s3Sdk, s3Storage } from './s3-sdk';
import { consumeRest, errorOf, isSuccess, readText, type S3Http } from './s3-http';
import type { Slots } from './slots';
import { bodyMatches, verifiedBody } from './verified-body';

/** What main held for the key when it was mirrored. */
export type MirrorResult = (
  | {
      exists: false;
      /** Main no longer holds the key and the mirror was left as it was (CopierOptions.keepMissing). */
      kept?: boolean;
    }
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
  /**
   * When main no longer holds the key, leave the mirror's copy alone instead of deleting it (the delete
   * policy keeps it, or its delay has not run out): the result is `{ exists: false, kept: true }`.
   */
  keepMissing?: boolean;
  /** Present for a catch-up copy: its body gives way to the app's requests (app-priority.ts). */
  pacing?: CopyPacing;
  /** Called with the milliseconds a paced body waited (metrics). */
  onPaced?: (ms: number) => void;
}

// Only for objects over 5 GiB (see upload()): the smallest part S3 accepts, one at a time, so a copy holds
// about two parts and the sidecar stays small.
export const DEFAULT_COPIER_OPTIONS: CopierOptions = { partSizeBytes: 5 * 1024 * 1024, queueSize: 1 };

/**
 * The copier reaches both endpoints with signed requests over undici (HEAD, GET, PutObject, DeleteObject,
 * GetObjectTagging, creating a missing mirror bucket); the mirror also through the AWS SDK, for what is
 * rare: multipart uploads over 5 GiB (the SDK is loaded at its first use).
 */
export interface CopyClients {
  main: { http: S3Http };
  mirror: { http: S3Http; sdk: S3Client };
  /** Main bucket → its mirror bucket (MIRROR_BUCKET_TEMPLATE): every request to the mirror goes there. */
  mirrorBucket: MirrorBucketName;
  /** Where a missing mirror bucket is created (MIRROR_S3_REGION). */
  mirrorRegion: string;
}

class MissingMirrorBucket extends Error {}

/**
 * Makes the mirror's copy of `key` equal to what main holds now (level-triggered): main has it → stream its
 * bytes to the mirror with the same headers, user metadata and tags (one PutObject, or a multipart Upload
 * over 5 GiB); main says 404 → delete on the mirror (unless `opts.keepMissing`: the delete policy decides,
 * delete-policy.ts). Memory per copy stays bounded.
 *
 * The bytes come from `spooled` (the upload kept on local disk) only when main still holds that very write:
 * a HEAD must show the spooled write's ETag and size, and the headers are HEAD's. Otherwise, or when the
 * local bytes do not check, they are read from main with GetObject, as without a spool.
 *
 * Missing mirror bucket: created on the mirror, with main's versioning status, then the copy starts over,
 * once: a mirror still answering NoSuchBucket after that fails the copy (the caller retries it later).
 */
export async function mirrorKey(
  clients: CopyClients,
  bucket: string,
  key: string,
  opts: CopierOptions = DEFAULT_COPIER_OPTIONS,
  spooled?: SpooledBody,
): Promise<MirrorResult> {
  try {
    return await mirrorKeyOnce(clients, bucket, key, opts, spooled);
  } catch (err) {
    if (!(err instanceof MissingMirrorBucket)) throw err;
  }
  // The body may be partly consumed: create the bucket and start over from a fresh read.
  const target = clients.mirrorBucket(bucket);
  await ensureMirrorBucket(clients.main.http, clients.mirror.http, bucket, target, clients.mirrorRegion);
  try {
    return await mirrorKeyOnce(clients, bucket, key, opts, spooled);
  } catch (err) {
    if (!(err instanceof MissingMirrorBucket)) throw err;
    // Without this bound, a mirror that keeps answering so (an eventually consistent one, a misrouted
    // endpoint) would loop here forever.
    const message = `mirror bucket ${target} still answers NoSuchBucket after CreateBucket (${err.message})`;
    throw new Error(message, { cause: err });
  }
}

/** One attempt of mirrorKey; MissingMirrorBucket when the mirror has no such bucket. */
async function mirrorKeyOnce(
  clients: CopyClients,
  bucket: string,
  key: string,
  opts: CopierOptions,
  spooled: SpooledBody | undefined,
): Promise<MirrorResult> {
  if (!spooled) return copyFromMain(clients, bucket, key, opts);
  const head = await headObject(clients.main.http, bucket, key, opts.signal);
  if (!head) return { ...(await missingOnMain(clients, bucket, key, opts)), spool: 'changed' };
  if (!sameEtag(head.etag, spooled.etag) || head.size !== spooled.size) {
    return { ...(await copyFromMain(clients, bucket, key, opts)), spool: 'changed' };
  }
  if (spooled.bytes) return copyFromMemory(clients, bucket, key, head, spooled, spooled.bytes, opts);
  // A single PutObject carries the MD5 as Content-MD5, and the mirror refuses bytes that do not match it
  // (BadDigest): hashing the file here as well cost 1.4 s of CPU per GiB. Parts carry no such check.
  const mirrorChecksMd5 = spooled.md5 !== undefined && goesInOnePut(spooled.size);
  const body = verifiedBody(spooled.open(), mirrorChecksMd5 ? undefined : spooled.md5, spooled.size);
  try {
    const mirrorEtag = await upload(clients, bucket, key, head, body.stream, opts, spooled.md5);
    return { ...resultOf(head, mirrorEtag, 'spool'), spool: 'used' };
  } catch (err) {
    if (err instanceof MissingMirrorBucket) throw err;
    if (!body.failure() && !(mirrorChecksMd5 && isBadDigest(err))) throw err;
    // The bytes did not check (locally, or by the mirror's Content-MD5) or could not be read: main has them.
    return { ...(await copyFromMain(clients, bucket, key, opts)), spool: 'corrupt' };
  } finally {
    body.stream.destroy();
  }
}

/**
 * A spooled body held in memory (a small upload): checked at once (bodyMatches, where verifiedBody checks a
 * file while it streams), and sent as one buffer, without the three streams a file needs (test/bench/copy-floor.ts: the
 * copy function 0.34 -> 0.18 ms of CPU at c=16).
 */
async function copyFromMemory(
  clients: CopyClients,
  bucket: string,
  key: string,
  head: ObjectHead,
  spooled: SpooledBody,
  bytes: Buffer,
  opts: CopierOptions,
): Promise<MirrorResult> {
  if (!bodyMatches(bytes, spooled.md5, spooled.size))
    return { ...(await copyFromMain(clients, bucket, key, opts)), spool: 'corrupt' };
  const mirrorEtag = await upload(clients, bucket, key, head, bytes, opts, spooled.md5);
  return { ...resultOf(head, mirrorEtag, 'spool'), spool: 'used' };
}

async function copyFromMain(
  clients: CopyClients,
  bucket: string,
  key: string,
  opts: CopierOptions,
): Promise<MirrorResult> {
  const res = await clients.main.http.send({ method: 'GET', bucket, key, signal: opts.signal });
  if (res.statusCode === 404) {
    consumeRest(res.body);
    return missingOnMain(clients, bucket, key, opts);
  }
  if (!isSuccess(res.statusCode)) throw await errorOf(res);
  const head = objectHeadOf(res.headers);
  try {
    return resultOf(head, await upload(clients, bucket, key, head, res.body, opts), 'main');
  } finally {
    // Unread (an empty object, a failed upload): the GET is cut off; read to its end: nothing happens.
    discard(res.body);
  }
}

/** Main does not hold the key: delete it on the mirror, or keep the mirror's copy when told to. */
async function missingOnMain(
  clients: CopyClients,
  bucket: string,
  key: string,
  opts: CopierOptions,
): Promise<MirrorResult> {
  if (opts.keepMissing) return { exists: false, kept: true };
  await deleteOnMirror(clients.mirror.http, clients.mirrorBucket(bucket), key, opts.signal);
  return { exists: false };
}

function resultOf(head: ObjectHead, mirrorEtag: string | undefined, source: 'spool' | 'main'): MirrorResult {
  return {
    exists: true,
    size: head.size ?? 0,
    etag: head.etag,
    mirrorEtag,
    contentType: head.contentType,
    lastModified: head.lastModified,
    versionId: head.versionId,
    source,
  };
}

/** S3's limit for one PutObject; larger objects must go up in parts. */
export const SINGLE_PUT_MAX_BYTES = 5 * 1024 ** 3;

/** Whether upload() sends a body of `size` bytes as one PutObject (else in parts, through lib-storage). */
function goesInOnePut(size: number | undefined): size is number {
  return size !== undefined && size <= SINGLE_PUT_MAX_BYTES;
}

/** The tag set a GetObjectTagging answer may hold (10 tags of at most 128 + 256 characters, escaped). */
const TAGGING_MAX_BYTES = 256 * 1024;

/**
 * Main's tag set of the key. GetObject and HeadObject report how many tags an object has
 * (x-amz-tagging-count, sent by AWS S3 and Ceph RGW only when there are some): without tags, no request.
 * A backend without tagging (NotImplemented) has none; any other error fails the copy.
 */
async function tagsOf(
  main: S3Http,
  bucket: string,
  key: string,
  tagCount: number,
  signal: AbortSignal | undefined,
): Promise<Tag[]> {
  if (!tagCount) return [];
  const res = await main.send({ method: 'GET', bucket, key, query: [['tagging', null]], signal });
  if (isSuccess(res.statusCode)) {
    const { text, complete } = await readText(res.body, TAGGING_MAX_BYTES);
    if (!complete) throw new Error(`the tag set of ${key} is larger than ${TAGGING_MAX_BYTES} bytes`);
    return parseTagSet(text);
  }
  const err = await errorOf(res);
  if (err.code === 'NotImplemented') return [];
  throw err;
}

/**
 * Uploads `body` with main's headers and tags; the mirror's ETag of the result. A body of known length up
 * to 5 GiB streams through one PutObject: no part buffers (memory stays at socket buffers), and a
 * single-part object keeps its MD5 ETag on the mirror. Larger or unknown-length bodies go through
 * lib-storage's multipart Upload, which holds about partSize × (queueSize + 1).
 */
async function upload(
  clients: CopyClients,
  bucket: string,
  key: string,
  head: ObjectHead,
  body: Readable | Buffer | undefined,
  opts: CopierOptions,
  md5?: string,
): Promise<string | undefined> {
  opts.signal?.throwIfAborted();
  const tags = await tagsOf(clients.main.http, bucket, key, head.tagCount, opts.signal);
  const target = clients.mirrorBucket(bucket);
  try {
    const size = head.size;
    if (goesInOnePut(size)) {
      const headers = putObjectHeaders(head, tags, md5);
      return await putInOne(clients.mirror.http, target, key, headers, body, size, opts);
    }
    const params = { Bucket: target, Key: key, ...sdkObjectParams(head) };
    const parted = (): Promise<string | undefined> =>
      putInParts(
        clients.mirror.sdk,
        params,
        tags,
        Buffer.isBuffer(body) ? Readable.from([body]) : body,
        opts,
      );
    return await (opts.partedCopies ? opts.partedCopies.run(parted) : parted());
  } catch (err) {
    if (isNoSuchBucket(err) || (await mirrorBucketMissing(clients.mirror.http, target, opts.signal))) {
      throw new MissingMirrorBucket(errorText(err));
    }
    throw err;
  }
}

/**
 * Whether a failed upload met a missing mirror bucket after all. A mirror without the bucket answers a
 * PutObject at once, while the body is still being sent, and may close the connection then: the error
 * document (or the whole answer) can be lost on the way, leaving a bare 404 or a reset connection. (The
 * SDK avoided that race with Expect: 100-continue, which undici does not send.) One HeadBucket, on failure
 * only, tells.
 */
async function mirrorBucketMissing(
  mirror: S3Http,
  bucket: string,
  signal: AbortSignal | undefined,
): Promise<boolean> {
  if (signal?.aborted) return false;
  try {
    const res = await mirror.send({ method: 'HEAD', bucket, signal });
    consumeRest(res.body);
    return res.statusCode === 404;
  } catch {
    return false; // the mirror is unreachable: the upload's own error says so
  }
}

/** One PutObject streamed to the mirror. */
async function putInOne(
  mirror: S3Http,
  bucket: string,
  key: string,
  headers: Record<string, string>,
  body: Readable | Buffer | undefined,
  size: number,
  opts: CopierOptions,
): Promise<string | undefined> {
  // A buffer is sent as it is and counted once sent; a stream is counted as it goes.
  const inMemory = Buffer.isBuffer(body) && size > 0 ? body : undefined;
  const counted = body instanceof Readable && size > 0 ? countedBody(body, opts) : undefined;
  const sent = inMemory ?? counted;
  try {
    const res = await mirror.send({
      method: 'PUT',
      bucket,
      key,
      headers: { ...headers, 'content-length': String(size) },
      ...(sent ? { body: sent } : {}),
      ...(opts.signal ? { signal: opts.signal } : {}),
    });
    if (!isSuccess(res.statusCode)) throw await errorOf(res);
    consumeRest(res.body);
    if (inMemory) opts.onBytes?.(inMemory.length);
    const etag = headerValue(res.headers, 'etag');
    refuseOtherBytes(headers['content-md5'], etag, headerValue(res.headers, 'x-amz-server-side-encryption'));
    return etag;
  } finally {
    counted?.destroy();
  }
}

/**
 * A mirror that ignores Content-MD5 would keep bytes other than the ones meant: when its ETag is an MD5 that
 * differs, the upload fails as a mirror that checks would have failed it (BadDigest), and the copy reads main
 * and overwrites it.
 */
function refuseOtherBytes(
  contentMd5: string | undefined,
  etag: string | undefined,
  sse: string | undefined,
): void {
  if (contentMd5 === undefined) return;
  const stored = md5OfEtag(etag, sse);
  if (stored === undefined || contentMd5OfHex(stored) === contentMd5) return;
  throw new S3ResponseError(
    200,
    'BadDigest',
    `the mirror stored bytes with MD5 ${stored}, not those of the Content-MD5 sent (it does not check Content-MD5)`,
  );
}

const PROGRESS_STEP_BYTES = 1024 * 1024;

/**
 * `body` passed through, reporting bytes as they go (so the copy's progress shows on /metrics). A source
 * that fails (main drops the connection, a spooled file does not check) fails this stream with its error,
 * and undici then cuts the request before its last byte and rejects with that error: the mirror never
 * stores a short object. By hand rather than stream.pipeline(), whose AbortController and the error it
 * creates at every finish cost about 25 µs per copy. A paced copy holds each chunk while it must give way
 * to the app; the source then pauses behind it.
 */
function countedBody(body: Readable, opts: Pick<CopierOptions, 'onBytes' | 'pacing' | 'onPaced'>): Readable {
  const { onBytes, pacing, onPaced } = opts;
  let unreported = 0;
  let streamed = 0;
  let held: NodeJS.Timeout | undefined;
  const report = (): void => {
    if (unreported > 0) onBytes?.(unreported);
    unreported = 0;
  };
  const counter = new Transform({
    transform(chunk: Buffer, _enc, done) {
      unreported += chunk.length;
      countBodyBytes(chunk.length);
      if (unreported >= PROGRESS_STEP_BYTES) report();
      const wait = pacing?.waitMs(streamed, chunk.length) ?? 0;
      streamed += chunk.length;
      if (wait <= 0) return done(null, chunk);
      onPaced?.(wait);
      held = setTimeout(() => {
        held = undefined;
        done(null, chunk);
      }, wait);
    },
    flush(done) {
      report();
      done();
    },
    // A copy cut short (stop, abort, a failed upload) lets go of the chunk it held at once.
    destroy(err, done) {
      clearTimeout(held);
      done(err);
    },
  });
  body.on('error', (err) => counter.destroy(err));
  // The upload over (done, refused, aborted): the source goes too (it has ended unless the upload failed).
  counter.once('close', () => body.destroy());
  body.pipe(counter);
  return counter;
}

async function putInParts(
  mirror: S3Client,
  params: Omit<PutObjectCommandInput, 'Body' | 'ContentLength'>,
  tags: Tag[],
  body: Readable | undefined,
  opts: CopierOptions,
): Promise<string | undefined> {
  const up = new (s3Storage().Upload)({
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
  const head = await mirror.send(new (s3Sdk().HeadObjectCommand)({ Bucket: params.Bucket, Key: params.Key }));
  return head.ETag;
}

/** Deletes the key on the mirror; a 404 (no such key, or no such bucket) is the same outcome. */
async function deleteOnMirror(
  mirror: S3Http,
  bucket: string,
  key: string,
  signal: AbortSignal | undefined,
): Promise<void> {
  const res = await mirror.send({ method: 'DELETE', bucket, key, signal });
  if (!isSuccess(res.statusCode) && res.statusCode !== 404) throw await errorOf(res);
  consumeRest(res.body);
}
