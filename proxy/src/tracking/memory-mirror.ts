/**
 * Keys to mirror straight from memory while Postgres is unreachable: level-triggered (a key is copied from
 * main's current state, so one entry per key is enough), bounded, and in per-key order (a newer write of a
 * key waits for the copy of that key already running, so an older copy never finishes last and wins).
 */
import type { Logger } from '../log';
import type { ProxyMetrics } from '../metrics';
import { errorText } from '../mirror/s3';
import { observeMirror, type CopyKey } from './key-copier';
import type { LogThrottle } from './log-throttle';

export interface MemoryMirrorItem {
  bucket: string;
  key: string;
}

export class MemoryMirror {
  private readonly waiting = new Map<string, MemoryMirrorItem>();
  private readonly copying = new Set<string>();

  constructor(private readonly limit: number) {}

  /** Adds a key unless the bound is reached; false when it was not added. */
  add(bucket: string, key: string): boolean {
    if (this.waiting.size >= this.limit) return false;
    this.waiting.set(MemoryMirror.id(bucket, key), { bucket, key });
    return true;
  }

  get size(): number {
    return this.waiting.size;
  }

  get inFlight(): number {
    return this.copying.size;
  }

  /** The next key whose previous copy is not running, now marked as copying; undefined when none. */
  take(): (MemoryMirrorItem & { id: string }) | undefined {
    for (const [id, item] of this.waiting) {
      if (this.copying.has(id)) continue;
      this.waiting.delete(id);
      this.copying.add(id);
      return { ...item, id };
    }
    return undefined;
  }

  /** The copy of `id` ended; true when a newer write of the key waited for it. */
  finish(id: string): boolean {
    this.copying.delete(id);
    return this.waiting.has(id);
  }

  private static id(bucket: string, key: string): string {
    return `${bucket}\u0000${key}`;
  }
}

/** Copies keys from a MemoryMirror, one per call. A failed copy is left to the inventory row's retries. */
export class MemoryCopier {
  constructor(
    private readonly deps: {
      keys: MemoryMirror;
      copyKey(): CopyKey;
      /**
       * Whether a key main no longer holds may be deleted on the mirror from memory (MIRROR_DELETE_POLICY
       * is `mirror`). Otherwise the mirror is left alone and the inventory row applies the policy later.
       */
      deletesReachMirror: boolean;
      metrics: ProxyMetrics;
      logger: Logger;
      throttle: LogThrottle;
      /** A newer write of a key waited for its copy to end: a worker should come for it. */
      onWaiting(): void;
    },
  ) {}

  /** Copies the next key; false when none is ready. */
  async copyNext(): Promise<boolean> {
    const { keys, metrics, logger, throttle } = this.deps;
    const item = keys.take();
    if (!item) return false;
    const started = Date.now();
    try {
      const r = await this.deps.copyKey()(item.bucket, item.key, {
        keepMissing: !this.deps.deletesReachMirror,
      });
      if (r.exists || !r.kept) observeMirror(metrics, r.exists ? 'copy' : 'delete', true, started);
    } catch (err) {
      observeMirror(metrics, 'copy', false, started);
      if (throttle('memory-mirror-failed')) {
        logger.warn('mirror from memory failed; the inventory row will retry it', {
          bucket: item.bucket,
          key: item.key,
          error: errorText(err),
        });
      }
    } finally {
      if (keys.finish(item.id)) this.deps.onWaiting();
    }
    return true;
  }
}
