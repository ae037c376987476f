export interface BackoffPolicy {
  baseMs: number;
  maxMs: number;
}

/**
 * Capped exponential backoff with "equal jitter": after failure number `attempt` (1-based) wait between
 * half and all of min(max, base * 2^(attempt-1)). Pure; `random` is injectable for tests.
 */
export function backoffMs(
  attempt: number,
  policy: BackoffPolicy,
  random: () => number = Math.random,
): number {
  const n = Math.max(1, Math.floor(attempt));
  const ceiling = Math.min(policy.maxMs, policy.baseMs * 2 ** Math.min(n - 1, 40));
  const half = ceiling / 2;
  return Math.round(half + half * Math.min(1, Math.max(0, random())));
}
