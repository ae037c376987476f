/**
 * Runs the anti-entropy scan: one page at a time of whichever known bucket is due, within its budget. Which
 * buckets may be due comes from the control hints (one query per look, whatever the number of buckets);
 * only those are looked at in their own databases, and what the look says (next pass in so long, another
 * sidecar's lease ends then) goes back into the hints for every sidecar.
 */
import { setTimeout as sleep } from 'node:timers/promises';
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
  /** Of `buckets`, those whose pass may be due (control hints). */
  dueScans(buckets: readonly string[]): Promise<string[]>;
  /** Records that the bucket's scan needs no look before `inMs`. */
  scanDueIn(bucket: string, inMs: number): Promise<void>;
  /** Scan only then: Postgres answers, and none of this sidecar's writes are still on their way into it. */
  mayScan(): boolean;
  /** How long to wait when no page was scanned. */
  idleMs?: number;
  logger: Logger;
  throttle: LogThrottle;
}

export const DEFAULT_SCAN_IDLE_MS = 10_000;

export class ScanSchedule {
  /** Buckets whose last looks failed: how many in a row, and until when they are left alone. */
  private readonly failing = new Map<string, { failures: number; until: number }>();

  constructor(private readonly deps: ScanScheduleDeps) {}

  async run(token: LoopToken): Promise<void> {
    const { deps } = this;
    let failures = 0;
    while (token.current()) {
      let busy = false;
      // A delete still queued in this sidecar would look like a difference (it has no LastModified to
      // settle on).
      if (deps.mayScan()) {
        try {
          busy = await this.scanDue(token);
          failures = 0;
        } catch (err) {
          failures++;
          if (deps.throttle('scan-failed')) {
            deps.logger.warn('anti-entropy scan: looking for due passes failed; will retry', {
              error: errorText(err),
            });
          }
          await sleep(backoffMs(failures, { baseMs: 1_000, maxMs: 60_000 }));
          continue;
        }
      }
      if (!busy) await sleep(this.idleMs());
    }
  }

  /** Short scan intervals (tests, small buckets) are looked at often enough to keep them. */
  private idleMs(): number {
    return (
      this.deps.idleMs ??
      Math.min(DEFAULT_SCAN_IDLE_MS, Math.max(500, this.deps.settings.intervalSeconds * 500))
    );
  }

  /** One page (or one look) of each bucket that is due; false when none was. */
  private async scanDue(token: LoopToken): Promise<boolean> {
    const { deps } = this;
    const now = Date.now();
    const candidates = deps.buckets().filter((b) => (this.failing.get(b)?.until ?? 0) <= now);
    if (candidates.length === 0) return false;
    const due = await deps.dueScans(candidates);
    for (const bucket of due) {
      if (!token.current()) break;
      try {
        const outcome = await deps.scanner.scanPage(bucket);
        this.failing.delete(bucket);
        if (outcome.kind === 'page') continue;
        if (outcome.kind === 'not-due') await deps.scanDueIn(bucket, Math.max(1_000, outcome.retryInMs));
        else await deps.scanDueIn(bucket, deps.settings.intervalSeconds * 1000);
      } catch (err) {
        const failures = (this.failing.get(bucket)?.failures ?? 0) + 1;
        const until = Date.now() + backoffMs(failures, { baseMs: 1_000, maxMs: 60_000 });
        this.failing.set(bucket, { failures, until });
        if (deps.throttle('scan-failed')) {
          deps.logger.warn('anti-entropy scan: page failed; will retry', { bucket, error: errorText(err) });
        }
      }
    }
    return due.length > 0;
  }
}
