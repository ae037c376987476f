import { Transform, type TransformCallback } from 'node:stream';
import { S3Error } from '../s3/errors';
import type { ChecksumAlgorithm } from './checksums';
import { AwsChunkedParser, type AwsChunkedOptions } from './parser';

export type { AwsChunkedOptions } from './parser';

/** A Transform from a raw aws-chunked body to the exact decoded payload. */
export interface AwsChunkedDecoder extends Transform {
  /** Checksums verified against the payload (trailers and header checksums), after 'end'. */
  verifiedChecksums(): Partial<Record<ChecksumAlgorithm, string>>;
}

function asS3Error(err: unknown): S3Error {
  return err instanceof S3Error
    ? err
    : new S3Error('InternalError', `aws-chunked decoder failure: ${String(err)}`, 500);
}

/**
 * Creates the decoder. Errors (always S3Error) destroy the stream; the last payload byte is only
 * pushed after the terminator, the decoded length and every checksum validated. Emits
 * 'checksums' with the verified map just before 'end'.
 * Throws synchronously (S3Error InvalidArgument/InvalidRequest) for bad options.
 */
export function createAwsChunkedDecoder(options: AwsChunkedOptions): AwsChunkedDecoder {
  const parser = new AwsChunkedParser(options);
  const stream = new Transform({
    transform(chunk: Buffer | string, _enc: BufferEncoding, cb: TransformCallback): void {
      let slices: Buffer[];
      try {
        slices = parser.feed(typeof chunk === 'string' ? Buffer.from(chunk, 'latin1') : chunk);
      } catch (err) {
        cb(asS3Error(err));
        return;
      }
      for (const s of slices) this.push(s);
      cb();
    },
    flush(cb: TransformCallback): void {
      let slices: Buffer[];
      try {
        slices = parser.finish();
      } catch (err) {
        cb(asS3Error(err));
        return;
      }
      for (const s of slices) this.push(s);
      this.emit('checksums', parser.verifiedChecksums());
      cb();
    },
  }) as AwsChunkedDecoder;
  stream.verifiedChecksums = () => parser.verifiedChecksums();
  return stream;
}
