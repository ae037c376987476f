import type { S3Client } from '@aws-sdk/client-s3';

import { staticCredentials, type Side } from '../credentials/source';
import type { ComparedRow, InventoryRepository } from '../inventory/repository';
import type { Logger } from '../log';
import {
  DEFAULT_COPIER_OPTIONS,
  mirrorKey,
  type CopierOptions,
  type CopyClients,
  type MirrorResult,
} from './copier';
import { sameEtag } from '../s3/etag';
import type { MirrorBucketName } from './bucket-name';
import { DEFAULT_DELETE_POLICY, extraOnMirror, type DeletePolicy } from './delete-policy';
import { errorText, isNoSuchBucket } from './s3';
import { s3Sdk } from './s3-sdk';
import { signedS3Http, type ClosableS3Http, type S3Http } from './s3-http';

export type ResyncActionKind = 'copy' | 'delete-on-mirror' | 'fix-row' | 'mark-deleted';

export interface ResyncAction {
  action: ResyncActionKind;
  key: string;
  reason: string;
  done: boolean;
  error?: string;
}

export interface ResyncReport {
  bucket: string;
  /** The bucket compared on the mirror (MIRROR_BUCKET_TEMPLATE). */
  mirrorBucket: string;
  dryRun: boolean;
  counts: { main: number; mirror: number; inventoryRows: number };
  mirrorBucketExisted: boolean;
  actions: ResyncAction[];
}

export interface Listed {
  size: number;
  etag: string;
}

/** An inventory row as the comparison reads it. */
export type Row = ComparedRow;

async function listAll(s3: S3Client, bucket: string): Promise<Map<string, Listed> | undefined> {
  const out = new Map<string, Listed>();
  let token: string | undefined;
  try {
    do {
      const page = await s3.send(
        new (s3Sdk().ListObjectsV2Command)({ Bucket: bucket, ContinuationToken: token }),
      );
      for (const o of page.Contents ?? []) out.set(o.Key!, { size: o.Size ?? 0, etag: o.ETag ?? '' });
      token = page.NextContinuationToken;
    } while (token);
  } catch (err) {
    if (isNoSuchBucket(err)) return undefined;
    throw err;
  }
  // Ceph RGW 16 lists an empty ETag after DeleteObjectTagging although HEAD still has it: ask HEAD.
  for (const [key, listed] of out) {
    if (listed.etag !== '' && listed.etag !== '""') continue;
    const head = await s3
      .send(new (s3Sdk().HeadObjectCommand)({ Bucket: bucket, Key: key }))
      .catch(() => undefined);
    if (head?.ETag) listed.etag = head.ETag;
  }
  return out;
}

/**
 * Is the mirror's copy the same object as main's? Single-part ETags are MD5s of the bytes, so equal ETags
 * and sizes mean equal content on both sides. A multipart ETag ("…-N") depends on the part layout, which the
 * mirror copy does not reproduce; then the copy counts as equal only if the inventory row recorded this
 * very pair (main ETag copied → mirror ETag produced) at the last successful copy. Otherwise: re-copy.
 */
export function sameObject(main: Listed, mirror: Listed | undefined, row: Row | undefined): boolean {
  if (!mirror || mirror.size !== main.size) return false;
  if (!main.etag.includes('-') && sameEtag(mirror.etag, main.etag)) return true;
  return (
    !!row && sameEtag(row.etag ?? undefined, main.etag) && sameEtag(row.mirror_etag ?? undefined, mirror.etag)
  );
}

/**
 * Plans the repairs for one bucket. Pure. A key only the mirror holds is deleted there only as the delete
 * policy allows: with `keep` never (its row is marked deleted, and once it says so the key is left), with
 * `delay` once the row's delete is old enough (before that it is left; a row not yet saying deleted is
 * marked, which starts the delay).
 */
export function planResync(
  main: Map<string, Listed>,
  mirror: Map<string, Listed>,
  rows: Map<string, Row>,
  policy: DeletePolicy = DEFAULT_DELETE_POLICY,
): Omit<ResyncAction, 'done'>[] {
  const plan: Omit<ResyncAction, 'done'>[] = [];
  for (const [key, m] of main) {
    const row = rows.get(key);
    const mi = mirror.get(key);
    if (!sameObject(m, mi, row)) {
      plan.push({ action: 'copy', key, reason: mi ? 'mirror differs from main' : 'missing on mirror' });
    } else if (
      !row ||
      row.deleted ||
      !row.is_backed_up ||
      !sameEtag(row.etag ?? undefined, m.etag) ||
      Number(row.size) !== m.size
    ) {
      plan.push({ action: 'fix-row', key, reason: row ? 'inventory row out of date' : 'no inventory row' });
    }
  }
  for (const key of mirror.keys()) {
    if (main.has(key)) continue;
    const extra = extraOnMirror(policy, rows.get(key));
    if (extra === 'delete-on-mirror') plan.push({ action: 'delete-on-mirror', key, reason: 'not on main' });
    if (extra === 'mark-deleted') {
      const kept = policy.kind === 'keep' ? 'the mirror keeps it' : 'its delete waits out the delay';
      plan.push({ action: 'mark-deleted', key, reason: `not on main (${kept}: MIRROR_DELETE_POLICY)` });
    }
  }
  for (const [key, row] of rows) {
    if (main.has(key) || mirror.has(key)) continue;
    if (!row.deleted || !row.is_backed_up) plan.push({ action: 'mark-deleted', key, reason: 'not on main' });
  }
  return plan;
}

export interface ResyncContext {
  main: S3Client;
  mirror: S3Client;
  /** Main bucket → its mirror bucket (MIRROR_BUCKET_TEMPLATE). */
  mirrorBucket: MirrorBucketName;
  inventory: Pick<InventoryRepository, 'allRows' | 'recordWrite' | 'complete'>;
  logger: Logger;
  copier?: CopierOptions;
  /** MIRROR_DELETE_POLICY (default `mirror`): which keys only the mirror holds may be deleted there. */
  deletePolicy?: DeletePolicy;
  /** The copies' signed requests to main and the mirror; by default made from the SDK clients' settings. */
  http?: { main: S3Http; mirror: S3Http };
}

/** Signed requests to the endpoint `client` was made for, with its region and credentials. */
async function httpOf(client: S3Client, side: Side, logger: Logger): Promise<ClosableS3Http> {
  const endpoint = await client.config.endpoint?.();
  if (!endpoint) throw new Error('resync: the S3 clients need an explicit endpoint');
  const credentials = await client.config.credentials();
  return signedS3Http(
    {
      url: new URL(`${endpoint.protocol}//${endpoint.hostname}${endpoint.port ? `:${endpoint.port}` : ''}`),
      region: await client.config.region(),
      // A snapshot: callers with refreshing credentials pass `http` made from their source (cli/resync.ts).
      credentials: staticCredentials(side, credentials),
    },
    { logger },
  );
}

/**
 * Compares main, mirror and inventory for one bucket and repairs every difference (unless dryRun). Safe to
 * run next to live sidecars: each repair first bumps the row's generation (like a write), then copies what
 * main holds now and completes with the same compare-and-set as the workers.
 */
export async function resyncBucket(
  ctx: ResyncContext,
  bucket: string,
  opts: { dryRun: boolean },
): Promise<ResyncReport> {
  const mainList = await listAll(ctx.main, bucket);
  if (!mainList) throw new Error(`main bucket ${bucket} does not exist`);
  const mirrorBucket = ctx.mirrorBucket(bucket);
  const mirrorListed = await listAll(ctx.mirror, mirrorBucket);
  const mirrorList = mirrorListed ?? new Map<string, Listed>();
  const rows = await ctx.inventory.allRows(bucket);
  const policy = ctx.deletePolicy ?? DEFAULT_DELETE_POLICY;
  const plan = planResync(mainList, mirrorList, rows, policy);
  const report: ResyncReport = {
    bucket,
    mirrorBucket,
    dryRun: opts.dryRun,
    counts: { main: mainList.size, mirror: mirrorList.size, inventoryRows: rows.size },
    mirrorBucketExisted: mirrorListed !== undefined,
    actions: plan.map((p) => ({ ...p, done: false })),
  };
  if (opts.dryRun) return report;

  const own = ctx.http
    ? undefined
    : {
        main: await httpOf(ctx.main, 'main', ctx.logger),
        mirror: await httpOf(ctx.mirror, 'mirror', ctx.logger),
      };
  const http = ctx.http ?? own!;
  const clients: CopyClients = {
    main: { http: http.main },
    mirror: { sdk: ctx.mirror, http: http.mirror },
    mirrorBucket: ctx.mirrorBucket,
    mirrorRegion: await ctx.mirror.config.region(),
  };
  try {
    for (const action of report.actions) {
      try {
        const onMain = mainList.get(action.key);
        // Bumps the generation like a write: a copy racing a newer write then loses the compare-and-set.
        const row = await ctx.inventory.recordWrite(bucket, {
          bucket,
          key: action.key,
          kind: onMain ? 'put' : 'delete',
          operation: `Resync:${action.action}`,
          ...(onMain ? { size: onMain.size, etag: onMain.etag } : {}),
          acknowledgedAt: new Date(),
        });
        let result: MirrorResult;
        if (action.action === 'fix-row') {
          const head = await ctx.main.send(
            new (s3Sdk().HeadObjectCommand)({ Bucket: bucket, Key: action.key }),
          );
          result = {
            exists: true,
            size: head.ContentLength ?? 0,
            etag: head.ETag,
            mirrorEtag: mirrorList.get(action.key)?.etag,
            contentType: head.ContentType,
            lastModified: head.LastModified,
            versionId: head.VersionId,
          };
        } else {
          // Only a planned delete-on-mirror may delete (the plan asked the policy); any other repair that
          // finds the key gone from main leaves the mirror's copy to the policy.
          const copier = ctx.copier ?? DEFAULT_COPIER_OPTIONS;
          const deleteNow = policy.kind === 'mirror' || action.action === 'delete-on-mirror';
          result = await mirrorKey(
            clients,
            bucket,
            action.key,
            deleteNow ? copier : { ...copier, keepMissing: true },
          );
          if (!result.exists && result.kept) {
            if (policy.kind === 'delay') {
              // The row stays pending as recorded: a worker deletes on the mirror once the delay ran out,
              // unless a write of the key comes first.
              action.done = true;
              continue;
            }
            result = { exists: false, kept: mirrorList.has(action.key) };
          }
        }
        await ctx.inventory.complete(bucket, row.id, row.generation, result);
        action.done = true;
      } catch (err) {
        action.error = errorText(err);
        ctx.logger.warn('resync action failed', {
          bucket,
          key: action.key,
          action: action.action,
          error: action.error,
        });
      }
    }
  } finally {
    await Promise.allSettled([own?.main.destroy(), own?.mirror.destroy()]);
  }
  return report;
}
