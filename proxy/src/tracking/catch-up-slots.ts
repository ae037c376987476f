/**
 * How many of the MIRROR_CONCURRENCY workers may copy catch-up rows at once: the backlog a mirror outage
 * leaves, rows whose copy failed before or that have been due longer than a fresh write ever is (a mirror
 * that hangs fails few of them; repository.ts, FRESH_WINDOW_SECONDS). Claims go by when a row fell due, and that backlog fell due first, so
 * without a limit a write made during a drain waited for every worker to get through the rows ahead of it
 * (held to MIRROR_CATCHUP_BYTES_PER_SECOND while the app is busy). With it, a quarter of the workers (at
 * least one) claim fresh rows only whenever the others are all on catch-up rows; MinIO likewise retries
 * failed replications apart from the workers of new writes.
 *
 * A worker takes a slot before a claim that may return a catch-up row (without one, it claims fresh rows
 * only), gives it back when the row it claimed was fresh or once that row is settled, and passes it on
 * when the completion leases it the next catch-up row.
 */
export interface CatchUpSlot {
  /** Gives the slot back; once, whatever the number of calls. */
  release(): void;
}

/** Catch-up rows copied at once by `concurrency` workers: all but a quarter of them; a single worker, one. */
export function catchUpLimit(concurrency: number): number {
  if (concurrency <= 1) return 1;
  return concurrency - Math.max(1, Math.ceil(concurrency / 4));
}

export class CatchUpSlots {
  private taken = 0;

  constructor(readonly limit: number) {}

  /** A slot if fewer than `limit` are taken; undefined otherwise (the claim then takes fresh rows only). */
  tryTake(): CatchUpSlot | undefined {
    if (!this.anyFree) return undefined;
    this.taken++;
    let held = true;
    return {
      release: () => {
        if (!held) return;
        held = false;
        this.taken--;
      },
    };
  }

  /** Slots taken now. */
  get inUse(): number {
    return this.taken;
  }

  /** Whether a slot is free now (a claim may take a catch-up row). */
  get anyFree(): boolean {
    return this.taken < this.limit;
  }
}
