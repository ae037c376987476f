/** What an S3 ETag says about an object's bytes. Pure. */

const unquote = (etag: string): string => etag.trim().replace(/^"(.*)"$/, '$1');

/** True when two ETags name the same object state (quotes and case of hex digits do not matter). */
export function sameEtag(a: string | undefined, b: string | undefined): boolean {
  if (a === undefined || b === undefined) return false;
  const x = unquote(a);
  return x !== '' && x.toLowerCase() === unquote(b).toLowerCase();
}

/**
 * The hex MD5 of the bytes, when the ETag is one: a single-part upload without SSE-KMS (whose ETag is not the
 * MD5 of the plaintext). Multipart ETags (`<hex>-<parts>`) and anything else give undefined.
 */
export function md5OfEtag(etag: string | undefined, serverSideEncryption?: string): string | undefined {
  if (etag === undefined) return undefined;
  if (serverSideEncryption !== undefined && serverSideEncryption.toLowerCase().startsWith('aws:kms')) {
    return undefined;
  }
  const hex = unquote(etag);
  return /^[0-9a-fA-F]{32}$/.test(hex) ? hex.toLowerCase() : undefined;
}
