import type { InventoryRepository } from '../inventory/repository';
import type { ProxyMetrics } from '../metrics';

/**
 * Refreshes the pending, parked and lag gauges from the inventory of every known bucket. On a Postgres
 * error the last values stay (the flusher reports Postgres health).
 */
export async function refreshPendingGauges(
  inventory: Pick<InventoryRepository, 'pendingStats'>,
  buckets: readonly string[],
  pendingInMemory: number,
  metrics: ProxyMetrics,
): Promise<void> {
  let pending = 0;
  let parked = 0;
  let lag = 0;
  try {
    for (const b of buckets) {
      const s = await inventory.pendingStats(b);
      pending += s.pending;
      parked += s.parked;
      lag = Math.max(lag, s.lagSeconds);
    }
  } catch {
    return;
  }
  metrics.mirrorPending.set(pending + pendingInMemory);
  metrics.mirrorParked.set(parked);
  metrics.mirrorLag.set(lag);
}
