/**
 * The buckets this sidecar mirrors: those it wrote to, and those the control hints name that it may take
 * over (takeover.ts). Discovery reads the hints' bucket list every scanIntervalMs: one query on the control
 * database, whatever the number of bucket databases.
 */
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

  /** Known, or newly accepted by the takeover policy (then known). */
  async accepts(bucket: string): Promise<boolean> {
    if (this.names.has(bucket)) return true;
    if (!(await this.deps.takeover.accepts(bucket))) return false;
    this.names.add(bucket);
    return true;
  }

  /** Adds the buckets named by `list` that this sidecar may take over. Never throws. */
  async discover(list: () => Promise<readonly string[]>): Promise<void> {
    try {
      for (const bucket of await list()) await this.accepts(bucket);
    } catch (err) {
      this.deps.logger.debug('bucket discovery failed', { error: errorText(err) });
    }
  }
}
