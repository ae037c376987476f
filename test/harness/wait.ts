import http from 'node:http';

/** Thrown from a probe to stop polling at once (e.g. the daemon being waited for has exited). */
export class PollAborted extends Error {}

export const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * Polls `probe` until it returns true (or a value other than false), with a growing interval up to
 * `maxIntervalMs`. Throws `describe()`'s message when `timeoutMs` passes. Not a test assertion: a
 * bring-up guard so a broken environment fails with a message instead of hanging.
 */
export async function pollUntil(
  what: string,
  probe: () => Promise<boolean>,
  opts: { timeoutMs?: number; intervalMs?: number; maxIntervalMs?: number; describe?: () => string } = {},
): Promise<void> {
  const deadline = Date.now() + (opts.timeoutMs ?? 60_000);
  let interval = opts.intervalMs ?? 50;
  let lastError: unknown;
  for (;;) {
    try {
      if (await probe()) return;
    } catch (err) {
      lastError = err;
    }
    if (lastError instanceof PollAborted || Date.now() > deadline) {
      const last = lastError instanceof Error ? `; last error: ${lastError.message}` : '';
      const extra = opts.describe ? `\n${opts.describe()}` : '';
      const why = lastError instanceof PollAborted ? 'gave up' : 'timed out';
      throw new Error(`${why} waiting for ${what}${last}${extra}`);
    }
    await sleep(interval);
    interval = Math.min(interval * 2, opts.maxIntervalMs ?? 500);
  }
}

/** One HTTP GET; resolves with the status code (any status), rejects on connection errors. */
export function httpStatus(url: string, timeoutMs = 2000): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = http.get(url, { timeout: timeoutMs, agent: false }, (res) => {
      res.resume();
      resolve(res.statusCode ?? 0);
    });
    req.on('timeout', () => req.destroy(new Error(`GET ${url} timed out`)));
    req.on('error', reject);
  });
}
