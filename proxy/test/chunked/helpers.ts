import { Readable } from 'node:stream';
import { S3Error } from '../../src/s3/errors';
import { AwsChunkedParser, type AwsChunkedOptions } from '../../src/chunked/parser';
import { createAwsChunkedDecoder } from '../../src/chunked/decoder';

export interface DecodeResult {
  /** Everything the decoder released, in order. */
  out: Buffer;
  error?: S3Error;
  checksums?: Record<string, string>;
}

/** Feeds `pieces` to the pure parser, then finish(); never throws. */
export function decodePieces(pieces: Buffer[], options: AwsChunkedOptions): DecodeResult {
  const released: Buffer[] = [];
  let parser: AwsChunkedParser;
  try {
    parser = new AwsChunkedParser(options);
    for (const p of pieces) released.push(...parser.feed(p));
    released.push(...parser.finish());
  } catch (err) {
    if (!(err instanceof S3Error)) throw err;
    return { out: Buffer.concat(released), error: err };
  }
  return { out: Buffer.concat(released), checksums: parser.verifiedChecksums() };
}

/** Runs the Transform over `pieces`; resolves with what was emitted and the error, if any. */
export function decodeStream(pieces: Buffer[], options: AwsChunkedOptions): Promise<DecodeResult> {
  return new Promise((resolve) => {
    const decoder = createAwsChunkedDecoder(options);
    const out: Buffer[] = [];
    decoder.on('data', (b: Buffer) => out.push(b));
    decoder.on('error', (err: Error) => resolve({ out: Buffer.concat(out), error: err as S3Error }));
    decoder.on('end', () => resolve({ out: Buffer.concat(out), checksums: decoder.verifiedChecksums() }));
    Readable.from(pieces).pipe(decoder);
  });
}

export function splitAt(body: Buffer, offsets: number[]): Buffer[] {
  const out: Buffer[] = [];
  let prev = 0;
  for (const o of [...offsets].sort((a, b) => a - b)) {
    out.push(body.subarray(prev, o));
    prev = o;
  }
  out.push(body.subarray(prev));
  return out;
}

export function bytewise(body: Buffer): Buffer[] {
  const out: Buffer[] = [];
  for (let i = 0; i < body.length; i++) out.push(body.subarray(i, i + 1));
  return out;
}
