import type { IncomingHttpHeaders } from 'node:http';
import { s3Errors } from '../s3/errors';
import {
  checksumAlgorithmFromHeader,
  checksumAlgorithms,
  checksumHeaderName,
  type ChecksumAlgorithm,
} from './checksums';

/** What `x-amz-content-sha256` says about the body. Pure. */
export type ContentSha256Kind =
  | { streaming: true; signedChunks: boolean; trailer: boolean; value: string }
  | { streaming: false; kind: 'unsigned' | 'sha256' | 'absent' | 'other'; value: string | undefined };

const streamingVariants: Record<string, { signedChunks: boolean; trailer: boolean }> = {
  'STREAMING-AWS4-HMAC-SHA256-PAYLOAD': { signedChunks: true, trailer: false },
  'STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER': { signedChunks: true, trailer: true },
  'STREAMING-UNSIGNED-PAYLOAD-TRAILER': { signedChunks: false, trailer: true },
  'STREAMING-AWS4-ECDSA-P256-SHA256-PAYLOAD': { signedChunks: true, trailer: false },
  'STREAMING-AWS4-ECDSA-P256-SHA256-PAYLOAD-TRAILER': { signedChunks: true, trailer: true },
};

/**
 * Classifies `x-amz-content-sha256`. Streaming is detected by the `STREAMING-` prefix alone;
 * an unknown `STREAMING-` value throws S3Error InvalidArgument (400), as S3 does.
 * Anything else that is neither `UNSIGNED-PAYLOAD` nor 64 hex digits is `kind: 'other'`:
 * the caller decides (S3 itself rejects it).
 */
export function classifyContentSha256(value: string | undefined): ContentSha256Kind {
  if (value === undefined) return { streaming: false, kind: 'absent', value };
  const v = value.trim();
  if (v.startsWith('STREAMING-')) {
    const variant = streamingVariants[v];
    if (!variant) {
      throw s3Errors.invalidArgument(
        `x-amz-content-sha256 must be UNSIGNED-PAYLOAD, a supported STREAMING- value or a SHA-256 hex digest; got ${v}`,
      );
    }
    return { streaming: true, ...variant, value: v };
  }
  if (v === 'UNSIGNED-PAYLOAD') return { streaming: false, kind: 'unsigned', value: v };
  if (/^[0-9a-fA-F]{64}$/.test(v)) return { streaming: false, kind: 'sha256', value: v };
  return { streaming: false, kind: 'other', value: v };
}

/** What the proxy must do with an aws-chunked request. Shaped to be passed to createAwsChunkedDecoder. */
export interface AwsChunkedPlan {
  signedChunks: boolean;
  trailer: boolean;
  /** From `x-amz-decoded-content-length`: the Content-Length to send downstream. */
  decodedLength: number;
  /** Lower-cased names from `x-amz-trailer`, e.g. `x-amz-checksum-crc32`. */
  trailerNames: string[];
  /** Checksums sent as plain request headers (`x-amz-checksum-<alg>`), to verify against the body. */
  headerChecksums: Partial<Record<ChecksumAlgorithm, string>>;
  /** Content-Encoding with the `aws-chunked` token removed, or null if nothing is left. */
  contentEncoding: string | null;
}

function headerValue(headers: IncomingHttpHeaders, name: string): string | undefined {
  const v = headers[name];
  if (v === undefined) return undefined;
  return Array.isArray(v) ? v.join(',') : v;
}

/** Removes `aws-chunked` tokens from a Content-Encoding value; null when nothing remains. */
export function stripAwsChunked(contentEncoding: string | undefined): string | null {
  if (contentEncoding === undefined) return null;
  const rest = contentEncoding
    .split(',')
    .map((t) => t.trim())
    .filter((t) => t !== '' && t.toLowerCase() !== 'aws-chunked');
  return rest.length ? rest.join(',') : null;
}

/** Parses `x-amz-trailer`; only checksum trailers are accepted (InvalidArgument otherwise). */
export function parseTrailerNames(value: string | undefined): string[] {
  if (value === undefined) return [];
  const names: string[] = [];
  for (const raw of value.split(',')) {
    const name = raw.trim().toLowerCase();
    if (name === '') continue;
    if (!checksumAlgorithmFromHeader(name)) {
      throw s3Errors.invalidArgument(`Unsupported x-amz-trailer value: ${name}`);
    }
    if (names.includes(name)) throw s3Errors.invalidArgument(`Duplicate x-amz-trailer value: ${name}`);
    names.push(name);
  }
  return names;
}

/**
 * Given request headers, returns the aws-chunked plan, or null when the body is not aws-chunked.
 * Throws S3Error: InvalidArgument (400) for an unknown STREAMING- value, a malformed
 * x-amz-decoded-content-length or an unsupported x-amz-trailer; MissingContentLength (411)
 * when x-amz-decoded-content-length is absent.
 */
export function planAwsChunked(headers: IncomingHttpHeaders): AwsChunkedPlan | null {
  const kind = classifyContentSha256(headerValue(headers, 'x-amz-content-sha256'));
  if (!kind.streaming) return null;
  const rawLength = headerValue(headers, 'x-amz-decoded-content-length');
  if (rawLength === undefined) throw s3Errors.missingContentLength();
  const lengthText = rawLength.trim();
  if (!/^\d{1,16}$/.test(lengthText) || !Number.isSafeInteger(Number(lengthText))) {
    throw s3Errors.invalidArgument(`Invalid x-amz-decoded-content-length: ${rawLength}`);
  }
  const trailerNames = parseTrailerNames(headerValue(headers, 'x-amz-trailer'));
  if (!kind.trailer && trailerNames.length > 0) {
    throw s3Errors.invalidArgument(`x-amz-trailer is not allowed with ${kind.value}`);
  }
  const headerChecksums: Partial<Record<ChecksumAlgorithm, string>> = {};
  for (const alg of checksumAlgorithms) {
    const v = headerValue(headers, checksumHeaderName(alg));
    if (v !== undefined) headerChecksums[alg] = v.trim();
  }
  return {
    signedChunks: kind.signedChunks,
    trailer: kind.trailer,
    decodedLength: Number(lengthText),
    trailerNames,
    headerChecksums,
    contentEncoding: stripAwsChunked(headerValue(headers, 'content-encoding')),
  };
}
