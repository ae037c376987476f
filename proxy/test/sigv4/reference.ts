import { createHash, createHmac } from 'node:crypto';

/**
 * A from-the-spec SigV4 computation, independent of @smithy/signature-v4, used to check what the proxy signs.
 * It is itself pinned to AWS's published S3 examples in signer.test.ts.
 */
export interface ReferenceInput {
  method: string;
  /** Canonical URI exactly as it goes on the wire (S3: encoded once, never normalised). */
  canonicalUri: string;
  /** Already-encoded `name=value` pairs. */
  canonicalQueryPairs: string[];
  /** Lower-case names. */
  headers: Record<string, string>;
  payloadHash: string;
  amzDate: string;
  region: string;
  service: string;
  secretAccessKey: string;
}

const sha256Hex = (text: string): string => createHash('sha256').update(text, 'utf8').digest('hex');
const hmac = (key: Buffer | string, text: string): Buffer =>
  createHmac('sha256', key).update(text, 'utf8').digest();

export function canonicalRequest(input: ReferenceInput): { text: string; signedHeaders: string } {
  const names = Object.keys(input.headers).sort();
  const canonicalHeaders = names
    .map((n) => `${n}:${input.headers[n]!.trim().replace(/\s+/g, ' ')}\n`)
    .join('');
  const signedHeaders = names.join(';');
  // Sorted by encoded name, then value (not by the joined pair: `a-b=` must sort after `a=`).
  const query = input.canonicalQueryPairs
    .map((pair) => pair.split('=') as [string, string])
    .sort(([an, av], [bn, bv]) => (an < bn ? -1 : an > bn ? 1 : av < bv ? -1 : av > bv ? 1 : 0))
    .map(([n, v]) => `${n}=${v}`)
    .join('&');
  return {
    text: [input.method, input.canonicalUri, query, canonicalHeaders, signedHeaders, input.payloadHash].join(
      '\n',
    ),
    signedHeaders,
  };
}

export function referenceSignature(input: ReferenceInput): { signature: string; signedHeaders: string } {
  const { text, signedHeaders } = canonicalRequest(input);
  const day = input.amzDate.slice(0, 8);
  const scope = `${day}/${input.region}/${input.service}/aws4_request`;
  const stringToSign = ['AWS4-HMAC-SHA256', input.amzDate, scope, sha256Hex(text)].join('\n');
  let key = hmac(`AWS4${input.secretAccessKey}`, day);
  key = hmac(key, input.region);
  key = hmac(key, input.service);
  key = hmac(key, 'aws4_request');
  return { signature: createHmac('sha256', key).update(stringToSign).digest('hex'), signedHeaders };
}

export function parseAuthorization(value: string): {
  credential: string;
  signedHeaders: string;
  signature: string;
} {
  const match = /^AWS4-HMAC-SHA256 Credential=([^,]+), SignedHeaders=([^,]+), Signature=([0-9a-f]{64})$/.exec(
    value,
  );
  if (!match) throw new Error(`not a SigV4 Authorization header: ${value}`);
  return { credential: match[1]!, signedHeaders: match[2]!, signature: match[3]! };
}
