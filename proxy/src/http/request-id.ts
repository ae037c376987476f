import { randomBytes } from 'node:crypto';

/** Ids drawn per call to the system's random source: one getrandom call serves this many requests. */
const IDS_PER_DRAW = 256;
const ID_BYTES = 8;

let pool = Buffer.alloc(0);
let offset = 0;

/**
 * A request id as S3 prints them (16 upper-case hex digits), random as before. A draw of 8 bytes per
 * request was 3 % of the proxy's CPU on small GETs (randomBytes is a synchronous system call each time).
 */
export function newRequestId(): string {
  if (offset >= pool.length) {
    pool = randomBytes(ID_BYTES * IDS_PER_DRAW);
    offset = 0;
  }
  const id = pool.toString('hex', offset, offset + ID_BYTES).toUpperCase();
  offset += ID_BYTES;
  return id;
}
