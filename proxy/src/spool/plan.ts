/** Which uploads the spool may hold, and the names of its files. Pure. */
import type { IncomingHttpHeaders } from 'node:http';

/**
 * Why a PutObject is not spooled, whatever the room: its body is encrypted with the app's own key (SSE-C:
 * main stores ciphertext the proxy cannot reproduce, and plaintext must not land on local disk), or its
 * length is not declared up front (the budget is reserved before the first byte).
 */
export type SpoolSkip = 'encrypted' | 'unknown_length';

export function spoolSkipReason(
  headers: IncomingHttpHeaders,
  payloadLength: number | undefined,
): SpoolSkip | undefined {
  if (headers['x-amz-server-side-encryption-customer-algorithm'] !== undefined) return 'encrypted';
  if (payloadLength === undefined || !Number.isSafeInteger(payloadLength) || payloadLength < 0) {
    return 'unknown_length';
  }
  return undefined;
}

/** Every reason an upload ends up not used from the spool (the `reason` label of the abandoned metric). */
export const ABANDON_REASONS = [
  'encrypted',
  'unknown_length',
  'too_large',
  'full',
  'slow_disk',
  'disk_error',
  'not_stored',
  'superseded',
  'changed',
  'corrupt',
  'stale',
] as const;
export type AbandonReason = (typeof ABANDON_REASONS)[number];

/**
 * `<prefix>-<n>.part` while the body arrives; renamed to `<prefix>-<n>.body` only once main acknowledged the
 * write and every byte is on disk. A process killed mid-upload leaves only `.part` files; the spool index
 * lives in memory, so every file found at start is a leftover and is removed.
 */
export function spoolFileNames(prefix: string, n: number): { part: string; body: string } {
  return { part: `${prefix}-${n}.part`, body: `${prefix}-${n}.body` };
}
