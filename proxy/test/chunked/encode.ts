import { createHash, createHmac } from 'node:crypto';
import { computeChecksum, checksumHeaderName, type ChecksumAlgorithm } from '../../src/chunked/checksums';

/** Test-side encoder, written straight from the documented format, independent of the decoder. */
export interface EncodeOptions {
  /** Payload chunk sizes; the remainder goes into one more chunk. Default: one chunk. */
  chunkSizes?: number[];
  /** Sign chunks (STREAMING-AWS4-HMAC-SHA256-PAYLOAD[-TRAILER]). */
  signer?: ChunkSigner;
  /** Trailing checksums to append (the -TRAILER variants). */
  trailers?: ChecksumAlgorithm[];
  /** Raw trailer lines to use instead of computed ones (without CRLF). */
  rawTrailerLines?: string[];
  /** Append the final CRLF after the trailers (the SDKs do). Default true. */
  finalCrlf?: boolean;
  /** Uppercase hex sizes. */
  upperHex?: boolean;
}

const emptySha = createHash('sha256').update('').digest('hex');

/** Chunk signer per the S3 SigV4 streaming docs (AWS4-HMAC-SHA256-PAYLOAD / -TRAILER). */
export class ChunkSigner {
  private prev: string;
  private readonly key: Buffer;
  constructor(
    secret: string,
    private readonly timestamp: string,
    private readonly scope: string,
    seedSignature: string,
  ) {
    const [date, region, service] = scope.split('/') as [string, string, string];
    const h = (k: Buffer | string, d: string) => createHmac('sha256', k).update(d).digest();
    this.key = h(h(h(h(`AWS4${secret}`, date), region), service), 'aws4_request');
    this.prev = seedSignature;
  }
  chunk(data: Buffer): string {
    const sts = [
      'AWS4-HMAC-SHA256-PAYLOAD',
      this.timestamp,
      this.scope,
      this.prev,
      emptySha,
      createHash('sha256').update(data).digest('hex'),
    ].join('\n');
    this.prev = createHmac('sha256', this.key).update(sts).digest('hex');
    return this.prev;
  }
  trailer(trailerText: string): string {
    const sts = [
      'AWS4-HMAC-SHA256-TRAILER',
      this.timestamp,
      this.scope,
      this.prev,
      createHash('sha256').update(trailerText).digest('hex'),
    ].join('\n');
    this.prev = createHmac('sha256', this.key).update(sts).digest('hex');
    return this.prev;
  }
}

export function splitPayload(payload: Buffer, sizes: number[] | undefined): Buffer[] {
  const out: Buffer[] = [];
  let off = 0;
  for (const s of sizes ?? []) {
    if (off >= payload.length) break;
    const n = Math.min(s, payload.length - off);
    if (n <= 0) continue;
    out.push(payload.subarray(off, off + n));
    off += n;
  }
  if (off < payload.length) out.push(payload.subarray(off));
  return out;
}

export function encodeAwsChunked(payload: Buffer, opts: EncodeOptions = {}): Buffer {
  const parts: Buffer[] = [];
  const hex = (n: number) => (opts.upperHex ? n.toString(16).toUpperCase() : n.toString(16));
  for (const data of [...splitPayload(payload, opts.chunkSizes), Buffer.alloc(0)]) {
    const ext = opts.signer ? `;chunk-signature=${opts.signer.chunk(data)}` : '';
    parts.push(Buffer.from(`${hex(data.length)}${ext}\r\n`, 'latin1'));
    if (data.length > 0) parts.push(data, Buffer.from('\r\n'));
  }
  const lines =
    opts.rawTrailerLines ??
    (opts.trailers ?? []).map((alg) => `${checksumHeaderName(alg)}:${computeChecksum(alg, payload)}`);
  const trailerText = lines.map((l) => `${l}\r\n`).join('');
  parts.push(Buffer.from(trailerText, 'latin1'));
  if (opts.signer && (opts.trailers || opts.rawTrailerLines)) {
    parts.push(Buffer.from(`x-amz-trailer-signature:${opts.signer.trailer(trailerText)}\r\n`));
  }
  if (opts.finalCrlf ?? true) parts.push(Buffer.from('\r\n'));
  return Buffer.concat(parts);
}
