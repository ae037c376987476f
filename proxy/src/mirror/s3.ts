import type { S3Client } from '@aws-sdk/client-s3';

import type { S3Endpoint } from '../config';
import type { Logger } from '../log';
import { sdkLogger } from '../sdk-logger';
import { latin1SdkSigner } from '../sigv4/sdk-signer';
import { consumeRest, type S3Http } from './s3-http';
import { lazyS3Client, s3Sdk } from './s3-sdk';

/**
 * SDK client for main or mirror: path-style, checksums only when required (Ceph 16 rejects trailers),
 * signed as the header bytes go on the wire (main's non-ASCII header values are passed on as such).
 * Made, and the SDK loaded, at its first use (s3-sdk.ts).
 */
export function s3ClientFor(endpoint: S3Endpoint, logger?: Logger): S3Client {
  return lazyS3Client(() => clientFor(endpoint, logger));
}

function clientFor(endpoint: S3Endpoint, logger?: Logger): S3Client {
  return new (s3Sdk().S3Client)({
    ...(logger ? { logger: sdkLogger(logger) } : {}),
    endpoint: endpoint.url.toString().replace(/\/$/, ''),
    region: endpoint.region,
    // The signer reads the same source; the SDK asks it too (its identity step), so both agree.
    credentials: endpoint.credentials.provider,
    forcePathStyle: true,
    requestChecksumCalculation: 'WHEN_REQUIRED',
    responseChecksumValidation: 'WHEN_REQUIRED',
    maxAttempts: 2,
    signer: latin1SdkSigner(endpoint),
  });
}

export function isNoSuchBucket(err: unknown): boolean {
  return hasS3Code(err, 'NoSuchBucket');
}

/** The mirror refused a body that does not match its Content-MD5. */
export function isBadDigest(err: unknown): boolean {
  return hasS3Code(err, 'BadDigest');
}

function hasS3Code(err: unknown, code: string): boolean {
  const e = err as { name?: string; Code?: string } | undefined;
  return e?.name === code || e?.Code === code;
}

/** Postgres errors (by SQLSTATE) whose log line should say what to do. */
const POSTGRES_HINTS: ReadonlyMap<unknown, string> = new Map([
  [
    '53300',
    'Postgres max_connections reached: see "Connection budget" in docs/inventory-and-mirroring.md (PgBouncer)',
  ],
]);

export function errorText(err: unknown): string {
  const e = err as { name?: string; message?: string; code?: unknown };
  const hint = POSTGRES_HINTS.get(e?.code);
  return `${e?.name ?? 'Error'}: ${e?.message ?? String(err)}${hint ? ` (${hint})` : ''}`.slice(0, 1000);
}

/**
 * Whether the endpoint and credentials of `http` serve `bucket` (HeadBucket): see tracking/takeover.ts.
 * Over the copier's undici client: a proxy's start-up look at its buckets then loads no SDK.
 */
export async function askBucket(http: S3Http, bucket: string): Promise<'serves' | 'refuses' | 'unknown'> {
  try {
    const res = await http.send({ method: 'HEAD', bucket });
    consumeRest(res.body);
    if (res.statusCode === 200) return 'serves';
    // 403/404: not this sidecar's bucket; 301: a bucket in another region than MAIN_S3_REGION.
    return [301, 403, 404].includes(res.statusCode) ? 'refuses' : 'unknown';
  } catch {
    return 'unknown';
  }
}
