/** One multipart upload through any S3 client, as an app's SDK would send it. */
import {
  CompleteMultipartUploadCommand,
  type CompleteMultipartUploadCommandOutput,
  CreateMultipartUploadCommand,
  type CreateMultipartUploadCommandInput,
  UploadPartCommand,
  type S3Client,
} from '@aws-sdk/client-s3';

/** Uploads `parts` in order as one object; `create` adds to CreateMultipartUpload (content type, tags…). */
export async function multipartUpload(
  client: S3Client,
  bucket: string,
  key: string,
  parts: readonly Buffer[],
  create: Omit<CreateMultipartUploadCommandInput, 'Bucket' | 'Key'> = {},
): Promise<CompleteMultipartUploadCommandOutput> {
  const { UploadId } = await client.send(
    new CreateMultipartUploadCommand({ ...create, Bucket: bucket, Key: key }),
  );
  const done = [];
  for (const [i, body] of parts.entries()) {
    const part = await client.send(
      new UploadPartCommand({ Bucket: bucket, Key: key, UploadId, PartNumber: i + 1, Body: body }),
    );
    done.push({ ETag: part.ETag, PartNumber: i + 1 });
  }
  return client.send(
    new CompleteMultipartUploadCommand({
      Bucket: bucket,
      Key: key,
      UploadId,
      MultipartUpload: { Parts: done },
    }),
  );
}
