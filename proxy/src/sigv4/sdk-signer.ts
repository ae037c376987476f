import { createHash } from 'node:crypto';
import type { S3ClientConfig } from '@aws-sdk/client-s3';
import type * as ProtocolHttp from '@smithy/protocol-http';

import type { S3Endpoint } from '../config';
import { EMPTY_PAYLOAD_SHA256, RequestSigner } from './signer';

/** Loaded with the SDK that calls this signer, not before (mirror/s3-sdk.ts). */
function httpRequest(): typeof ProtocolHttp.HttpRequest {
  // eslint-disable-next-line @typescript-eslint/no-require-imports -- loaded on first use, see above
  return (require('@smithy/protocol-http') as typeof ProtocolHttp).HttpRequest;
}

/** The request signer an SDK S3Client takes as its `signer`. */
export type SdkRequestSigner = Extract<NonNullable<S3ClientConfig['signer']>, { sign: unknown }>;
type SdkRequest = Parameters<SdkRequestSigner['sign']>[0];
type SdkSigningDate = NonNullable<Parameters<SdkRequestSigner['sign']>[1]>['signingDate'];

/** Headers of an earlier signature: a retry signs the same request again. */
const SIGNATURE_HEADERS: ReadonlySet<string> = new Set([
  'authorization',
  'x-amz-date',
  'date',
  'x-amz-security-token',
]);

/**
 * An SDK signer that signs header values as the bytes Node sends (latin1: one byte per char). The values
 * the mirror copier passes on are main's header bytes, read by Node the same way; the SDK's own signer
 * hashes them as UTF-8 (and folds 0x85 and 0xA0 as white space), so an object with a UTF-8 file name or
 * metadata value could never be copied (SignatureDoesNotMatch). Otherwise as the SDK signs: its payload
 * hash when it set one, else the hash of a body in memory, UNSIGNED-PAYLOAD for a stream.
 */
export function latin1SdkSigner(endpoint: S3Endpoint): SdkRequestSigner {
  const signer = new RequestSigner(endpoint);
  return {
    sign(request, options) {
      const headers: Record<string, string> = {};
      for (const [name, value] of Object.entries(request.headers)) {
        const lower = name.toLowerCase();
        if (!SIGNATURE_HEADERS.has(lower)) headers[lower] = value;
      }
      headers['x-amz-content-sha256'] ??= payloadHash(request.body);
      const signed = httpRequest().clone(request);
      signed.headers = signer.sign(
        { method: request.method, path: request.path, query: queryPairs(request.query), headers },
        toDate(options?.signingDate),
      );
      return Promise.resolve(signed);
    },
  };
}

function payloadHash(body: unknown): string {
  if (body === undefined || body === null) return EMPTY_PAYLOAD_SHA256;
  const hash = createHash('sha256');
  if (typeof body === 'string') hash.update(body, 'utf8');
  else if (ArrayBuffer.isView(body))
    hash.update(new Uint8Array(body.buffer, body.byteOffset, body.byteLength));
  else if (body instanceof ArrayBuffer) hash.update(Buffer.from(body));
  else return 'UNSIGNED-PAYLOAD';
  return hash.digest('hex');
}

/** The SDK's query (decoded names and values) as the signer's pairs; a list is one pair per value. */
function queryPairs(query: SdkRequest['query']): [string, string | null][] {
  return Object.entries(query ?? {}).flatMap(([name, value]): [string, string | null][] =>
    Array.isArray(value) ? value.map((v: string): [string, string] => [name, v]) : [[name, value ?? null]],
  );
}

/** As the SDK reads a signing date: a number is in seconds. */
function toDate(date: SdkSigningDate): Date {
  if (date === undefined) return new Date();
  if (typeof date === 'number') return new Date(date * 1000);
  return new Date(date);
}
