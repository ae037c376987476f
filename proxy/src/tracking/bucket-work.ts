/**
 * This sidecar's side of the control hints (inventory/control-schema.ts): which due buckets it takes,
 * which hint versions it has seen, and when a bucket whose rows ran out gets its hint settled. A bucket
 * this sidecar is writing to keeps its hint due while writes keep coming (settling after every write would
 * cost two statements per write); the poll comes back to it, and once the writes pause it is settled.
 */
import type { InventoryRepository } from '../inventory/repository';
import type { WorkHints } from '../inventory/work-hints';
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
      if (await deps.accepts(row.bucket)) due.push(row.bucket);
    }
    return nextInMs === undefined ? { due } : { due, nextInMs };
  }

  /**
   * After a claim found nothing: the hint becomes what the rows say (next due, or none), unless a mark
   * came after the version this uses, which was read before the rows were counted.
   */
  async settle(bucket: string): Promise<void> {
    const { deps } = this;
    const vouched = this.vouchedAt.get(bucket);
    if (vouched !== undefined && this.now() - vouched < deps.quietMs) return;
    const version = this.versions.get(bucket) ?? (await deps.hints.version(bucket));
    if (version === undefined) return;
    const counts = await deps.inventory.hintCounts(bucket);
    if (!(await deps.hints.settle(bucket, version, counts))) this.versions.delete(bucket);
    else this.vouchedAt.delete(bucket);
  }
}
