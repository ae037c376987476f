/**
 * Which buckets found by the inventory scan this sidecar may work on. Sidecars whose main S3 differs (another
 * account or endpoint) can share one Postgres server; such a sidecar would read its own main's 404 as a
 * deletion, delete the object on its mirror and mark the row deleted. So a scanned bucket that was not
 * written through this sidecar is taken over only when ALLOWED_BUCKETS (if set) names it and this sidecar's
 * main answers HeadBucket for it.
 */

/** What main said about a bucket: serves it, refused it (403/404/301), or could not be asked. */
export type BucketAnswer = 'serves' | 'refuses' | 'unknown';

export interface TakeoverOptions {
  allowedBuckets: readonly string[];
  askMain: (bucket: string) => Promise<BucketAnswer>;
  /** A bucket main refused is asked again after this long (it may be created, or access granted). */
  recheckRefusedMs: number;
  /** Called when main has just refused a bucket (not on every later skip). */
  onRefused?: (bucket: string) => void;
  now?: () => number;
}

export const DEFAULT_RECHECK_REFUSED_MS = 10 * 60_000;

export class TakeoverPolicy {
  private readonly refusedAt = new Map<string, number>();
  private readonly now: () => number;

  constructor(private readonly opts: TakeoverOptions) {
    this.now = opts.now ?? Date.now;
  }

  /** True when the sidecar may claim the bucket's pending rows. */
  async accepts(bucket: string): Promise<boolean> {
    if (this.opts.allowedBuckets.length > 0 && !this.opts.allowedBuckets.includes(bucket)) return false;
    const refused = this.refusedAt.get(bucket);
    if (refused !== undefined && this.now() - refused < this.opts.recheckRefusedMs) return false;
    const answer = await this.opts.askMain(bucket).catch((): BucketAnswer => 'unknown');
    if (answer === 'serves') {
      this.refusedAt.delete(bucket);
      return true;
    }
    // 'unknown' (main unreachable): not now, ask again at the next scan.
    if (answer === 'refuses') {
      this.refusedAt.set(bucket, this.now());
      this.opts.onRefused?.(bucket);
    }
    return false;
  }

  /** Buckets main refused and that are not yet due to be asked again. */
  refusedBuckets(): string[] {
    const now = this.now();
    return [...this.refusedAt].filter(([, at]) => now - at < this.opts.recheckRefusedMs).map(([b]) => b);
  }

  /** How many buckets main refused (their names are other apps' business: not in the status). */
  refusedCount(): number {
    return this.refusedAt.size;
  }
}
