/**
 * Where a mirrored write is claimed, copied and settled: one pending inventory row at a time.
 * claim (a lease, so one sidecar copies it) → copy main's current state (lease renewed meanwhile) →
 * settle: complete (compare-and-set on the generation claimed; a newer write releases it for a new copy),
 * fail (retry with backoff; park after MIRROR_MAX_ATTEMPTS), or release (stop() cut the copy short).
 * A completion may claim the bucket's next row in the same call (`claimNext`): the worker then holds
 * that row and copies it next without a claim of its own, and learns without an empty claim that the
 * bucket had nothing left.
 * A backlog's rows (catch-up rows: their copy failed before, or they have been due longer than a fresh write
 * ever is) are claimed only by workers holding a catch-up slot
 * (catch-up-slots.ts); the others claim fresh rows only, so fresh writes keep workers during a drain.
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
import type { MirrorResult } from '../mirror/copier';
import { errorText } from '../mirror/s3';
import { observeMirror, type CopyKey } from './key-copier';
import type { CatchUpSlot, CatchUpSlots } from './catch-up-slots';
import type { LogThrottle } from './log-throttle';
import type { CopyToken, ReplicationStatuses } from './replication-status';
import type { SettleRetry } from './settle-retry';

export interface RowMirrorDeps {
  inventory: Pick<
    InventoryRepository,
    'claim' | 'renewLease' | 'completeOrRelease' | 'completeAndClaimNext' | 'deferDelete' | 'release' | 'fail'
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
  /** How many workers may copy catch-up rows at once; without it, any claim may take any row. */
  catchUp?: CatchUpSlots;
}

/** A row leased to one worker by a completion's claim, and the lease owner it was claimed as. */
export interface HeldRow {
  row: ClaimedRow;
  owner: string;
  /** A catch-up row's slot, passed on by the completion that claimed it. */
  slot?: CatchUpSlot;
}

/** How one turn on a bucket ended: the worker decides from it where to look next. */
export type RowTurn =
  /** No row was claimable. */
  | { kind: 'none' }
  /** A row was settled (or its settle kept for when Postgres is back), without a look at what is left. */
  | { kind: 'settled' }
  /** A row completed, and its statement found no other row of the bucket claimable. */
  | { kind: 'drained' }
  /** A row completed, and its statement leased the next one to this worker: copy it next. */
  | { kind: 'next'; held: HeldRow }
  /**
   * No fresh row was claimable (by a claim, or by the completion of a copy), and catch-up rows were not
   * this worker's to claim (as many workers as allowed copy them): the bucket may still hold due rows, for
   * the next worker with a catch-up slot free.
   */
  | { kind: 'held-back' };

export interface RowTurnOptions {
  /** Called when a row is leased to this worker (a ramp-up then wakes one more). */
  onClaimed?: () => void;
  /** The row a previous turn's completion leased to this worker: copied without a claim. */
  held?: HeldRow;
  /**
   * Asked as the copy is settled: may the completion claim the bucket's next row (the worker is not
   * stopping, and has no other bucket to turn to or is the last one on this bucket)? Told whether the copy
   * holds a catch-up slot (another bucket may be waiting for one).
   */
  claimNext?: (holdsCatchUpSlot?: boolean) => boolean;
}

const NONE: RowTurn = { kind: 'none' };
const SETTLED: RowTurn = { kind: 'settled' };
const DRAINED: RowTurn = { kind: 'drained' };
const HELD_BACK: RowTurn = { kind: 'held-back' };

/** What one claim may take: with a catch-up slot any row, without one fresh rows only. */
interface ClaimScope {
  slot: CatchUpSlot | undefined;
  freshOnly: boolean;
}

export class RowMirror {
  private running = 0;

  constructor(private readonly deps: RowMirrorDeps) {}

  /** Copies running now. */
  get inFlight(): number {
    return this.running;
  }

  /**
   * Claims (unless it holds one) and mirrors one pending row of the bucket. The bucket's pool is taken
   * only for each query, not for the copy: otherwise every worker copying in another bucket would keep one
   * more pool (and its connections) open, and MIRROR_CONCURRENCY would set the connection budget.
   */
  async mirrorOne(bucket: string, opts: RowTurnOptions = {}): Promise<RowTurn> {
    const { inventory, leaseSeconds } = this.deps;
    const lease = opts.held ? { ...this.deps.lease(), owner: opts.held.owner } : this.deps.lease();
    const scope: ClaimScope = opts.held ? { slot: opts.held.slot, freshOnly: false } : this.claimScope();
    try {
      const row =
        opts.held?.row ??
        (await inventory.claim(bucket, lease, leaseSeconds, { freshOnly: scope.freshOnly }));
      if (!row) return scope.freshOnly ? HELD_BACK : NONE;
      if (!row.catching_up) scope.slot = releasedSlot(scope.slot);
      return await this.mirrorRow(bucket, row, lease, opts, scope);
    } finally {
      // Unless a completion passed it on with the next row (mirrorRow then clears it).
      scope.slot?.release();
    }
  }

  /** A catch-up slot if one is free (any row may be claimed); otherwise a claim of fresh rows only. */
  private claimScope(): ClaimScope {
    const catchUp = this.deps.catchUp;
    if (!catchUp) return { slot: undefined, freshOnly: false };
    const slot = catchUp.tryTake();
    return { slot, freshOnly: slot === undefined };
  }

  private async mirrorRow(
    bucket: string,
    row: ClaimedRow,
    lease: LeaseOwner,
    opts: RowTurnOptions,
    scope: ClaimScope,
  ): Promise<RowTurn> {
    const { inventory } = this.deps;
    const stopSignal = this.deps.stopSignal();
    const token = this.deps.statuses?.copying(bucket, row.path);
    if (!opts.held) opts.onClaimed?.();
    const started = Date.now();
    // Decided before the copy: if main no longer holds the key, may the mirror's copy go now?
    const missing = rowMissingAction(this.deps.deletePolicy, row);
    this.running++;
    try {
      let result;
      try {
        const copy = this.deps.copyKey()(bucket, row.path, {
          keepMissing: missing.kind !== 'delete',
          catchingUp: row.catching_up,
        });
        result = await this.renewingLease(bucket, row, lease.owner, copy);
      } catch (err) {
        if (stopSignal.aborted) {
          // Cut short by stop(), not failed: free the row for any sidecar now, without counting an attempt.
          await this.deps.settle.run(() => inventory.release(bucket, row.id, lease.owner));
        } else {
          observeMirror(this.deps.metrics, 'copy', false, started);
          await this.failed(bucket, row, lease.owner, err, token);
        }
        return SETTLED;
      }
      if (!result.exists && missing.kind === 'defer') {
        // Not due: the row waits out the delay (a write of the key meanwhile cancels the delete).
        const delay = deleteDelaySeconds(this.deps.deletePolicy);
        await this.deps.settle.run(() => inventory.deferDelete(bucket, row, lease.owner, delay));
        return SETTLED;
      }
      const action = result.exists ? 'copy' : result.kept ? 'keep' : 'delete';
      observeMirror(this.deps.metrics, action, true, started);
      const completed = (): void => this.deps.statuses?.settled(bucket, row.path, token, 'COMPLETED');
      if (opts.claimNext?.(scope.slot !== undefined)) {
        const turn = await this.completeAndClaimNext(
          bucket,
          row,
          lease,
          result,
          completed,
          opts.onClaimed,
          scope,
        );
        if (turn) return turn;
      }
      await this.deps.settle.run(async () => {
        if (await inventory.completeOrRelease(bucket, row, lease.owner, result)) completed();
      });
    } finally {
      this.running--;
    }
    return SETTLED;
  }

  /** Gives back a row a completion leased to this worker, which will not copy it (stopping, Postgres down). */
  async giveBack(bucket: string, held: HeldRow): Promise<void> {
    try {
      await this.deps.settle.run(() => this.deps.inventory.release(bucket, held.row.id, held.owner));
    } finally {
      held.slot?.release();
    }
  }

  /**
   * The completion with the next claim; undefined when its statement failed (settled without a claim then).
   * The next claim uses the settled row's catch-up slot, or a free one; without either it takes fresh rows
   * only, and finding none says nothing of the catch-up rows left (held back, not drained).
   */
  private async completeAndClaimNext(
    bucket: string,
    row: ClaimedRow,
    lease: LeaseOwner,
    result: MirrorResult,
    completed: () => void,
    onClaimed: (() => void) | undefined,
    scope: ClaimScope,
  ): Promise<RowTurn | undefined> {
    if (!scope.slot) Object.assign(scope, this.claimScope());
    let answer;
    try {
      answer = await this.deps.inventory.completeAndClaimNext(
        bucket,
        row,
        lease,
        this.deps.leaseSeconds,
        result,
        { freshOnly: scope.freshOnly },
      );
    } catch {
      // Postgres went away: the completion alone is kept for when it is back, as any settle.
      return undefined;
    }
    if (!answer.completed) return SETTLED; // released for a new copy: the next look takes it
    completed();
    if (!answer.next) return scope.freshOnly ? HELD_BACK : DRAINED;
    onClaimed?.();
    const held: HeldRow = { row: answer.next, owner: lease.owner };
    if (answer.next.catching_up) {
      held.slot = scope.slot;
      scope.slot = undefined; // passed on with the row
    }
    return { kind: 'next', held };
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

/** Gives `slot` back (if any); what is left held: none. */
function releasedSlot(slot: CatchUpSlot | undefined): undefined {
  slot?.release();
  return undefined;
}
