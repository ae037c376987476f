/**
 * The anti-entropy scan: bucket by bucket, in pages of keys, it compares main's listing with the mirror's
 * and the inventory's rows, and re-queues every difference as an ordinary pending row, so the
 * level-triggered copier repairs it. It finds writes lost before they were journaled, writes made to main
 * behind the proxy's back, and parked rows. One scanner per bucket across all sidecars (a lease in the
 * bucket's database); progress is kept there too, so a pass resumes after a restart, on any sidecar.
 */
import type { AntiEntropySettings } from '../config';
import type { InventoryRepository } from '../inventory/repository';
import type { Logger } from '../log';
import type { ProxyMetrics } from '../metrics';
import type { MirrorBucketName } from '../mirror/bucket-name';
import type { DeletePolicy } from '../mirror/delete-policy';
import type { Listed } from '../mirror/resync';
import { errorText, isNoSuchBucket } from '../mirror/s3';
import { headObject, listObjects } from '../mirror/object-requests';
import type { S3Http } from '../mirror/s3-http';
import { planScanPage, type Requeue, type ScannedObject } from './plan';
import { RateBudget } from './rate-budget';

export interface AntiEntropyDeps {
  /** Main and the mirror over the proxy's signed client (no SDK: see mirror/object-requests.ts). */
  main: S3Http;
  mirror: S3Http;
  /** Main bucket → its mirror bucket (MIRROR_BUCKET_TEMPLATE): the listing compared with main's. */
  mirrorBucket: MirrorBucketName;
  /** The scan's statements of the inventory repository. */
  inventory: ScanInventory;
  owner: string;
  settings: AntiEntropySettings;
  /** MIRROR_DELETE_POLICY: which keys only the mirror holds the scan may re-queue as deletes. */
  deletePolicy?: DeletePolicy;
  metrics: ProxyMetrics;
  logger: Logger;
  /** Called after rows were re-queued (wakes the copiers). */
  onRequeued: (count: number, bucket: string) => void;
  /** Keys per page (one ListObjectsV2 of main). */
  pageSize?: number;
  leaseSeconds?: number;
}

export type ScanInventory = Pick<
  InventoryRepository,
  'takeScan' | 'renewScan' | 'recordScanPage' | 'finishScan' | 'releaseScan' | 'scanRows' | 'requeue'
>;

const DEFAULT_PAGE_SIZE = 1000;
const DEFAULT_SCAN_LEASE_SECONDS = 60;

/** `not-due`: look again in `retryInMs` (the next pass is due then, or another sidecar's lease ends). */
/** A page that cannot be judged safely: it is retried later, nothing is re-queued from it. */
export class ScanPageError extends Error {}

/** S3 lists keys in the byte order of their UTF-8 encoding (as Postgres' COLLATE "C" compares them). */
function keyAfter(a: string, b: string): boolean {
  return Buffer.compare(Buffer.from(a), Buffer.from(b)) > 0;
}

export type PageOutcome =
  { kind: 'not-due'; retryInMs: number } | { kind: 'page' } | { kind: 'pass-complete' };

export class AntiEntropyScanner {
  private readonly budget: RateBudget;
  private readonly pageSize: number;
  private readonly leaseSeconds: number;
  private readonly leased = new Set<string>();

  constructor(private readonly deps: AntiEntropyDeps) {
    this.budget = new RateBudget(deps.settings.requestsPerSecond);
    this.pageSize = deps.pageSize ?? DEFAULT_PAGE_SIZE;
    this.leaseSeconds = deps.leaseSeconds ?? DEFAULT_SCAN_LEASE_SECONDS;
  }

  /** Scans the next page of `bucket` if its pass is under way or due and no other sidecar holds it. */
  async scanPage(bucket: string): Promise<PageOutcome> {
    const { inventory, owner, settings } = this.deps;
    const state = await inventory.takeScan(bucket, owner, this.leaseSeconds, settings.intervalSeconds);
    // Passes completed by any sidecar count (the overdue alert reads this).
    if (state.last_complete != null) {
      this.deps.metrics.scanLastComplete.set({ bucket }, state.last_complete);
      this.deps.metrics.scanNextDue.set({ bucket }, state.last_complete + settings.intervalSeconds);
    }
    if (!state.taken) {
      this.leased.delete(bucket);
      // Another sidecar scans it (look again when its lease would end), or the next pass is not due yet.
      const waitS = Math.max(state.lease_left ?? 0, state.due_in ?? 0, 1);
      return { kind: 'not-due', retryInMs: waitS * 1000 };
    }
    this.leased.add(bucket);
    // A slow page (a budget spent on HEADs) must not outlive the lease: another sidecar would take the
    // bucket, and the two would take it from each other page after page.
    const renew = setInterval(
      () => void inventory.renewScan(bucket, owner, this.leaseSeconds).catch(() => undefined),
      (this.leaseSeconds * 1000) / 3,
    );
    try {
      return await this.comparePage(bucket, state.cursor ?? undefined);
    } finally {
      clearInterval(renew);
    }
  }

  private async comparePage(bucket: string, after: string | undefined): Promise<PageOutcome> {
    const { inventory, owner, settings } = this.deps;
    const settleCutoff = new Date(Date.now() - settings.settleSeconds * 1000);
    const mainPage = await this.listMain(bucket, after);
    const mirror = await this.listMirror(bucket, after, mainPage.upTo);
    const rows = await inventory.scanRows(bucket, { after, upTo: mainPage.upTo }, settings.settleSeconds);
    const plan = (): Requeue[] =>
      planScanPage(mainPage.objects, mirror, rows, settleCutoff, this.deps.deletePolicy);
    let requeues = plan();
    if (await this.addServedKeys(bucket, mainPage.objects, requeues)) requeues = plan();
    if (requeues.length > 0) {
      await inventory.requeue(
        bucket,
        requeues.map((q) => ({ key: q.key, size: q.size, deleted: q.deleted, operation: `Scan:${q.kind}` })),
      );
      const kinds: Record<string, number> = {};
      for (const q of requeues) {
        kinds[q.kind] = (kinds[q.kind] ?? 0) + 1;
        this.deps.metrics.scanDifferences.inc({ kind: q.kind });
      }
      this.deps.logger.warn('anti-entropy scan: differences found and re-queued for mirroring', {
        bucket,
        count: requeues.length,
        kinds,
        keys: requeues.slice(0, 10).map((q) => q.key),
      });
      this.deps.onRequeued(requeues.length, bucket);
    }
    this.deps.metrics.scanObjects.inc(mainPage.objects.size);
    const page = { from: after, objects: mainPage.objects.size, differences: requeues.length };
    if (mainPage.upTo !== undefined) {
      const moved = await inventory.recordScanPage(
        bucket,
        owner,
        { ...page, to: mainPage.upTo },
        this.leaseSeconds,
      );
      if (!moved) throw new ScanPageError(`the scan lease of ${bucket} was lost mid-page`);
      return { kind: 'page' };
    }
    const completed = await inventory.finishScan(bucket, owner, page);
    this.leased.delete(bucket);
    if (completed !== undefined) {
      this.deps.metrics.scanLastComplete.set({ bucket }, completed);
      this.deps.metrics.scanNextDue.set({ bucket }, completed + settings.intervalSeconds);
    }
    return { kind: 'pass-complete' };
  }

  /** Frees the leases this scanner holds (at stop); the cursors stay for whoever continues. */
  async release(): Promise<void> {
    for (const bucket of [...this.leased]) {
      await this.deps.inventory
        .releaseScan(bucket, this.deps.owner)
        .catch((err: unknown) =>
          this.deps.logger.debug('scan lease release failed', { bucket, error: errorText(err) }),
        );
      this.leased.delete(bucket);
    }
  }

  /** One page of main after `after`; `upTo` is its last key, or undefined when the listing ended. */
  private async listMain(
    bucket: string,
    after: string | undefined,
  ): Promise<{ objects: Map<string, ScannedObject>; upTo: string | undefined }> {
    const objects = new Map<string, ScannedObject>();
    await this.budget.take();
    let page;
    try {
      page = await listObjects(this.deps.main, bucket, { startAfter: after, maxKeys: this.pageSize });
    } catch (err) {
      // Never an empty listing: read as "main holds nothing", it would re-queue the whole mirror as deletes
      // (a bucket deleted by mistake, an endpoint misrouted for a while). The page fails and is retried.
      if (isNoSuchBucket(err)) throw new ScanPageError(`main answers NoSuchBucket for ${bucket}`);
      throw err;
    }
    let last: string | undefined;
    for (const o of page.objects) {
      objects.set(o.key, { size: o.size, etag: o.etag, lastModified: o.lastModified });
      last = o.key;
    }
    if (page.isTruncated && last === undefined) {
      throw new ScanPageError(
        `main listed no key of ${bucket} after ${after ?? 'the start'} yet more to come`,
      );
    }
    if (last !== undefined && after !== undefined && !keyAfter(last, after)) {
      throw new ScanPageError(`main's listing of ${bucket} did not move past ${after} (StartAfter ignored?)`);
    }
    await this.fillEmptyEtags(this.deps.main, bucket, objects);
    return { objects, upTo: page.isTruncated ? last : undefined };
  }

  /** The mirror's keys in (after, upTo], listed in main `bucket`'s mirror bucket. */
  private async listMirror(
    mainBucket: string,
    after: string | undefined,
    upTo: string | undefined,
  ): Promise<Map<string, Listed>> {
    const bucket = this.deps.mirrorBucket(mainBucket);
    const out = new Map<string, Listed>();
    let start = after;
    for (;;) {
      await this.budget.take();
      let page;
      try {
        page = await listObjects(this.deps.mirror, bucket, { startAfter: start, maxKeys: this.pageSize });
      } catch (err) {
        if (isNoSuchBucket(err)) return out;
        throw err;
      }
      const contents = page.objects;
      for (const o of contents) {
        if (upTo !== undefined && keyAfter(o.key, upTo)) {
          await this.fillEmptyEtags(this.deps.mirror, bucket, out);
          return out;
        }
        out.set(o.key, { size: o.size, etag: o.etag });
      }
      if (!page.isTruncated || contents.length === 0) break;
      const next = contents[contents.length - 1]!.key;
      // The mirror's page ended on main's last key (a healthy bucket): nothing can lie between; no second
      // listing, which would fetch the next page's keys only to drop them.
      if (next === upTo) break;
      if (start !== undefined && !keyAfter(next, start)) {
        throw new ScanPageError(`the mirror's listing of ${bucket} did not move past ${start}`);
      }
      start = next;
    }
    await this.fillEmptyEtags(this.deps.mirror, bucket, out);
    return out;
  }

  /**
   * A key planned as deleted is asked with HEAD first: main's listing can lack a key main still serves
   * (Ceph RGW's bucket index loses the entry when a PutObject and a DeleteObject of it race, ceph/ceph#55165).
   * Re-queued as a delete, the copier would find it on main and copy it again, and every pass would count
   * the same difference. Served keys join main's page; true when there were any.
   */
  private async addServedKeys(
    bucket: string,
    objects: Map<string, ScannedObject>,
    requeues: readonly Requeue[],
  ): Promise<boolean> {
    const served: string[] = [];
    for (const q of requeues) {
      if (!q.deleted) continue;
      await this.budget.take();
      // Only main's 404 says it does not serve the key; a failed HEAD leaves the page to a later look.
      const head = await headObject(this.deps.main, bucket, q.key).catch((err: unknown) => {
        throw new ScanPageError(`main's HEAD of ${q.key} in ${bucket} failed (${errorText(err)})`);
      });
      if (!head) continue;
      objects.set(q.key, { size: head.size ?? 0, etag: head.etag ?? '', lastModified: head.lastModified });
      served.push(q.key);
    }
    if (served.length > 0) {
      this.deps.logger.warn('anti-entropy scan: main serves keys its listing lacks; judged by HEAD', {
        bucket,
        count: served.length,
        keys: served.slice(0, 10),
      });
    }
    return served.length > 0;
  }

  /** Ceph RGW 16 lists an empty ETag after DeleteObjectTagging although HEAD still has it: ask HEAD. */
  private async fillEmptyEtags(s3: S3Http, bucket: string, listed: Map<string, Listed>): Promise<void> {
    for (const [key, entry] of listed) {
      if (entry.etag !== '' && entry.etag !== '""') continue;
      await this.budget.take();
      const head = await headObject(s3, bucket, key).catch(() => undefined);
      if (head?.etag) entry.etag = head.etag;
    }
  }
}
