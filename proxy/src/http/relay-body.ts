import type { Readable, Writable } from 'node:stream';

import { countBodyBytes } from '../memory/body-bytes';

const ignore = (): void => undefined;

/**
 * Copies the upstream body to the app, counting bytes. By hand rather than stream.pipeline() through a
 * counting PassThrough: that pipeline's per-request set-up and teardown (an AbortController, an extra
 * stream, errors created to destroy finished streams) measured about a third of the proxy's CPU per small
 * GET. Same contract: resolves once the app has the whole body; a failing upstream body destroys the
 * app's response (so a truncated body is never mistaken for a complete one); an app that goes away
 * destroys the upstream body (freeing the upstream connection). `source` may be paused (see the end).
 */
export function relayBody(
  source: Readable,
  res: Writable,
  onChunk?: (chunk: Buffer) => void,
): Promise<number> {
  return new Promise((resolve, reject) => {
    let copied = 0;
    let settled = false;
    const resume = (): void => void source.resume();
    const settle = (err?: Error): void => {
      if (settled) return;
      settled = true;
      res.off('drain', resume);
      if (err) reject(err);
      else resolve(copied);
    };
    const appGone = (): void => {
      source.destroy();
      settle(new Error('the app went away before the response was complete'));
    };
    // undici emits an error when its body is destroyed early: never let that be unhandled.
    if (res.destroyed) {
      source.on('error', ignore);
      return appGone();
    }
    if (source.destroyed) {
      source.on('error', ignore);
      res.destroy(source.errored ?? undefined);
      return settle(source.errored ?? new Error('the upstream body ended early'));
    }
    source.on('data', (chunk: Buffer) => {
      copied += chunk.length;
      countBodyBytes(chunk.length);
      try {
        onChunk?.(chunk);
      } catch (err) {
        source.destroy(err as Error);
        return;
      }
      if (!res.write(chunk)) source.pause();
    });
    res.on('drain', resume);
    // `on` where `once` would read as well: each of these events comes once at most (settle() ignores a
    // repeat, and the error listener stays for errors after the first), and a once-wrapper per listener is
    // garbage every request makes (allocation profile of small GETs, issue 12).
    source.on('end', () => res.end());
    source.on('error', (err) => {
      res.destroy(err);
      settle(err);
    });
    res.on('finish', () => settle());
    res.on('error', (err) => {
      source.destroy();
      settle(err);
    });
    res.on('close', () => {
      if (!res.writableFinished) appGone();
    });
    // A 'data' listener does not restart a stream paused explicitly, as a response hold leaves one that
    // stopped at its bound. An app still busy with the held bytes gets the rest on 'drain' instead.
    if (!res.writableNeedDrain) source.resume();
  });
}
