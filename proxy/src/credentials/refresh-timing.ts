/** When to fetch credentials again. Pure. */

/** Long-lived temporary credentials (STS: 1 h and more) are replaced this long before they expire. */
export const REFRESH_AHEAD_MS = 5 * 60_000;
/**
 * Fetched credentials with less than this left are a failed fetch (retried with backoff), never held: an
 * endpoint handing out expired ones (a skewed clock, a stale cache) must not turn into a fetch loop.
 */
export const MIN_LIFE_MS = 10_000;
/** No refresh sooner than this after a fetch (half of MIN_LIFE_MS: never later than expiry for those held). */
export const MIN_REFRESH_DELAY_MS = 5_000;
const RETRY_FIRST_MS = 1_000;
const RETRY_MAX_MS = 60_000;
/** While nothing valid is in hand (at start, or expired), retries stay this close: recovery is quick. */
export const RETRY_MAX_EXPIRED_MS = 10_000;

/** Whether credentials expiring at `expiresAt` live too short from `now` to be held. */
export function expiresTooSoon(now: number, expiresAt: number): boolean {
  return expiresAt - now < MIN_LIFE_MS;
}

/**
 * The time to replace credentials obtained at `obtainedAt` that expire at `expiresAt`: 5 min before, or at
 * half their life when they live less than 10 min (a short-lived key still gets a whole half-life of
 * retries before it runs out); never sooner than MIN_REFRESH_DELAY_MS after they were obtained.
 */
export function refreshAt(obtainedAt: number, expiresAt: number): number {
  const life = Math.max(0, expiresAt - obtainedAt);
  return Math.max(obtainedAt + MIN_REFRESH_DELAY_MS, expiresAt - Math.min(REFRESH_AHEAD_MS, life / 2));
}

/**
 * The wait before retry number `failures` (1 for the first) of a fetch that failed: doubling from 1 s to
 * 1 min, and never later than half the time the credentials in hand have left (so a few tries still fit),
 * but not sooner than 1 s. With nothing valid in hand (`expiresAt` undefined or past) at most 10 s.
 */
export function retryDelay(failures: number, now: number, expiresAt: number | undefined): number {
  const backoff = Math.min(RETRY_MAX_MS, RETRY_FIRST_MS * 2 ** Math.max(0, failures - 1));
  if (expiresAt === undefined || expiresAt <= now) return Math.min(backoff, RETRY_MAX_EXPIRED_MS);
  return Math.max(RETRY_FIRST_MS, Math.min(backoff, (expiresAt - now) / 2));
}
