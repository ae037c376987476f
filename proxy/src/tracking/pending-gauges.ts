import type { InventoryRepository } from '../inventory/repository';
import type { BucketCounts, WorkHints } from '../inventory/work-hints';
import type { ProxyMetrics } from '../metrics';

export interface PendingGaugeSources {
  hints: Pick<WorkHints, 'totals' | 'recordCounts'>;
  inventory: Pick<InventoryRepository, 'hintCounts'>;
  /** Buckets this sidecar wrote to since the last refresh: counted again in their databases. */
  recount: readonly string[];
  /** Every bucket this sidecar mirrors: summed from the control hints. */
  buckets: readonly string[];
  pendingInMemory: number;
}

/**
 * Refreshes the pending, parked and lag gauges: the buckets being written are counted in their own
 * databases (and the counts kept in the control hints, all in one statement), the rest read from the hints
 * in one query, so an idle sidecar visits no bucket database. A bucket whose database fails its count keeps
 * its last count, and the others are still counted and the gauges still set: one unreachable bucket
 * database must not freeze the gauges of all. On a Postgres error of the control database the last values
 * stay (the flusher reports Postgres health). Returns the buckets to count again at the next refresh.
 */
export async function refreshPendingGauges(
  sources: PendingGaugeSources,
  metrics: ProxyMetrics,
): Promise<string[]> {
  const { hints, inventory } = sources;
  const counted = new Map<string, BucketCounts>();
  const again: string[] = [];
  for (const bucket of sources.recount) {
    try {
      counted.set(bucket, await inventory.hintCounts(bucket));
    } catch {
      again.push(bucket);
    }
  }
  let totals;
  try {
    await hints.recordCounts(counted);
  } catch {
    return [...sources.recount];
  }
  try {
    totals = await hints.totals(sources.buckets);
  } catch {
    return again;
  }
  metrics.mirrorPending.set(totals.pending + sources.pendingInMemory);
  metrics.mirrorParked.set(totals.parked);
  metrics.mirrorLag.set(totals.lagSeconds);
  return again;
}
