/** When to fetch credentials again. Pure. */

/** Long-lived temporary credentials (STS: 1 h and more) are replaced this long before they expire. */
export const REFRESH_AHEAD_MS = 5 * 60_000;
const RETRY_FIRST_MS = 1_000;
const RETRY_MAX_MS = 60_000;

/**
 * The time to replace credentials obtained at `obtainedAt` that expire at `expiresAt`: 5 min before, or at
 * half their life when they live less than 10 min (a short-lived key still gets a whole half-life of
 * retries before it runs out).
 */
export function refreshAt(obtainedAt: number, expiresAt: number): number {
  const life = Math.max(0, expiresAt - obtainedAt);
  return expiresAt - Math.min(REFRESH_AHEAD_MS, life / 2);
}

/**
 * The wait before retry number `failures` (1 for the first) of a refresh that failed: doubling from 1 s to
 * 1 min, and never later than half the time the credentials in hand have left (so a few tries still fit).
 */
export function retryDelay(failures: number, now: number, expiresAt: number | undefined): number {
  const backoff = Math.min(RETRY_MAX_MS, RETRY_FIRST_MS * 2 ** Math.max(0, failures - 1));
  if (expiresAt === undefined || expiresAt <= now) return backoff;
  return Math.max(100, Math.min(backoff, (expiresAt - now) / 2));
}
