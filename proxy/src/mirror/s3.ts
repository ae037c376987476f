import { S3Client } from '@aws-sdk/client-s3';

import type { S3Endpoint } from '../config';

/** SDK client for main or mirror: path-style, checksums only when required (Ceph 16 rejects trailers). */
export function s3ClientFor(endpoint: S3Endpoint): S3Client {
  return new S3Client({
    endpoint: endpoint.url.toString().replace(/\/$/, ''),
    region: endpoint.region,
    credentials: { accessKeyId: endpoint.accessKeyId, secretAccessKey: endpoint.secretAccessKey },
    forcePathStyle: true,
    requestChecksumCalculation: 'WHEN_REQUIRED',
    responseChecksumValidation: 'WHEN_REQUIRED',
    maxAttempts: 2,
  });
}

export function isNotFound(err: unknown): boolean {
  const e = err as { name?: string; Code?: string; $metadata?: { httpStatusCode?: number } };
  return e?.name === 'NoSuchKey' || e?.name === 'NotFound' || e?.$metadata?.httpStatusCode === 404;
}

export function isNoSuchBucket(err: unknown): boolean {
  const e = err as { name?: string; Code?: string };
  return e?.name === 'NoSuchBucket' || e?.Code === 'NoSuchBucket';
}

export function errorText(err: unknown): string {
  const e = err as { name?: string; message?: string };
  return `${e?.name ?? 'Error'}: ${e?.message ?? String(err)}`.slice(0, 1000);
}
