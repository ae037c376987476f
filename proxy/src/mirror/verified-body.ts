/**
 * A spooled body on its way to the mirror, checked against the MD5 its ETag names: a file damaged on local
 * disk must never become the mirror's copy. The check runs before the stream ends, so a mismatch fails the
 * upload before its last part (lib-storage never completes it) and the copier reads main instead.
 */
import { createHash } from 'node:crypto';
import { Transform, type Readable } from 'node:stream';

export interface VerifiedBody {
  stream: Readable;
  /** Set when the local file could not be read or its bytes did not match. */
  failure(): Error | undefined;
}

export function verifiedBody(source: Readable, expectedMd5: string | undefined, size: number): VerifiedBody {
  let failed: Error | undefined;
  let seen = 0;
  const hash = expectedMd5 ? createHash('md5') : undefined;
  const check = new Transform({
    transform(chunk: Buffer, _enc, cb) {
      seen += chunk.length;
      hash?.update(chunk);
      cb(null, chunk);
    },
    flush(cb) {
      const digest = hash?.digest('hex');
      if (seen !== size) failed = new Error(`spool file has ${seen} bytes, expected ${size}`);
      else if (digest !== undefined && digest !== expectedMd5) {
        failed = new Error(`spool file MD5 ${digest} does not match the ETag's ${expectedMd5}`);
      }
      cb(failed);
    },
  });
  // A read error of the file (EIO) is a local failure too. The consumer going away (the mirror failing the
  // upload) is not: it closes the file stream without an error, and the copier reports its own error.
  source.once('error', (err) => {
    failed ??= err;
    check.destroy(err);
  });
  // The consumer learns of a failure through failure() and its own error handling; an error nobody happens
  // to listen for must never end the process.
  check.on('error', () => undefined);
  check.once('close', () => source.destroy());
  source.pipe(check);
  return { stream: check, failure: () => failed };
}
