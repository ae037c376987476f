import type { Readable } from 'node:stream';

/** The start of a response body read before the status is relayed to the app. */
export interface HeldBody {
  chunks: Buffer[];
  bytes: number;
  /** True when the whole body was read; false when the byte or time bound stopped the hold. */
  ended: boolean;
}

/**
 * Reads main's response body until it ends, `maxBytes` have arrived, or `maxWaitMs` passed, then leaves
 * the stream paused so the rest can still be piped. The bodies held are small XML documents
 * (CopyObject, CompleteMultipartUpload, DeleteObjects); the time bound covers S3's whitespace keep-alive
 * during long operations, which must reach the app before its read timeout.
 */
export function holdResponseBody(body: Readable, maxBytes: number, maxWaitMs: number): Promise<HeldBody> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let bytes = 0;
    const cleanup = (): void => {
      clearTimeout(timer);
      body.off('data', onData);
      body.off('end', onEnd);
      body.off('error', onError);
    };
    const stop = (ended: boolean): void => {
      cleanup();
      if (!ended) body.pause();
      resolve({ chunks, bytes, ended });
    };
    const onData = (chunk: Buffer): void => {
      chunks.push(chunk);
      bytes += chunk.length;
      if (bytes >= maxBytes) stop(false);
    };
    const onEnd = (): void => stop(true);
    const onError = (err: Error): void => {
      cleanup();
      reject(err);
    };
    const timer = setTimeout(() => stop(false), maxWaitMs);
    body.on('data', onData);
    body.once('end', onEnd);
    body.once('error', onError);
  });
}
