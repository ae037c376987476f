/**
 * Admission: whether the proxy serves a request at all, decided from its method, target and headers
 * before any byte of its body is read. Pure; each refusal is an S3Error the handler answers with.
 */
import type { IncomingHttpHeaders } from 'node:http';

import type { ProxyConfig } from '../config';
import { s3Errors } from '../s3/errors';
import { copySourceBucket, type RequestTarget } from '../s3/request-target';

/** Methods S3 has no use for (and a proxy must not tunnel). */
export function checkMethod(method: string): void {
  if (method === 'CONNECT' || method === 'TRACE' || method === 'OPTIONS') throw s3Errors.methodNotAllowed();
}

/** The allow-list (ALLOWED_BUCKETS): the target bucket, and a copy's source bucket. */
export function checkAllowed(
  config: Pick<ProxyConfig, 'allowedBuckets'>,
  target: RequestTarget,
  headers: IncomingHttpHeaders,
): void {
  if (config.allowedBuckets.length === 0) return;
  if (target.bucket !== undefined && !config.allowedBuckets.includes(target.bucket)) {
    throw s3Errors.accessDenied(`This sidecar is not allowed to access bucket ${target.bucket}.`);
  }
  // A copy reads its source with main's credentials too: the source bucket must be allowed as well.
  const copySource = headers['x-amz-copy-source'];
  if (copySource === undefined) return;
  const source = copySourceBucket(copySource);
  if (source === undefined || !config.allowedBuckets.includes(source)) {
    throw s3Errors.accessDenied('This sidecar is not allowed to copy from that source.');
  }
}
