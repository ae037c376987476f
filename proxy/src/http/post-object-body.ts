import type { IncomingMessage } from 'node:http';
import { PassThrough } from 'node:stream';
import { countBodyBytes } from '../memory/body-bytes';
import { s3Errors } from '../s3/errors';
import { renderFormPrefix, scanFormPrefix } from '../s3/post-form';
import { formObjectKey, resignFormFields } from '../s3/post-policy';
import type { RequestSigner } from '../sigv4/signer';
import type { UpstreamBody } from './request-body';

/** S3 refuses larger form fields before the file, and so does the proxy: this much is held in memory. */
export const MAX_FORM_PREFIX_BYTES = 64 * 1024;

export interface PostObjectBody {
  body: UpstreamBody;
  /** The key the form writes, once main accepts it. */
  key: string | undefined;
}

/** Reads the body up to the file part's headers (bounded); the rest stays unread in `req`. */
function readPrefix(req: IncomingMessage, boundary: string) {
  return new Promise<{ prefix: ReturnType<typeof scanFormPrefix> & object; rest: Buffer }>(
    (resolve, reject) => {
      let held = Buffer.alloc(0);
      const done = (
        err?: Error,
        value?: { prefix: NonNullable<ReturnType<typeof scanFormPrefix>>; rest: Buffer },
      ) => {
        req.off('data', onData).off('end', onEnd).off('error', onError);
        req.pause();
        if (err) reject(err);
        else resolve(value!);
      };
      const onData = (chunk: Buffer): void => {
        held = Buffer.concat([held, chunk]);
        try {
          const prefix = scanFormPrefix(held, boundary);
          if (prefix) return done(undefined, { prefix, rest: held.subarray(prefix.consumed) });
        } catch (err) {
          return done(err as Error);
        }
        if (held.length > MAX_FORM_PREFIX_BYTES) done(s3Errors.maxPostPreDataLengthExceeded());
      };
      const onEnd = (): void => done(s3Errors.malformedPostRequest());
      const onError = (err: Error): void => done(err);
      req.on('data', onData).once('end', onEnd).once('error', onError);
      req.resume();
    },
  );
}

/**
 * A browser form upload, re-signed for main: the fields before the file are rewritten (main's credential,
 * date and policy signature), the file's bytes stream through unchanged after them.
 */
export async function preparePostObjectBody(
  req: IncomingMessage,
  boundary: string,
  signer: RequestSigner,
  onFailure: (err: Error) => void,
): Promise<PostObjectBody> {
  const { prefix, rest } = await readPrefix(req, boundary);
  const credential = signer.policyCredential();
  const fields = resignFormFields(prefix.fields, credential, (policy) => credential.sign(policy));
  const head = renderFormPrefix(fields, prefix.fileHead, boundary);
  const stream = new PassThrough();
  let forwarded = 0;
  let failed: Error | undefined;
  // Paused before the counting listener: nothing may flow (and be lost) before the upstream client reads.
  stream.pause();
  stream.on('data', (chunk: Buffer) => {
    forwarded += chunk.length;
    countBodyBytes(chunk.length);
  });
  req.once('error', (err) => {
    failed ??= err;
    stream.destroy(err);
    onFailure(err);
  });
  stream.write(head);
  stream.write(rest);
  req.pipe(stream);
  const declared = req.headers['content-length'];
  const length =
    declared !== undefined && /^\d+$/.test(declared)
      ? Number(declared) - prefix.consumed + head.length
      : undefined;
  return {
    key: formObjectKey(prefix.fields, prefix.filename),
    body: {
      stream,
      ...(length !== undefined ? { contentLength: length } : {}),
      bytesForwarded: () => forwarded,
      failure: () => failed,
    },
  };
}
