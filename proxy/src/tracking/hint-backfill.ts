/**
 * Bucket databases created before the control database (an upgrade) get their work hints once: one
 * sidecar at a time (a lease in the control database) looks at each database without a hint, then records
 * that it is done. Until then every discovery tick tries again (one query while another sidecar holds it).
 */
import type { InventoryPools } from '../inventory/pools';
import type { InventoryRepository } from '../inventory/repository';
import type { WorkHints } from '../inventory/work-hints';
import type { Logger } from '../log';

export interface HintBackfillDeps {
  hints: Pick<
    WorkHints,
    'backfilled' | 'lockBackfill' | 'unlockBackfill' | 'hintedDatabases' | 'backfill' | 'markBackfilled'
  >;
  pools: Pick<InventoryPools, 'listBucketDatabases' | 'bucketOf'>;
  inventory: Pick<InventoryRepository, 'hintCounts'>;
  logger: Logger;
  /** This sidecar's lease owner. */
  owner: string;
}

/** True once the backfill is done (by this sidecar or another). */
export async function backfillHints(deps: HintBackfillDeps): Promise<boolean> {
  const { hints, pools, inventory, logger, owner } = deps;
  if (await hints.backfilled()) return true;
  if (!(await hints.lockBackfill(owner))) return false;
  try {
    if (await hints.backfilled()) return true;
    const hinted = await hints.hintedDatabases();
    let added = 0;
    for (const { db } of await pools.listBucketDatabases()) {
      if (hinted.has(db)) continue;
      const bucket = await pools.bucketOf(db);
      if (bucket === undefined) continue;
      await hints.backfill(bucket, await inventory.hintCounts(bucket));
      added++;
    }
    await hints.markBackfilled();
    logger.info('control database: work hints filled in for existing bucket databases', { databases: added });
    return true;
  } finally {
    await hints.unlockBackfill(owner).catch(() => undefined);
  }
}
