/**
 * Client-matrix driver for `@aws-sdk/client-s3` (v3), as an app would configure it. `--variant default` (or
 * none) keeps the SDK's checksum defaults (CRC32 on every upload, aws-chunked trailers for streams, checksum
 * mode on reads); `--variant when-required` turns both to WHEN_REQUIRED, as many apps do for non-AWS S3.
 */
import { Readable } from 'node:stream';
import {
  AbortMultipartUploadCommand,
  CopyObjectCommand,
  CreateBucketCommand,
  DeleteBucketCommand,
  DeleteObjectCommand,
  DeleteObjectsCommand,
  GetObjectCommand,
  GetObjectTaggingCommand,
  HeadObjectCommand,
  ListMultipartUploadsCommand,
  ListObjectsCommand,
  ListObjectsV2Command,
  ListObjectVersionsCommand,
  PutBucketVersioningCommand,
  PutObjectCommand,
  PutObjectTaggingCommand,
  S3Client,
  paginateListObjectsV2,
  type GetObjectCommandInput,
  type S3ClientConfig,
} from '@aws-sdk/client-s3';
import { Upload } from '@aws-sdk/lib-storage';

import {
  DOT_SEGMENT_KEYS,
  NON_ASCII_DISPOSITION,
  Recorder,
  SPECIAL_KEYS,
  defined,
  exceptionOutcome,
  fileLikeStream,
  parseDriverArgs,
  patternBody,
  readAll,
  sha256,
  smallBody,
  type Json,
  type Outcome,
} from './common';

const MiB = 1024 * 1024;
const VARIANTS: Record<string, { client: string; config: Partial<S3ClientConfig> }> = {
  default: { client: 'js-sdk-v3', config: {} },
  'when-required': {
    client: 'js-sdk-v3-when-required',
    config: { requestChecksumCalculation: 'WHEN_REQUIRED', responseChecksumValidation: 'WHEN_REQUIRED' },
  },
};

interface SdkError {
  name?: string;
  Code?: string;
  $metadata?: { httpStatusCode?: number };
}

function sdkErrorOutcome(err: unknown): Outcome | undefined {
  const e = err as SdkError;
  const status = e?.$metadata?.httpStatusCode;
  if (typeof status !== 'number') return undefined;
  return { status, code: e.name ?? e.Code ?? null };
}

/** One step inside a composite op: its outcome, or its error as an outcome (so later steps still run). */
async function step(fn: () => Promise<Outcome>): Promise<Outcome> {
  try {
    return await fn();
  } catch (err) {
    return sdkErrorOutcome(err) ?? exceptionOutcome(err);
  }
}

interface ObjectFields {
  $metadata: { httpStatusCode?: number };
  ETag?: string;
  ContentLength?: number;
  ContentRange?: string;
  ContentType?: string;
  LastModified?: Date;
  VersionId?: string;
  ChecksumCRC32?: string;
  ChecksumCRC32C?: string;
  ChecksumCRC64NVME?: string;
  ChecksumSHA1?: string;
  ChecksumSHA256?: string;
  ChecksumType?: string;
}

/** The comparable fields of a put/get/head answer (the SDK's view of the response headers). */
function objectOutcome(r: ObjectFields): Outcome {
  return defined({
    status: r.$metadata.httpStatusCode,
    etag: r.ETag,
    'content-length': r.ContentLength,
    'content-range': r.ContentRange,
    'content-type': r.ContentType,
    'has-last-modified': r.LastModified !== undefined,
    'version-id': r.VersionId === undefined ? undefined : r.VersionId === 'null' ? 'null' : '<id>',
    'checksum-crc32': r.ChecksumCRC32,
    'checksum-crc32c': r.ChecksumCRC32C,
    'checksum-crc64nvme': r.ChecksumCRC64NVME,
    'checksum-sha1': r.ChecksumSHA1,
    'checksum-sha256': r.ChecksumSHA256,
    'checksum-type': r.ChecksumType,
  });
}

async function main(): Promise<void> {
  const args = parseDriverArgs();
  const variant = VARIANTS[args.variant ?? 'default'];
  if (!variant) throw new Error(`unknown --variant ${args.variant}`);
  const s3 = new S3Client({
    endpoint: args.endpoint,
    region: args.region,
    credentials: { accessKeyId: args.accessKey, secretAccessKey: args.secretKey },
    forcePathStyle: true,
    ...variant.config,
  });
  const B = args.bucket;
  const LB = args.listBucket;
  const rec = new Recorder(variant.client, sdkErrorOutcome);
  const status = (r: { $metadata: { httpStatusCode?: number } }): Json => r.$metadata.httpStatusCode ?? null;

  const getBody = async (
    Key: string,
    extra: Omit<GetObjectCommandInput, 'Bucket' | 'Key'> = {},
  ): Promise<Outcome> => {
    const r = await s3.send(new GetObjectCommand({ Bucket: B, Key, ...extra }));
    const body = await readAll(r.Body as Readable);
    return { ...objectOutcome(r), sha256: sha256(body) };
  };

  await rec.op('create-bucket', async () => ({
    status: status(await s3.send(new CreateBucketCommand({ Bucket: B }))),
  }));
  await rec.op('put-small', async () =>
    objectOutcome(
      await s3.send(
        new PutObjectCommand({ Bucket: B, Key: 'small.txt', Body: smallBody(), ContentType: 'text/plain' }),
      ),
    ),
  );
  await rec.op('put-empty', async () =>
    objectOutcome(await s3.send(new PutObjectCommand({ Bucket: B, Key: 'empty', Body: Buffer.alloc(0) }))),
  );
  await rec.op('put-multipart', async () => {
    // A stream, as apps upload files: three 5 MiB parts and a 1 MiB tail.
    const data = patternBody(16 * MiB);
    const upload = new Upload({
      client: s3,
      params: {
        Bucket: B,
        Key: 'multipart.bin',
        Body: fileLikeStream(data),
      },
      partSize: 5 * MiB,
      queueSize: 2,
    });
    const done = await upload.done();
    const head = await s3.send(new HeadObjectCommand({ Bucket: B, Key: 'multipart.bin' }));
    const got = await getBody('multipart.bin');
    return {
      complete: objectOutcome(done as ObjectFields),
      head: objectOutcome(head),
      'body-matches': got.sha256 === sha256(data),
    };
  });
  await rec.op('get', () => getBody('small.txt'));
  await rec.op('head', async () =>
    objectOutcome(await s3.send(new HeadObjectCommand({ Bucket: B, Key: 'small.txt' }))),
  );
  await rec.op('head-missing', async () =>
    objectOutcome(await s3.send(new HeadObjectCommand({ Bucket: B, Key: 'missing-key' }))),
  );
  await rec.op('get-missing', () => getBody('missing-key'));
  await rec.op('get-range', () => getBody('small.txt', { Range: 'bytes=5-104' }));

  await rec.op('list-v1', async () => {
    const r = await s3.send(new ListObjectsCommand({ Bucket: LB, Prefix: 'dirs/', Delimiter: '/' }));
    return {
      status: status(r),
      keys: (r.Contents ?? []).map((o) => o.Key ?? '').sort(),
      prefixes: (r.CommonPrefixes ?? []).map((p) => p.Prefix ?? '').sort(),
      'is-truncated': r.IsTruncated ?? null,
    };
  });
  await rec.op('list-v2', async () => {
    const r = await s3.send(new ListObjectsV2Command({ Bucket: LB, Prefix: 'dirs/', Delimiter: '/' }));
    return {
      status: status(r),
      keys: (r.Contents ?? []).map((o) => o.Key ?? '').sort(),
      prefixes: (r.CommonPrefixes ?? []).map((p) => p.Prefix ?? '').sort(),
      'key-count': r.KeyCount ?? null,
      'is-truncated': r.IsTruncated ?? null,
    };
  });
  await rec.op('list-paginate', async () => {
    const keys: string[] = [];
    const statuses = new Set<Json>();
    let pages = 0;
    for await (const page of paginateListObjectsV2({ client: s3 }, { Bucket: LB, Prefix: 'many/' })) {
      pages++;
      statuses.add(status(page));
      for (const o of page.Contents ?? []) keys.push(o.Key ?? '');
    }
    return {
      status: statuses.size === 1 ? [...statuses][0]! : [...statuses],
      'key-count': keys.length,
      pages,
      first: keys[0] ?? null,
      last: keys[keys.length - 1] ?? null,
    };
  });

  await rec.op('copy-special-keys', async () => {
    const out: Outcome = {};
    for (const key of SPECIAL_KEYS) {
      const src = `special/${key}`;
      const dst = `copied/${key}`;
      out[key] = {
        put: await step(async () =>
          objectOutcome(await s3.send(new PutObjectCommand({ Bucket: B, Key: src, Body: smallBody(key) }))),
        ),
        copy: await step(async () => {
          // CopySource is `bucket/key`, URL-encoded, as the SDK documents.
          const r = await s3.send(
            new CopyObjectCommand({ Bucket: B, Key: dst, CopySource: `${B}/${encodeURIComponent(src)}` }),
          );
          return defined({ status: status(r), etag: r.CopyObjectResult?.ETag });
        }),
        head: await step(async () =>
          objectOutcome(await s3.send(new HeadObjectCommand({ Bucket: B, Key: dst }))),
        ),
      };
    }
    return out;
  });
  await rec.op('get-special-keys', async () => {
    const out: Outcome = {};
    for (const key of SPECIAL_KEYS) out[key] = await step(() => getBody(`special/${key}`));
    return out;
  });

  await rec.op('delete', async () => {
    await s3.send(new PutObjectCommand({ Bucket: B, Key: 'to-delete.txt', Body: smallBody('delete') }));
    const r = await s3.send(new DeleteObjectCommand({ Bucket: B, Key: 'to-delete.txt' }));
    return { status: status(r) };
  });
  await rec.op('multi-delete', async () => {
    const keys = ['md/1', 'md/2', 'md/3'];
    for (const Key of keys) await s3.send(new PutObjectCommand({ Bucket: B, Key, Body: smallBody(Key) }));
    const r = await s3.send(
      new DeleteObjectsCommand({ Bucket: B, Delete: { Objects: keys.map((Key) => ({ Key })) } }),
    );
    return {
      status: status(r),
      deleted: (r.Deleted ?? []).map((d) => d.Key ?? '').sort(),
      errors: (r.Errors ?? []).map((e) => `${e.Key}: ${e.Code}`).sort(),
    };
  });
  await rec.op('multi-delete-over-1000', async () => {
    const Objects = Array.from({ length: 1001 }, (_, i) => ({
      Key: `md-many/${String(i).padStart(5, '0')}`,
    }));
    const r = await s3.send(new DeleteObjectsCommand({ Bucket: B, Delete: { Objects } }));
    return { status: status(r), deleted: r.Deleted?.length ?? 0, errors: r.Errors?.length ?? 0 };
  });

  await rec.op('get-if-none-match', async () => {
    const head = await s3.send(new HeadObjectCommand({ Bucket: B, Key: 'small.txt' }));
    return getBody('small.txt', { IfNoneMatch: head.ETag });
  });
  await rec.op('get-if-modified-since', async () => {
    // Now is after the upload (HTTP dates have one-second resolution) and never in the future.
    return getBody('small.txt', { IfModifiedSince: new Date() });
  });
  await rec.op('tagging', async () => {
    const put = await s3.send(
      new PutObjectTaggingCommand({
        Bucket: B,
        Key: 'small.txt',
        Tagging: {
          TagSet: [
            { Key: 'colour', Value: 'blue' },
            { Key: 'team', Value: 'matrix' },
          ],
        },
      }),
    );
    const got = await s3.send(new GetObjectTaggingCommand({ Bucket: B, Key: 'small.txt' }));
    return {
      put: { status: status(put) },
      get: { status: status(got), tags: (got.TagSet ?? []).map((t) => `${t.Key}=${t.Value}`).sort() },
    };
  });
  await rec.op('versioned-list', async () => {
    const v = await s3.send(
      new PutBucketVersioningCommand({ Bucket: B, VersioningConfiguration: { Status: 'Enabled' } }),
    );
    const puts: Json[] = [];
    for (const tag of ['v1', 'v2']) {
      const r = await s3.send(new PutObjectCommand({ Bucket: B, Key: 'versioned/k', Body: smallBody(tag) }));
      puts.push(objectOutcome(r));
    }
    const del = await s3.send(new DeleteObjectCommand({ Bucket: B, Key: 'versioned/k' }));
    const list = await s3.send(new ListObjectVersionsCommand({ Bucket: B, Prefix: 'versioned/' }));
    return {
      versioning: status(v),
      puts,
      delete: defined({ status: status(del), 'delete-marker': del.DeleteMarker ?? false }),
      versions: (list.Versions ?? []).map(
        (x) => `${x.Key} latest=${x.IsLatest} id=${x.VersionId ? 'yes' : 'no'}`,
      ),
      'delete-markers': (list.DeleteMarkers ?? []).map((x) => `${x.Key} latest=${x.IsLatest}`),
    };
  });
  // Node refuses header values beyond latin1 and the SDK signs the UTF-8 of what it sends, so the SDK cannot
  // put a non-ASCII header (it fails straight at RGW too). It can ask for one in the response, though.
  await rec.op('non-ascii-response-header', async () => {
    const r = await s3.send(
      new GetObjectCommand({
        Bucket: B,
        Key: 'small.txt',
        ResponseContentDisposition: NON_ASCII_DISPOSITION,
      }),
    );
    await readAll(r.Body as Readable);
    // Node hands header bytes over as latin1: back to bytes, then UTF-8.
    const got =
      r.ContentDisposition === undefined ? null : Buffer.from(r.ContentDisposition, 'latin1').toString();
    return { status: status(r), 'content-disposition': got, 'round-trips': got === NON_ASCII_DISPOSITION };
  });
  await rec.op('dot-segment-keys', async () => {
    const out: Outcome = {};
    for (const key of DOT_SEGMENT_KEYS) {
      out[key] = {
        put: await step(async () =>
          objectOutcome(await s3.send(new PutObjectCommand({ Bucket: B, Key: key, Body: smallBody(key) }))),
        ),
        get: await step(() => getBody(key)),
        list: await step(async () => {
          const r = await s3.send(new ListObjectsV2Command({ Bucket: B, Prefix: key }));
          return { status: status(r), keys: (r.Contents ?? []).map((o) => o.Key ?? '').sort() };
        }),
      };
    }
    return out;
  });

  await rec.op('delete-bucket', async () => {
    await emptyBucket(s3, B);
    return { status: status(await s3.send(new DeleteBucketCommand({ Bucket: B }))) };
  });
  rec.emit();
}

/** Deletes every version, delete marker and unfinished upload, so the bucket can go. */
async function emptyBucket(s3: S3Client, Bucket: string): Promise<void> {
  const uploads = await s3.send(new ListMultipartUploadsCommand({ Bucket }));
  for (const u of uploads.Uploads ?? []) {
    await s3.send(new AbortMultipartUploadCommand({ Bucket, Key: u.Key, UploadId: u.UploadId }));
  }
  let markers: { KeyMarker?: string; VersionIdMarker?: string } = {};
  for (;;) {
    const page = await s3.send(new ListObjectVersionsCommand({ Bucket, ...markers }));
    const Objects = [...(page.Versions ?? []), ...(page.DeleteMarkers ?? [])].map((v) => ({
      Key: v.Key,
      VersionId: v.VersionId,
    }));
    if (Objects.length > 0)
      await s3.send(new DeleteObjectsCommand({ Bucket, Delete: { Objects, Quiet: true } }));
    if (!page.IsTruncated) return;
    markers = { KeyMarker: page.NextKeyMarker, VersionIdMarker: page.NextVersionIdMarker };
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exit(2);
});
