/**
 * This sidecar's side of the control hints (inventory/control-schema.ts): which due buckets it takes,
 * which hint versions it has seen, and when a bucket whose rows ran out gets its hint settled. A bucket
 * this sidecar is writing to keeps its hint due while writes keep coming (settling after every write would
 * cost two statements per write); the poll comes back to it, and once the writes pause it is settled.
 * A bucket its workers found with nothing claimable since its hint's version is not claimed again when the
 * poll comes back (that claim would find nothing: a poll's claim per busy bucket per poll is what made
 * statements per write grow with the buckets a pod writes); once quiet it is settled without a claim, in
 * the background (the poll itself reads only the control database), and offered to the workers if the
 * settle leaves it due (a retry came due, a lease ended).
 */
import { performance } from 'node:perf_hooks';

import type { InventoryRepository } from '../inventory/repository';
import type { SettleOutcome, WorkHints } from '../inventory/work-hints';
import type { DueWork } from './mirror-workers';

export interface BucketWorkDeps {
  hints: Pick<WorkHints, 'due' | 'version' | 'settle'>;
  inventory: Pick<InventoryRepository, 'hintCounts'>;
  owner(): string;
  /**
   * A bucket this sidecar marked less than this long ago keeps its hint when its rows run out: the next
   * write is likely to come before the hint would matter (and the poll comes back to it).
   */
  quietMs: number;
  /** May this sidecar work on the bucket (written here, or taken over)? */
  accepts(bucket: string): Promise<boolean>;
  /** Buckets it must not be offered (their main refused them). */
  refused(): readonly string[];
  /** A bucket a settle outside a claim left due: handed to the workers. */
  offer(bucket: string): void;
  /** Hints looked at per poll. */
  pollLimit?: number;
  /** Monotonic milliseconds (a wall clock stepped back would hold a bucket's quiet period open). */
  now?: () => number;
}

export class BucketWork {
  private readonly versions = new Map<string, string>();
  /**
   * The hint version up to which a look by this sidecar's workers found nothing claimable: every row made
   * pending by a mark up to it was committed before that look's last claim (marks follow their commits).
   */
  private readonly clearedAt = new Map<string, string>();
  private readonly vouchedAt = new Map<string, number>();
  private readonly recounts = new Set<string>();
  /** Buckets settling in the background after a poll. */
  private readonly settling = new Set<string>();
  private readonly now: () => number;

  constructor(private readonly deps: BucketWorkDeps) {
    this.now = deps.now ?? (() => performance.now());
  }

  /** This sidecar recorded writes to `bucket` and marked it due, vouching; `version` is the hint's. */
  recorded(bucket: string, version: string): void {
    this.versions.set(bucket, version);
    this.vouchedAt.set(bucket, this.now());
    this.recounts.add(bucket);
  }

  /** Buckets written since the last call: their counts are refreshed for the gauges. */
  takeRecounts(): string[] {
    const list = [...this.recounts];
    this.recounts.clear();
    return list;
  }

  /** Buckets whose count failed: counted again at the next refresh. */
  recountLater(buckets: readonly string[]): void {
    for (const bucket of buckets) this.recounts.add(bucket);
  }

  /** The hint version this sidecar knows; read when a look at the rows begins, and given to settle(). */
  knownVersion(bucket: string): string | undefined {
    return this.versions.get(bucket);
  }

  async findDue(): Promise<DueWork> {
    const { deps } = this;
    const rows = await deps.hints.due(deps.owner(), deps.pollLimit ?? 256, deps.refused());
    const due: string[] = [];
    let nextInMs: number | undefined;
    for (const row of rows) {
      if (row.dueInSeconds > 0) {
        nextInMs = row.dueInSeconds * 1000;
        break;
      }
      this.versions.set(row.bucket, row.version);
      if (this.clearedAt.get(row.bucket) === row.version) {
        this.settleWhenQuiet(row.bucket, row.version);
        continue;
      }
      if (await deps.accepts(row.bucket)) due.push(row.bucket);
    }
    return nextInMs === undefined ? { due } : { due, nextInMs };
  }

  /**
   * After a claim found nothing: the hint becomes what the rows say (next due, or none), unless a mark
   * came after the version this uses, which was read before the rows were counted. `lookedAt`: the
   * version known when the look began (knownVersion); if no other is known since, the poll leaves the
   * bucket unclaimed until a newer mark.
   */
  async settle(bucket: string, lookedAt?: string): Promise<void> {
    const { deps } = this;
    if (lookedAt !== undefined && lookedAt === this.versions.get(bucket))
      this.clearedAt.set(bucket, lookedAt);
    if (!this.quiet(bucket)) return;
    const version = this.versions.get(bucket) ?? (await deps.hints.version(bucket));
    if (version === undefined) return;
    await this.settleAt(bucket, version);
  }

  /**
   * A bucket due again at the version its workers cleared: nothing to claim while this sidecar's writes
   * keep coming; once quiet, its hint is settled from the counts, in the background. If that leaves it due
   * now (by the server's clock), it is offered to the workers; a settle that fails or loses to a newer mark
   * leaves it to the next poll's claim, whose errors the workers handle.
   */
  private settleWhenQuiet(bucket: string, version: string): void {
    if (!this.quiet(bucket) || this.settling.has(bucket)) return;
    this.settling.add(bucket);
    void this.settleAt(bucket, version)
      .then(async (outcome) => {
        if (outcome === 'due' && (await this.deps.accepts(bucket))) this.deps.offer(bucket);
      })
      .catch(() => this.clearedAt.delete(bucket))
      .finally(() => this.settling.delete(bucket));
  }

  /** This sidecar last marked the bucket at least quietMs ago, or never. */
  private quiet(bucket: string): boolean {
    const vouched = this.vouchedAt.get(bucket);
    return vouched === undefined || this.now() - vouched >= this.deps.quietMs;
  }

  /**
   * Counts the rows and settles the hint at `version`. A hint lost to a newer mark, or left due (a row came
   * due between the claim and the count), is no longer cleared: the next poll offers it for a claim.
   */
  private async settleAt(bucket: string, version: string): Promise<SettleOutcome> {
    const counts = await this.deps.inventory.hintCounts(bucket);
    const outcome = await this.deps.hints.settle(bucket, version, counts);
    if (outcome !== 'not-due') this.clearedAt.delete(bucket);
    if (outcome === 'lost') this.versions.delete(bucket);
    else this.vouchedAt.delete(bucket);
    return outcome;
  }
}
