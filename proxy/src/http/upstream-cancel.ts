import { EventEmitter } from 'node:events';

/**
 * Cancels an exchange's upstream request. undici takes an EventEmitter as a request's `signal` (it reads
 * `aborted` and `reason`, and listens once for 'abort'): one costs a fraction of what an AbortController
 * and its AbortSignal cost, and every app request makes one (3.6 % of the bytes a small GET allocates).
 */
export class UpstreamCancel extends EventEmitter {
  aborted = false;
  reason: unknown = undefined;

  abort(reason: unknown): void {
    if (this.aborted) return;
    this.aborted = true;
    this.reason = reason;
    this.emit('abort');
  }

  /** An AbortSignal that follows this cancel, for the APIs that take only those (the rare failover read). */
  toAbortSignal(): AbortSignal {
    if (this.aborted) return AbortSignal.abort(this.reason);
    const controller = new AbortController();
    this.once('abort', () => controller.abort(this.reason));
    return controller.signal;
  }
}
