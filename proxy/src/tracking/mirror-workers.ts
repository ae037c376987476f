/**
 * The MIRROR_CONCURRENCY copy loops and how they are woken. Only the first polls Postgres every idlePollMs
 * for work no event announced (retries coming due, expired leases, other sidecars' rows); the others sleep
 * until woken, so an idle sidecar costs one claim per poll, not one per worker. Work found by polling wakes
 * one more worker, which does the same, until all are busy or the work runs out.
 */
import { backoffMs } from '../inventory/backoff';
import type { Logger } from '../log';
import { errorText } from '../mirror/s3';
import type { LogThrottle } from './log-throttle';
import type { LoopToken } from './loop-generation';

export interface MirrorWorkersDeps {
  concurrency: number;
  idlePollMs: number;
  /** The buckets whose rows this sidecar mirrors. */
  buckets(): readonly string[];
  postgresHealthy(): boolean;
  /** Mirrors one key held in memory (Postgres down); false when none is ready. */
  copyFromMemory(): Promise<boolean>;
  /** Copies from memory still running (rows wait for them: per-key order). */
  memoryCopiesRunning(): number;
  /** Claims and mirrors one pending row of `bucket`; false when there was none. */
  copyFromRow(bucket: string, onClaimed?: () => void): Promise<boolean>;
  logger: Logger;
  throttle: LogThrottle;
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

export class MirrorWorkers {
  // Idle workers wait here. New work wakes one worker per item, not all: every woken worker runs a claim,
  // and waking all 16 for one write cost more proxy CPU per PUT than the copy itself (bench).
  // `ramp`: the waker found work by polling, which may hide more (retries due, another sidecar's rows).
  private readonly idle = new Set<(ramp: boolean) => void>();
  private cursor = 0;

  constructor(private readonly deps: MirrorWorkersDeps) {}

  /** Wakes up to `items` idle workers. */
  wake(items = Infinity, ramp = false): void {
    let n = 0;
    for (const wake of [...this.idle]) {
      if (n++ >= items) break;
      wake(ramp);
    }
  }

  /** Starts the loops of one start(); they end when `token` is no longer current. */
  start(token: LoopToken): Promise<void>[] {
    return Array.from({ length: Math.max(1, this.deps.concurrency) }, (_, i) => this.worker(i, token));
  }

  private async worker(index: number, token: LoopToken): Promise<void> {
    const { deps } = this;
    const pollMs = index === 0 ? deps.idlePollMs : deps.idlePollMs * 30;
    let dbFailures = 0;
    let ramp = false;
    while (token.current()) {
      if (!deps.postgresHealthy()) {
        if (!(await deps.copyFromMemory())) ramp = await this.waitForWork(deps.idlePollMs);
        continue;
      }
      // A copy from memory may still run; let it end before copying from rows (ordering per key).
      if (deps.memoryCopiesRunning() > 0) {
        await sleep(50);
        continue;
      }
      const list = deps.buckets();
      // Round-robin over buckets: each pass starts one bucket further and visits every bucket once.
      const start = this.cursor++;
      let found = false;
      const onClaimed = ramp ? () => this.wake(1, true) : undefined;
      try {
        for (let i = 0; i < list.length && token.current(); i++) {
          if (await deps.copyFromRow(list[(start + i) % list.length]!, onClaimed)) {
            found = true;
            break;
          }
        }
        dbFailures = 0;
      } catch (err) {
        dbFailures++;
        if (deps.throttle('mirror-postgres')) {
          deps.logger.warn('mirror worker: postgres error', { error: errorText(err) });
        }
        await sleep(backoffMs(dbFailures, { baseMs: 200, maxMs: 5_000 }));
        continue;
      }
      // A loop a stop() gave up on must not wait here for a later start's wake-ups.
      if (!found && token.current()) ramp = await this.waitForWork(pollMs);
    }
  }

  /** Waits for work; true when the worker should itself wake another once it finds some (a ramp-up). */
  private waitForWork(ms: number): Promise<boolean> {
    return new Promise((resolve) => {
      const done = (ramp: boolean): void => {
        clearTimeout(t);
        this.idle.delete(done);
        resolve(ramp);
      };
      const t = setTimeout(() => done(true), ms);
      this.idle.add(done);
    });
  }
}
