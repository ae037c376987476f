/**
 * Runs the anti-entropy scan: one page at a time of whichever known bucket is due, within its budget. A
 * bucket not due is looked at again only when its next pass is (one query per bucket per interval when
 * idle); first looks are spread over a minute so a sidecar that knows many buckets does not visit them at once.
 */
import type { AntiEntropySettings } from '../config';
import { backoffMs } from '../inventory/backoff';
import type { Logger } from '../log';
import { errorText } from '../mirror/s3';
import type { LogThrottle } from '../tracking/log-throttle';
import type { LoopToken } from '../tracking/loop-generation';
import type { AntiEntropyScanner } from './anti-entropy';

export interface ScanScheduleDeps {
  scanner: Pick<AntiEntropyScanner, 'scanPage'>;
  settings: AntiEntropySettings;
  buckets(): readonly string[];
  /** Scan only then: Postgres answers, and none of this sidecar's writes are still on their way into it. */
  mayScan(): boolean;
  logger: Logger;
  throttle: LogThrottle;
  random?: () => number;
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

export class ScanSchedule {
  /** When each bucket's scan state is looked at next (a pass not due costs one query per look). */
  private readonly nextLook = new Map<string, number>();

  constructor(private readonly deps: ScanScheduleDeps) {}

  async run(token: LoopToken): Promise<void> {
    const { scanner, settings, logger, throttle } = this.deps;
    const random = this.deps.random ?? Math.random;
    const spreadMs = Math.min(60_000, settings.intervalSeconds * 1000);
    let failures = 0;
    while (token.current()) {
      let worked = false;
      // A delete still queued in this sidecar would look like a difference (it has no LastModified to
      // settle on).
      if (this.deps.mayScan()) {
        for (const bucket of this.deps.buckets()) {
          if (!token.current()) break;
          if (!this.nextLook.has(bucket)) this.nextLook.set(bucket, Date.now() + random() * spreadMs);
          if ((this.nextLook.get(bucket) ?? 0) > Date.now()) continue;
          try {
            const outcome = await scanner.scanPage(bucket);
            failures = 0;
            if (outcome.kind === 'page') worked = true;
            else if (outcome.kind === 'not-due') this.nextLook.set(bucket, Date.now() + outcome.retryInMs);
            else this.nextLook.set(bucket, Date.now() + settings.intervalSeconds * 1000);
          } catch (err) {
            failures++;
            this.nextLook.set(bucket, Date.now() + backoffMs(failures, { baseMs: 1_000, maxMs: 60_000 }));
            if (throttle('scan-failed')) {
              logger.warn('anti-entropy scan: page failed; will retry', { bucket, error: errorText(err) });
            }
          }
        }
      }
      if (!worked) await sleep(1_000);
    }
  }
}
