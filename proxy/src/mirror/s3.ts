import { HeadBucketCommand, S3Client } from '@aws-sdk/client-s3';

import type { S3Endpoint } from '../config';
import type { Logger } from '../log';
import { latin1SdkSigner } from '../sigv4/sdk-signer';

/**
 * SDK client for main or mirror: path-style, checksums only when required (Ceph 16 rejects trailers),
 * signed as the header bytes go on the wire (main's non-ASCII header values are passed on as such).
 */
export function s3ClientFor(endpoint: S3Endpoint, logger?: Logger): S3Client {
  return new S3Client({
    ...(logger ? { logger: sdkLogger(logger) } : {}),
    endpoint: endpoint.url.toString().replace(/\/$/, ''),
    region: endpoint.region,
    credentials: { accessKeyId: endpoint.accessKeyId, secretAccessKey: endpoint.secretAccessKey },
    forcePathStyle: true,
    requestChecksumCalculation: 'WHEN_REQUIRED',
    responseChecksumValidation: 'WHEN_REQUIRED',
    maxAttempts: 2,
    signer: latin1SdkSigner(endpoint),
  });
}

/**
 * The SDK's own warnings (e.g. "An error was encountered in a non-retryable streaming request.", printed
 * with console.warn without a logger) go through ours as JSON. Its info and error lines (every command's
 * input and output, every failed command such as a HeadBucket 404) are dropped: the caller handles and
 * logs failures, and they would carry object metadata.
 */
function sdkLogger(logger: Logger) {
  const ignore = (): void => undefined;
  const text = (args: unknown[]): string =>
    args
      .map((a) => (typeof a === 'string' ? a : JSON.stringify(a)))
      .join(' ')
      .slice(0, 1000);
  return {
    trace: ignore,
    debug: ignore,
    info: ignore,
    warn: (...args: unknown[]) => logger.warn('aws sdk warning', { sdk: text(args) }),
    error: ignore,
  };
}

export function isNoSuchBucket(err: unknown): boolean {
  const e = err as { name?: string; Code?: string };
  return e?.name === 'NoSuchBucket' || e?.Code === 'NoSuchBucket';
}

export function errorText(err: unknown): string {
  const e = err as { name?: string; message?: string };
  return `${e?.name ?? 'Error'}: ${e?.message ?? String(err)}`.slice(0, 1000);
}

/** Whether `client`'s endpoint and credentials serve `bucket` (HeadBucket): see tracking/takeover.ts. */
export async function askBucket(client: S3Client, bucket: string): Promise<'serves' | 'refuses' | 'unknown'> {
  try {
    await client.send(new HeadBucketCommand({ Bucket: bucket }));
    return 'serves';
  } catch (err) {
    const status = (err as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode;
    // 403/404: not this sidecar's bucket; 301: a bucket in another region than MAIN_S3_REGION.
    return status === 301 || status === 403 || status === 404 ? 'refuses' : 'unknown';
  }
}
