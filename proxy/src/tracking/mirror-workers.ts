/**
 * The MIRROR_CONCURRENCY copy loops, the buckets they work on and how they are woken. Buckets become due
 * when this sidecar records writes to them (`add`), or when the control hints say so: one poll loop asks
 * the control database (never the bucket databases) every pollMs, sooner when a notification or a hint
 * coming due says so. Workers sleep until woken; a bucket whose rows run out leaves the due set and its
 * hint is settled. A worker whose completion leased it the bucket's next row copies that row next (and
 * releases it if it stops first). Work found by polling wakes one more worker per claimed row (a ramp-up), so a backlog
 * taken over from another sidecar gets every worker without waking all of them for one row.
 * Each due bucket counts the claims worth making there (`looks`: one per write recorded, one per look at
 * work found elsewhere); a worker claims only where one is left. Without that count, workers behind on
 * several buckets claimed in turn where every row was already leased: claims found nothing, kept the
 * buckets due, and took the CPU the copies needed (the bench's scale scenario, a pod in five buckets).
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { backoffMs } from '../inventory/backoff';
import type { Logger } from '../log';
import { errorText } from '../mirror/s3';
import type { LogThrottle } from './log-throttle';
import type { LoopToken } from './loop-generation';
import type { HeldRow, RowTurn, RowTurnOptions } from './row-mirror';

export interface DueWork {
  due: readonly string[];
  /** When the next hint comes due, if sooner than the next poll. */
  nextInMs?: number;
}

export interface MirrorWorkersDeps {
  concurrency: number;
  /** The poll interval now (shorter while notifications do not arrive). */
  pollMs(): number;
  postgresHealthy(): boolean;
  /** Mirrors one key held in memory (Postgres down); false when none is ready. */
  copyFromMemory(): Promise<boolean>;
  /** Copies from memory still running (rows wait for them: per-key order). */
  memoryCopiesRunning(): number;
  /** Claims (or takes the held row) and mirrors one pending row of `bucket`. */
  copyFromRow(bucket: string, opts: RowTurnOptions): Promise<RowTurn>;
  /** Releases a row a completion leased to a worker that will not copy it. */
  giveBack(bucket: string, held: HeldRow): Promise<void>;
  /** Buckets whose work is due according to the control hints. */
  findDue(): Promise<DueWork>;
  /** The bucket's hint version as this sidecar knows it, read as a look at its rows begins. */
  knownVersion(bucket: string): string | undefined;
  /** `bucket` had no claimable row in a look begun at hint version `lookedAt`: its hint is brought up to date. */
  settle(bucket: string, lookedAt: string | undefined): Promise<void>;
  /**
   * Whether a claim now may take a catch-up row (a backlog's, ClaimedRow.catching_up): a catch-up slot is free
   * (catch-up-slots.ts). Without it, always.
   */
  catchUpSlotFree?(): boolean;
  logger: Logger;
  throttle: LogThrottle;
}

/** A worker with nothing to do sleeps until woken; this only bounds a missed wake-up. */
const IDLE_WAIT_MS = 30_000;

/** A due bucket, as this sidecar's workers see it. */
interface DueBucket {
  /**
   * Sequence number of the latest look owed here (a write, work found, a look again): a worker whose
   * claim found none clears the looks only if unchanged.
   */
  mark: number;
  /** Claims still worth making: rows recorded and not yet claimed, or looks at work found elsewhere. */
  looks: number;
  /** Work came from elsewhere (the poll, an offer): more rows than looks may wait. */
  open: boolean;
  /** Workers in a turn on it. */
  working: number;
  /** Looks that found nothing claimable here (each settles the hint). */
  emptyLooks: number;
  /**
   * A look here was held back: no fresh row was claimable, and catch-up rows were not its worker's to claim
   * (no catch-up slot free). Owed to the next worker that finds a slot free, ahead of chains elsewhere.
   */
  catchUpWaiting: boolean;
}

export class MirrorWorkers {
  // Idle workers wait here. New work wakes one worker per item, not all: every woken worker runs a claim,
  // and waking all 16 for one write cost more proxy CPU per PUT than the copy itself (bench).
  // `ramp`: the work was found by polling, which may hide more (a backlog, retries due).
  private readonly idle = new Set<(ramp: boolean) => void>();
  private readonly due = new Map<string, DueBucket>();
  private sequence = 0;
  private cursor = 0;
  /** Poll loops waiting (one per start; a loop a stop() gave up on may still wait). */
  private readonly pollWaiters = new Set<() => void>();
  private pollRequested = false;

  constructor(private readonly deps: MirrorWorkersDeps) {}

  /**
   * Work is due in `bucket`: `items` rows recorded (at least one look), or, with `ramp`, work found
   * elsewhere whose size is unknown. Wakes up to `items` idle workers.
   */
  add(bucket: string, items = 1, ramp = false): void {
    const entry = this.owe(bucket, Math.max(1, items));
    if (ramp) entry.open = true;
    this.wake(items, ramp);
  }

  /** `looks` more claims are worth making in `bucket`, from now on (a claim already running may miss them). */
  private owe(bucket: string, looks = 1): DueBucket {
    const entry = this.entry(bucket);
    entry.mark = ++this.sequence;
    entry.looks += looks;
    return entry;
  }

  private entry(bucket: string): DueBucket {
    let entry = this.due.get(bucket);
    if (!entry) {
      entry = { mark: 0, looks: 0, open: false, working: 0, emptyLooks: 0, catchUpWaiting: false };
      this.due.set(bucket, entry);
    }
    return entry;
  }

  /** Wakes up to `items` idle workers (all of them, and the poll loop, without an argument); how many woke. */
  wake(items = Infinity, ramp = false): number {
    let n = 0;
    for (const wake of [...this.idle]) {
      if (n >= items) break;
      n++;
      wake(ramp);
    }
    if (items === Infinity) this.pokePolls();
    return n;
  }

  private pokePolls(): void {
    for (const poke of [...this.pollWaiters]) poke();
  }

  /** Looks at the control hints now (a notification came, or some may have been missed). */
  pollNow(): void {
    this.pollRequested = true;
    this.pokePolls();
  }

  get dueBuckets(): number {
    return this.due.size;
  }

  /** Starts the loops of one start(); they end when `token` is no longer current. */
  start(token: LoopToken): Promise<void>[] {
    const workers = Array.from({ length: Math.max(1, this.deps.concurrency) }, () => this.worker(token));
    return [this.pollLoop(token), ...workers];
  }

  /**
   * Takes a look at the next due bucket with one left, round-robin, so one busy bucket does not starve the
   * others; a look held back for want of a catch-up slot counts while one is free.
   */
  private takeLook(): string | undefined {
    const slotFree = this.deps.catchUpSlotFree?.() ?? true;
    const list = [...this.due].filter(([, entry]) => entry.looks > 0 || (slotFree && entry.catchUpWaiting));
    if (list.length === 0) return undefined;
    const [bucket, entry] = list[this.cursor++ % list.length]!;
    if (entry.looks > 0) entry.looks--;
    else entry.catchUpWaiting = false;
    entry.working++;
    return bucket;
  }

  /** A worker's turn on `bucket` ended; a bucket no worker is on and with no look left leaves the due set. */
  private leave(bucket: string): void {
    const entry = this.due.get(bucket);
    if (!entry) return;
    entry.working = Math.max(0, entry.working - 1);
    if (entry.looks === 0 && entry.working === 0 && !entry.catchUpWaiting) this.due.delete(bucket);
  }

  private async worker(token: LoopToken): Promise<void> {
    const { deps } = this;
    let dbFailures = 0;
    let ramp = false;
    /** A row the last completion leased to this worker, with its bucket: copied next. */
    let held: { bucket: string; held: HeldRow } | undefined;
    while (token.current()) {
      if (held && (!deps.postgresHealthy() || deps.memoryCopiesRunning() > 0)) {
        await deps.giveBack(held.bucket, held.held);
        this.owe(held.bucket);
        this.leave(held.bucket);
        held = undefined;
      }
      if (!deps.postgresHealthy()) {
        if (!(await deps.copyFromMemory())) ramp = await this.waitForWork(1_000);
        continue;
      }
      // A copy from memory may still run; let it end before copying from rows (ordering per key).
      if (deps.memoryCopiesRunning() > 0) {
        await sleep(50);
        continue;
      }
      const bucket = held?.bucket ?? this.takeLook();
      if (bucket === undefined) {
        // A loop a stop() gave up on must not wait here for a later start's wake-ups.
        if (token.current()) ramp = await this.waitForWork(IDLE_WAIT_MS);
        continue;
      }
      const { mark, emptyLooks, open } = this.entry(bucket);
      const lookedAt = deps.knownVersion(bucket);
      const opts: RowTurnOptions = {
        claimNext: (holdsCatchUpSlot = false) =>
          token.current() && this.mayClaimNext(bucket, holdsCatchUpSlot),
      };
      // A row found where work came from elsewhere may hide more: one more worker, with a look for it.
      const ramping = ramp && open;
      if (ramping) {
        opts.onClaimed = () => {
          if (this.wake(1, true) > 0) this.entry(bucket).looks++;
        };
      }
      if (held) opts.held = held.held;
      held = undefined;
      try {
        const turn = await deps.copyFromRow(bucket, opts);
        if (turn.kind === 'next') {
          held = { bucket, held: turn.held };
          // Ramping, the row found gave a look to one more worker (onClaimed); else a recorded write's look is used.
          if (!ramping) this.tookNext(bucket);
        } else if (turn.kind === 'settled') this.settled(bucket, emptyLooks);
        // Catch-up rows may be left: a worker with a free slot looks again (settling the hint now would hide them).
        else if (turn.kind === 'held-back') {
          this.entry(bucket).catchUpWaiting = true;
          ramp = false;
        } else if (await this.ranOut(bucket, mark, lookedAt, turn)) ramp = false;
        dbFailures = 0;
      } catch (err) {
        dbFailures++;
        this.owe(bucket); // the look is still owed
        if (deps.throttle('mirror-postgres')) {
          deps.logger.warn('mirror worker: postgres error', { error: errorText(err) });
        }
        await sleep(backoffMs(dbFailures, { baseMs: 200, maxMs: 5_000 }));
      }
      // A worker holding the bucket's next row stays on it.
      if (!held) this.leave(bucket);
    }
    if (held) {
      await deps.giveBack(held.bucket, held.held);
      this.owe(held.bucket); // for the next start's workers
      this.leave(held.bucket);
    }
  }

  /**
   * A completion leased this worker the bucket's next row: a look there is used. With none left, the row
   * is one no look counted (another sidecar's write, a retry come due): more such may wait.
   */
  private tookNext(bucket: string): void {
    const entry = this.entry(bucket);
    if (entry.looks > 0) entry.looks--;
    else entry.open = true;
  }

  /**
   * A row was settled without a look at what is left (a completion that did not claim, a failed copy, a
   * deferred delete). If another worker found the bucket empty while this copy ran (`emptyLooks` then), it
   * settled the hint on this row's lease: one more look once the copy is settled brings the hint up to
   * date. A bucket whose work came from elsewhere gets one more look too: rows no look counts may wait
   * there. A bucket of this sidecar's writes has a look for each; its retries come due through the hints.
   */
  private settled(bucket: string, emptyLooks: number): void {
    const entry = this.entry(bucket);
    if ((entry.emptyLooks !== emptyLooks || entry.open) && entry.looks === 0) this.owe(bucket);
  }

  /**
   * After a turn that found nothing claimable (none, drained): unless a write was recorded during the copy
   * (its look is left), the bucket's looks made before this one are cleared and its hint settled (true).
   */
  private async ranOut(
    bucket: string,
    mark: number,
    lookedAt: string | undefined,
    turn: RowTurn,
  ): Promise<boolean> {
    const entry = this.entry(bucket);
    // The completion's claim found nothing, but a write was recorded during the copy: its look is left.
    if (turn.kind === 'drained' && entry.mark !== mark) return false;
    // A look owed since this one began (a write recorded during an empty claim) is kept.
    if (entry.mark === mark) {
      entry.looks = 0;
      entry.open = false;
    }
    entry.emptyLooks++;
    await this.deps.settle(bucket, lookedAt);
    return true;
  }

  /**
   * May a completion in `bucket` claim its next row for the same worker? Yes when no other bucket has a
   * look left; otherwise the worker turns there (round-robin), unless it is the last one on a bucket with
   * no work known to be left: then the completion's claim is the look that finds the bucket drained, in
   * the same statement, where leaving would cost a claim later. A copy holding a catch-up slot ends its
   * chain when a look elsewhere was held back for want of one: the slot is freed for it.
   */
  private mayClaimNext(bucket: string, holdsCatchUpSlot: boolean): boolean {
    const entry = this.entry(bucket);
    if (holdsCatchUpSlot && [...this.due].some(([other, due]) => other !== bucket && due.catchUpWaiting)) {
      return false;
    }
    if (entry.looks === 0 && entry.working <= 1 && !entry.open) return true;
    for (const [other, due] of this.due) if (other !== bucket && due.looks > 0) return false;
    return true;
  }

  private async pollLoop(token: LoopToken): Promise<void> {
    const { deps } = this;
    let failures = 0;
    while (token.current()) {
      this.pollRequested = false;
      let waitMs = deps.pollMs();
      if (deps.postgresHealthy()) {
        try {
          const found = await deps.findDue();
          for (const bucket of found.due) this.add(bucket, 1, true);
          if (found.nextInMs !== undefined) waitMs = Math.min(waitMs, Math.max(50, found.nextInMs));
          failures = 0;
        } catch (err) {
          failures++;
          waitMs = backoffMs(failures, { baseMs: 500, maxMs: 10_000 });
          if (deps.throttle('mirror-poll')) {
            deps.logger.warn('mirror: looking for due work failed', { error: errorText(err) });
          }
        }
      }
      if (token.current() && !this.pollRequested) await this.pollWait(waitMs);
    }
  }

  private pollWait(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const done = (): void => {
        clearTimeout(t);
        this.pollWaiters.delete(done);
        resolve();
      };
      const t = setTimeout(done, ms);
      this.pollWaiters.add(done);
    });
  }

  /** Waits for work; true when the worker should itself wake another once it finds some (a ramp-up). */
  private waitForWork(ms: number): Promise<boolean> {
    return new Promise((resolve) => {
      const done = (ramp: boolean): void => {
        clearTimeout(t);
        this.idle.delete(done);
        resolve(ramp);
      };
      const t = setTimeout(() => done(false), ms);
      this.idle.add(done);
    });
  }
}
