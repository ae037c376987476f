/**
 * Self-verifying object bodies: the first 64 bytes are the hex SHA-256 of the rest, so any full read of any
 * object (whichever write won a race on an overlapping key, or a copy of it) can be checked on its own.
 */
import { createHash, randomBytes } from 'node:crypto';

const HEADER = 65; // 64 hex digits and a newline

export function makeBody(size: number): Buffer {
  const rest = randomBytes(Math.max(0, size - HEADER));
  const digest = createHash('sha256').update(rest).digest('hex');
  return Buffer.concat([Buffer.from(`${digest}\n`, 'latin1'), rest]);
}

/** True when `body` is intact (its header matches its content). */
export function bodyIsIntact(body: Buffer): boolean {
  if (body.length < HEADER || body[64] !== 0x0a) return false;
  const digest = createHash('sha256').update(body.subarray(HEADER)).digest('hex');
  return body.toString('latin1', 0, 64) === digest;
}
