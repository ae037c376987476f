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
 * in one query, so an idle sidecar visits no bucket database. On a Postgres error the last values stay (the
 * flusher reports Postgres health).
 */
export async function refreshPendingGauges(
  sources: PendingGaugeSources,
  metrics: ProxyMetrics,
): Promise<void> {
  const { hints, inventory } = sources;
  let totals;
  try {
    const counted = new Map<string, BucketCounts>();
    for (const bucket of sources.recount) counted.set(bucket, await inventory.hintCounts(bucket));
    await hints.recordCounts(counted);
    totals = await hints.totals(sources.buckets);
  } catch {
    return;
  }
  metrics.mirrorPending.set(totals.pending + sources.pendingInMemory);
  metrics.mirrorParked.set(totals.parked);
  metrics.mirrorLag.set(totals.lagSeconds);
}
