/**
 * Moves queued writes into Postgres: one bucket per transaction, in order, batches of `batchSize`, a flush at
 * most every `lingerMs` while batches are not full (a trickle of writes then costs a statement per few). Its
 * successes and failures are the tracker's view of Postgres health. While a stop() drains, it keeps going
 * until the queue is empty or Postgres fails.
 */
import { performance } from 'node:perf_hooks';
import type { InventoryRepository } from '../inventory/repository';
import type { WorkerVouch } from '../inventory/work-hints';
import { backoffMs } from '../inventory/backoff';
import type { Logger } from '../log';
import type { ProxyMetrics } from '../metrics';
import { errorText } from '../mirror/s3';
import type { LogThrottle } from './log-throttle';
import type { LoopToken } from './loop-generation';
import type { WriteIntake } from './write-intake';

export interface InventoryFlusherDeps {
  intake: WriteIntake;
  inventory: Pick<InventoryRepository, 'recordWrites'>;
  batchSize: number;
  /**
   * A flush starts at least this long after the one before it unless a batch is full, so a steady trickle of
   * writes is recorded a few at a time rather than one statement (and one claim) each. The first write after
   * a quiet spell goes at once.
   */
  lingerMs: number;
  idlePollMs: number;
  /** This sidecar vouches that it mirrors what it records (the bucket's hint says so to the others). */
  vouch(): WorkerVouch;
  metrics: ProxyMetrics;
  logger: Logger;
  throttle: LogThrottle;
  /** Each flush's outcome: Postgres took it, or failed. */
  onHealth(ok: boolean): void;
  /** Rows of `bucket` were recorded (pending) and its hint marked (`version`): there is mirroring to do. */
  onRecorded(bucket: string, count: number, version: string): void;
}

export class InventoryFlusher {
  private wakeWaiter: (() => void) | undefined;
  private backingOff = false;
  private lingering = false;
  private lastFlushAt = -Infinity;

  constructor(private readonly deps: InventoryFlusherDeps) {}

  /** New writes: flush now, unless backing off (that would retry a failing Postgres at the request rate). */
  wake(): void {
    if (this.backingOff) return;
    // While lingering only a full batch matters (the loop would check and wait again: a turn saved).
    if (this.lingering && this.deps.intake.length < this.deps.batchSize) return;
    this.wakeWaiter?.();
  }

  /** Wakes it whatever its state (stop). */
  interrupt(): void {
    this.wakeWaiter?.();
  }

  async run(token: LoopToken, stopping: () => boolean): Promise<void> {
    const { intake, metrics, logger, throttle } = this.deps;
    let failures = 0;
    while ((token.current() || token.draining()) && (!stopping() || intake.length > 0)) {
      if (!stopping()) intake.refillFromJournal(this.deps.batchSize * 10);
      if (intake.length === 0) {
        await this.waitForWork(this.deps.idlePollMs);
        continue;
      }
      const now = performance.now();
      const lingerLeft = this.lastFlushAt + this.deps.lingerMs - now;
      if (lingerLeft > 0 && !stopping() && intake.length < this.deps.batchSize) {
        this.lingering = true;
        await this.waitForWork(lingerLeft);
        this.lingering = false;
        continue;
      }
      this.lastFlushAt = now;
      try {
        await this.flushOnce();
        failures = 0;
        this.deps.onHealth(true);
      } catch (err) {
        failures++;
        metrics.inventoryWriteFailures.inc();
        this.deps.onHealth(false);
        if (throttle('flush-failed')) {
          logger.warn('inventory write failed; will retry', { error: errorText(err), queued: intake.length });
        }
        if (stopping()) return;
        this.backingOff = true;
        await this.waitForWork(backoffMs(failures, { baseMs: 200, maxMs: 5_000 }));
        this.backingOff = false;
      }
    }
  }

  private async flushOnce(): Promise<void> {
    const next = this.deps.intake.nextBatch(this.deps.batchSize);
    if (!next) return;
    const version = await this.deps.inventory.recordWrites(
      next.bucket,
      next.batch.map((q) => q.event),
      this.deps.vouch(),
    );
    // Only now (rows and hint both in Postgres) may the journal forget them.
    this.deps.intake.recorded(next.batch);
    this.deps.onRecorded(next.bucket, next.batch.length, version);
  }

  private waitForWork(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const done = (): void => {
        clearTimeout(t);
        this.wakeWaiter = undefined;
        resolve();
      };
      const t = setTimeout(done, ms);
      this.wakeWaiter = done;
    });
  }
}
