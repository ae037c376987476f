/**
 * This sidecar's side of the control hints (inventory/control-schema.ts): which due buckets it takes,
 * which hint versions it has seen, and when a bucket whose rows ran out gets its hint settled. A bucket
 * this sidecar is writing to keeps its hint due while writes keep coming (settling after every write would
 * cost two statements per write); the poll comes back to it, and once the writes pause it is settled.
 * A bucket its workers found with nothing claimable since its hint's version is not claimed again when the
 * poll comes back (that claim would find nothing: a poll's claim per busy bucket per poll is what made
 * statements per write grow with the buckets a pod writes); once quiet it is settled without a claim.
 */
import type { InventoryRepository } from '../inventory/repository';
import type { BucketCounts, WorkHints } from '../inventory/work-hints';
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
  /** Hints looked at per poll. */
  pollLimit?: number;
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
  private readonly now: () => number;

  constructor(private readonly deps: BucketWorkDeps) {
    this.now = deps.now ?? Date.now;
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
      if (this.clearedAt.get(row.bucket) === row.version && !(await this.claimableAfterSettle(row.bucket)))
        continue;
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
    const vouched = this.vouchedAt.get(bucket);
    if (vouched !== undefined && this.now() - vouched < deps.quietMs) return;
    const version = this.versions.get(bucket) ?? (await deps.hints.version(bucket));
    if (version === undefined) return;
    await this.settleAt(bucket, version);
  }

  /**
   * A bucket due again at the version its workers cleared: nothing to claim while this sidecar's writes
   * keep coming; once quiet, its hint is settled from the counts. True when those still show a pending
   * row (a retry, a lease): the bucket is claimed as usual, which settles it again (no clock is compared
   * here). A failed look leaves it to a claim, whose errors the workers handle.
   */
  private async claimableAfterSettle(bucket: string): Promise<boolean> {
    const vouched = this.vouchedAt.get(bucket);
    if (vouched !== undefined && this.now() - vouched < this.deps.quietMs) return false;
    try {
      const counts = await this.settleAt(bucket, this.versions.get(bucket)!);
      if (counts && counts.nextDue === null) return false;
    } catch {
      // Claimed below instead.
    }
    this.clearedAt.delete(bucket);
    return true;
  }

  /** Counts the rows and settles the hint at `version`; the counts, or undefined when a mark came since. */
  private async settleAt(bucket: string, version: string): Promise<BucketCounts | undefined> {
    const counts = await this.deps.inventory.hintCounts(bucket);
    if (!(await this.deps.hints.settle(bucket, version, counts))) {
      this.versions.delete(bucket);
      this.clearedAt.delete(bucket);
      return undefined;
    }
    this.vouchedAt.delete(bucket);
    return counts;
  }
}
