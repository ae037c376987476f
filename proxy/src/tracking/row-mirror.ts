/**
 * Where a mirrored write is claimed, copied and settled: one pending inventory row at a time.
 * claim (a lease, so one sidecar copies it) → copy main's current state (lease renewed meanwhile) →
 * settle: complete (compare-and-set on the generation claimed; a newer write releases it for a new copy),
 * fail (retry with backoff; park after MIRROR_MAX_ATTEMPTS), or release (stop() cut the copy short).
 * A key main no longer holds is deleted on the mirror, kept there, or its delete deferred, as the delete
 * policy decides (delete-policy.ts): a kept delete completes like a copy (`delete_kept`), a deferred one
 * waits in its row until due.
 */
import type { BackoffPolicy } from '../inventory/backoff';
import { backoffMs } from '../inventory/backoff';
import type { ClaimedRow, InventoryRepository, LeaseOwner } from '../inventory/repository';
import type { Logger } from '../log';
import type { ProxyMetrics } from '../metrics';
import { deleteDelaySeconds, rowMissingAction, type DeletePolicy } from '../mirror/delete-policy';
import { errorText } from '../mirror/s3';
import { observeMirror, type CopyKey } from './key-copier';
import type { LogThrottle } from './log-throttle';
import type { CopyToken, ReplicationStatuses } from './replication-status';
import type { SettleRetry } from './settle-retry';

export interface RowMirrorDeps {
  inventory: Pick<
    InventoryRepository,
    'claim' | 'renewLease' | 'completeOrRelease' | 'deferDelete' | 'release' | 'fail'
  >;
  /** MIRROR_DELETE_POLICY: what a delete on main does to the mirror. */
  deletePolicy: DeletePolicy;
  copyKey(): CopyKey;
  lease(): LeaseOwner;
  leaseSeconds: number;
  retry: BackoffPolicy;
  maxAttempts: number;
  /** Aborted when stop() runs out of time; read at claim time (stop replaces it afterwards). */
  stopSignal(): AbortSignal;
  settle: SettleRetry;
  metrics: ProxyMetrics;
  logger: Logger;
  throttle: LogThrottle;
  /** The replication status reads report for keys this sidecar wrote. */
  statuses?: ReplicationStatuses;
}

export class RowMirror {
  private running = 0;

  constructor(private readonly deps: RowMirrorDeps) {}

  /** Copies running now. */
  get inFlight(): number {
    return this.running;
  }

  /**
   * Claims and mirrors one pending row of the bucket; false when there was none. The bucket's pool is taken
   * only for each query, not for the copy: otherwise every worker copying in another bucket would keep one
   * more pool (and its connections) open, and MIRROR_CONCURRENCY would set the connection budget.
   */
  async mirrorOne(bucket: string, onClaimed?: () => void): Promise<boolean> {
    const { inventory, leaseSeconds } = this.deps;
    const lease = this.deps.lease();
    const row = await inventory.claim(bucket, lease, leaseSeconds);
    if (!row) return false;
    const stopSignal = this.deps.stopSignal();
    const token = this.deps.statuses?.copying(bucket, row.path);
    onClaimed?.();
    const started = Date.now();
    // Decided before the copy: if main no longer holds the key, may the mirror's copy go now?
    const missing = rowMissingAction(this.deps.deletePolicy, row);
    this.running++;
    try {
      let result;
      try {
        const copy = this.deps.copyKey()(bucket, row.path, missing.kind !== 'delete');
        result = await this.renewingLease(bucket, row, lease.owner, copy);
      } catch (err) {
        if (stopSignal.aborted) {
          // Cut short by stop(), not failed: free the row for any sidecar now, without counting an attempt.
          await this.deps.settle.run(() => inventory.release(bucket, row.id, lease.owner));
        } else {
          observeMirror(this.deps.metrics, 'copy', false, started);
          await this.failed(bucket, row, lease.owner, err, token);
        }
        return true;
      }
      if (!result.exists && missing.kind === 'defer') {
        // Not due: the row waits out the delay (a write of the key meanwhile cancels the delete).
        const delay = deleteDelaySeconds(this.deps.deletePolicy);
        await this.deps.settle.run(() => inventory.deferDelete(bucket, row, lease.owner, delay));
        return true;
      }
      const action = result.exists ? 'copy' : result.kept ? 'keep' : 'delete';
      observeMirror(this.deps.metrics, action, true, started);
      await this.deps.settle.run(async () => {
        if (await inventory.completeOrRelease(bucket, row, lease.owner, result)) {
          this.deps.statuses?.settled(bucket, row.path, token, 'COMPLETED');
        }
      });
    } finally {
      this.running--;
    }
    return true;
  }

  private async failed(
    bucket: string,
    row: ClaimedRow,
    owner: string,
    err: unknown,
    token: CopyToken,
  ): Promise<void> {
    const { metrics, logger, throttle, maxAttempts } = this.deps;
    const retryInMs = backoffMs(row.attempts + 1, this.deps.retry);
    // One line per 10 s: during a mirror outage every row fails; each row keeps its own last_error.
    if (throttle('mirror-failed')) {
      logger.warn('mirror failed; will retry', {
        bucket,
        key: row.path,
        attempt: row.attempts + 1,
        error: errorText(err),
      });
    }
    await this.deps.settle.run(async () => {
      const { parked } = await this.deps.inventory.fail(bucket, row.id, owner, {
        error: errorText(err),
        retryInMs,
        maxAttempts,
      });
      if (!parked) return;
      this.deps.statuses?.settled(bucket, row.path, token, 'FAILED');
      metrics.mirrorParkedTotal.inc({ reason: (err as { name?: string }).name ?? 'Error' });
      logger.error('mirror: write parked after too many failed copies; the anti-entropy scan retries it', {
        bucket,
        key: row.path,
        attempts: row.attempts + 1,
        error: errorText(err),
      });
    });
  }

  private async renewingLease<T>(
    bucket: string,
    row: ClaimedRow,
    owner: string,
    work: Promise<T>,
  ): Promise<T> {
    const { inventory, leaseSeconds } = this.deps;
    const every = Math.max(1000, (leaseSeconds * 1000) / 3);
    const t = setInterval(() => {
      inventory.renewLease(bucket, row.id, owner, leaseSeconds).catch(() => undefined);
    }, every);
    try {
      return await work;
    } finally {
      clearInterval(t);
    }
  }
}
