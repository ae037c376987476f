/**
 * The buckets this sidecar mirrors: those it wrote to, and those whose inventory databases it found on the
 * Postgres server and may take over (takeover.ts). Discovery lists pg_database every scanIntervalMs.
 */
import type { InventoryPools } from '../inventory/pools';
import type { Logger } from '../log';
import { errorText } from '../mirror/s3';
import type { TakeoverPolicy } from './takeover';

export class KnownBuckets {
  private readonly names = new Set<string>();

  constructor(
    private readonly deps: {
      takeover: TakeoverPolicy;
      logger: Logger;
    },
  ) {}

  add(bucket: string): void {
    this.names.add(bucket);
  }

  list(): string[] {
    return [...this.names];
  }

  get size(): number {
    return this.names.size;
  }

  /** Adds buckets with inventory databases that this sidecar may take over. Never throws. */
  async discover(pools: Pick<InventoryPools, 'listBucketDatabases' | 'bucketOf'>): Promise<void> {
    try {
      for (const { db, bucket } of await pools.listBucketDatabases()) {
        const b = bucket ?? (await pools.bucketOf(db).catch(() => undefined));
        if (b === undefined || this.names.has(b)) continue;
        if (await this.deps.takeover.accepts(b)) this.names.add(b);
      }
    } catch (err) {
      this.deps.logger.debug('inventory database scan failed', { error: errorText(err) });
    }
  }
}
