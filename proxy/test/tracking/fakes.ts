import type { WriteEvent } from '../../src/events';
import type { Logger } from '../../src/log';

/** A logger that keeps its lines: [level, message, fields]. */
export function recordingLogger(): { logger: Logger; lines: [string, string, unknown][] } {
  const lines: [string, string, unknown][] = [];
  const at = (level: string) => (message: string, fields?: unknown) => {
    lines.push([level, message, fields]);
  };
  const logger = { error: at('error'), warn: at('warn'), info: at('info'), debug: at('debug') };
  return { logger: logger as unknown as Logger, lines };
}

export const put = (bucket: string, key: string): WriteEvent => ({
  bucket,
  key,
  kind: 'put',
  operation: 'PutObject',
  size: 1,
  acknowledgedAt: new Date(),
});

export const tick = (ms = 0): Promise<void> => new Promise((r) => setTimeout(r, ms));

/**
 * Waits until `done()` holds, looking every few ms: counted in events, not in wall time, which a loaded machine
 * stretches. After `giveUpMs` (before jest's own timeout) it fails with what `state()` shows then.
 */
export async function until(
  done: () => boolean,
  state: () => unknown = () => undefined,
  giveUpMs = 4_000,
): Promise<void> {
  const started = Date.now();
  while (!done()) {
    if (Date.now() - started > giveUpMs)
      throw new Error(`not reached in ${giveUpMs} ms; state: ${JSON.stringify(state())}`);
    await tick(5);
  }
}

/** A promise and the functions that settle it. */
export function deferred<T = void>(): { promise: Promise<T>; resolve(v: T): void; reject(e: unknown): void } {
  let resolve!: (v: T) => void;
  let reject!: (e: unknown) => void;
  const promise = new Promise<T>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}
