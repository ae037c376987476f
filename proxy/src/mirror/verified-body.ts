/**
 * A spooled body on its way to the mirror, checked against the MD5 its ETag names: a file damaged on local
 * disk must never become the mirror's copy. The stream holds back its last byte until the whole body
 * checked, so a mismatch, a short file or a read error fails the upload before its end (a PutObject is cut
 * before its last byte; lib-storage never completes a multipart one) and the copier reads main instead.
 * It ends right after that byte, without waiting for the file's end: an upload whose answer came before
 * its body's end costs its connection (undici closes it). Without an MD5 (the copier's choice when the
 * upload carries it as Content-MD5 and the mirror checks it), only the size and read errors are checked.
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
  const mismatch = (): Error | undefined => {
    const digest = hash?.digest('hex');
    if (digest === undefined || digest === expectedMd5) return undefined;
    return new Error(`spool file MD5 ${digest} does not match the ETag's ${expectedMd5}`);
  };
  const check = new Transform({
    transform(chunk: Buffer, _enc, cb) {
      seen += chunk.length;
      if (seen > size) {
        failed = new Error(`spool file has more than the ${size} bytes expected`);
        return cb(failed);
      }
      hash?.update(chunk);
      if (seen < size) return cb(null, chunk);
      failed = mismatch();
      if (failed) return cb(failed);
      cb(null, chunk);
      this.push(null);
    },
    flush(cb) {
      if (seen < size) failed = new Error(`spool file has ${seen} bytes, expected ${size}`);
      // An empty body has no last chunk to check at.
      else if (size === 0) failed = mismatch();
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

/**
 * The same check for a body held whole in memory (a small upload): its size, and the MD5 its ETag names
 * when it names one.
 */
export function bodyMatches(bytes: Buffer, expectedMd5: string | undefined, size: number): boolean {
  if (bytes.length !== size) return false;
  return expectedMd5 === undefined || createHash('md5').update(bytes).digest('hex') === expectedMd5;
}
