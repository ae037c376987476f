/**
 * Row updates Postgres could not take after a copy (it went away mid-copy): kept and retried, so the row
 * is settled as soon as Postgres is back instead of staying leased until its lease expires. Bounded;
 * beyond the bound, lease expiry still frees the row.
 */
export class SettleRetry {
  private readonly pending: (() => Promise<void>)[] = [];

  constructor(private readonly max = 10_000) {}

  /** Runs `update`; keeps it for a retry when it fails. */
  async run(update: () => Promise<void>): Promise<void> {
    try {
      await update();
    } catch {
      if (this.pending.length < this.max) this.pending.push(update);
    }
  }

  /** Retries the kept updates in order; stops at the first failure (Postgres still away). */
  async retry(stopping: () => boolean): Promise<void> {
    for (let n = this.pending.length; n > 0 && !stopping(); n--) {
      const update = this.pending.shift()!;
      try {
        await update();
      } catch {
        this.pending.push(update);
        return;
      }
    }
  }

  get size(): number {
    return this.pending.length;
  }
}
