/**
 * Client-matrix driver for presigned URLs made by `@aws-sdk/s3-request-presigner` and sent with Node's
 * `fetch`, as a browser or a plain HTTP tool would. Every request of the run, bucket create and delete
 * included, is a presigned URL: the driver never sends a signed header itself.
 */
import {
  CreateBucketCommand,
  DeleteBucketCommand,
  DeleteObjectCommand,
  GetObjectCommand,
  PutObjectCommand,
  S3Client,
} from '@aws-sdk/client-s3';
import { getSignedUrl } from '@aws-sdk/s3-request-presigner';

import { Recorder, defined, parseDriverArgs, sha256, smallBody, type Outcome } from './common';

/** The S3 error code of an XML error body, if it has one. */
function errorCode(body: string): string | null {
  return /<Code>([^<]*)<\/Code>/.exec(body)?.[1] ?? null;
}

async function outcomeOf(res: Response): Promise<Outcome> {
  const body = Buffer.from(await res.arrayBuffer());
  const h = (n: string): string | undefined => res.headers.get(n) ?? undefined;
  if (res.status >= 300) return { status: res.status, code: errorCode(body.toString()) };
  return defined({
    status: res.status,
    etag: h('etag'),
    'content-length': h('content-length'),
    'content-type': h('content-type'),
    'has-last-modified': res.headers.has('last-modified'),
    sha256: body.length > 0 ? sha256(body) : undefined,
  });
}

async function main(): Promise<void> {
  const args = parseDriverArgs();
  const s3 = new S3Client({
    endpoint: args.endpoint,
    region: args.region,
    credentials: { accessKeyId: args.accessKey, secretAccessKey: args.secretKey },
    forcePathStyle: true,
  });
  const B = args.bucket;
  const rec = new Recorder('js-presigner', () => undefined);
  const send = async (method: string, url: Promise<string>, body?: Buffer): Promise<Outcome> =>
    outcomeOf(await fetch(await url, { method, ...(body ? { body } : {}) }));
  const opts = { expiresIn: 600 };

  await rec.op('create-bucket', () =>
    send('PUT', getSignedUrl(s3, new CreateBucketCommand({ Bucket: B }), opts)),
  );
  await rec.op('presigned-put', () =>
    send(
      'PUT',
      getSignedUrl(s3, new PutObjectCommand({ Bucket: B, Key: 'presigned.txt' }), opts),
      smallBody('presigned'),
    ),
  );
  await rec.op('presigned-get', () =>
    send('GET', getSignedUrl(s3, new GetObjectCommand({ Bucket: B, Key: 'presigned.txt' }), opts)),
  );
  await rec.op('presigned-get-missing', () =>
    send('GET', getSignedUrl(s3, new GetObjectCommand({ Bucket: B, Key: 'missing-key' }), opts)),
  );
  await rec.op('delete-bucket', async () => {
    const del = await send(
      'DELETE',
      getSignedUrl(s3, new DeleteObjectCommand({ Bucket: B, Key: 'presigned.txt' }), opts),
    );
    if (del.status !== 204) return { 'delete-object': del };
    return send('DELETE', getSignedUrl(s3, new DeleteBucketCommand({ Bucket: B }), opts));
  });
  rec.emit();
}

main().catch((err: unknown) => {
  process.stderr.write(`${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exit(2);
});
