/**
 * The inventory repository: every statement the proxy and its commands run on a bucket's database, with
 * its parameters, typed. Callers name what they want (record these writes, claim a row, complete a copy);
 * the SQL lives here only. Migrations are in schema.ts, database-level statements in pools.ts.
 */
import type { Pool, PoolClient } from 'pg';

import type { WriteEvent } from '../events';
import type { MirrorResult } from '../mirror/copier';
import { DEFAULT_DELETE_POLICY, deleteDelaySeconds, type DeletePolicy } from '../mirror/delete-policy';
import { withClient, type InventoryPools } from './pools';
import type { BucketCounts, WorkerVouch } from './work-hints';

/**
 * Records a batch of writes (no key twice): the function `s3_mirror_record` (schema.ts, migrations 7 and
 * 11), which holds the upsert's semantics. $1–$10 arrays, one element per write (path, deleted, size,
 * content_type, last_modified, etag, version_id, checksums, operation, acknowledged_at); $11 the delete
 * delay in seconds, $12 whether a delete is recorded under MIRROR_DELETE_POLICY=keep (the repository's
 * policy); $13 per write the seconds since main acknowledged it (a put falls due then: one that waited for
 * Postgres longer than the fresh window is a catch-up row). One row per write: its id and new generation.
 */
export const RECORD_SQL = `SELECT * FROM s3_mirror_record($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)`;

/**
 * A pending row that is a delete waiting out its delay (MIRROR_DELETE_POLICY=delay:…): not behind yet, so
 * not counted as pending or in the lag. A failed delete (attempts > 0) waiting for its retry is behind.
 */
const DELAYED_DELETE = `(deleted AND NOT is_backed_up AND attempts = 0 AND next_attempt_at > now())`;

/**
 * How long ago a deleted row's delete was recorded (null for rows that are not deletes). Rows deleted
 * before migration 4 have no deleted_at: they count from their last update.
 */
const DELETED_FOR = `CASE WHEN deleted
    THEN extract(epoch FROM now() - COALESCE(deleted_at, updated_at::timestamptz))::double precision
    END AS deleted_for_seconds`;

/**
 * Claims one pending row for `$1` (owner) for `$2` seconds; `$3` the owner's prefix; `$4` true: only a fresh
 * write (its copy has not failed, and it fell due less than `$5` seconds ago). The claim itself is the function
 * `s3_mirror_claim` (schema.ts, migrations 5, 9 and 10), planned to walk the pending index (or the fresh rows'
 * index) in order.
 */
const CLAIM_SQL = `SELECT * FROM s3_mirror_claim($1, $2, $3, NULL, $4, $5)`;

/**
 * How long a row may have been due and still be a fresh write. Fresh writes are copied within a second or so
 * while the mirror keeps up; a row due for longer belongs to a backlog whether or not a copy of it failed, and
 * is copied as a catch-up copy (it gives way to the app, and takes a catch-up slot).
 */
export const FRESH_WINDOW_SECONDS = 60;

/** Extends a lease while a long copy runs. */
const RENEW_LEASE_SQL = `UPDATE files SET lease_until = now() + make_interval(secs => $3)
WHERE id = $1 AND lease_owner = $2`;

/**
 * A copy's completion, a compare-and-set on the generation claimed, and when it won and an owner is given, the
 * claim the worker would make next: the function `s3_mirror_complete` (schema.ts, migrations 6, 9 and 10). $1 id,
 * $2 generation copied, $3 deleted, $4 size, $5 content_type, $6 last_modified, $7 etag, $8 version_id,
 * $9 mirror_etag, $10 delete kept; $11 owner (null: complete only), $12 lease seconds, $13 owner prefix,
 * $14 fresh rows only and $15 their window (as CLAIM_SQL's $4 and $5).
 * One row: `completed` (0 or 1) and the claimed row's columns, null when none was claimed.
 */
const COMPLETE_SQL = `SELECT * FROM s3_mirror_complete($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)`;

/**
 * A delete not yet due (MIRROR_DELETE_POLICY=delay:…; main no longer holds the key): the row becomes (or
 * stays) a delete, counted from when it was first recorded as one (now, when the row said otherwise), and
 * waits until `$3` seconds after that. Compare-and-set on the generation claimed, like a completion: a
 * write meanwhile wins and the row is released instead. $4 the lease owner.
 */
const DEFER_DELETE_SQL = `UPDATE files SET deleted = TRUE,
    deleted_at = COALESCE(CASE WHEN deleted THEN deleted_at END, now()),
    next_attempt_at = COALESCE(CASE WHEN deleted THEN deleted_at END, now()) + make_interval(secs => $3::double precision),
    pending_since = COALESCE(CASE WHEN deleted THEN deleted_at END, now()) + make_interval(secs => $3::double precision),
    attempts = 0, last_error = NULL, parked_at = NULL, lease_owner = NULL, lease_until = NULL, updated_at = now()
WHERE id = $1 AND generation = $2 AND lease_owner = $4`;

/** Gives the row back after a lost compare-and-set (a newer write arrived): retry at once. */
const RELEASE_SQL = `UPDATE files SET lease_owner = NULL, lease_until = NULL
WHERE id = $1 AND lease_owner = $2`;

/**
 * Records a failed attempt: $3 error, $4 delay in ms. The attempt that reaches $5 attempts parks the row:
 * no more retries until the anti-entropy scan (or a resync) re-queues it.
 */
const FAIL_SQL = `UPDATE files SET lease_owner = NULL, lease_until = NULL, attempts = attempts + 1,
    last_error = $3,
    -- A parked row leaves the front of the pending index (claims would read past every parked row).
    next_attempt_at = CASE WHEN attempts + 1 >= $5 THEN 'infinity'::timestamptz
                           ELSE now() + make_interval(secs => $4::double precision / 1000) END,
    parked_at = CASE WHEN attempts + 1 >= $5 THEN now() END
WHERE id = $1 AND lease_owner = $2
RETURNING parked_at IS NOT NULL AS parked`;

/**
 * What the bucket's control hint should say (work-hints.ts): when the next pending row may be claimed (a
 * leased row once its lease ends, parked rows never), and the counts.
 */
const HINT_COUNTS_SQL = `SELECT
    min(CASE WHEN lease_until > now() THEN GREATEST(next_attempt_at, lease_until) ELSE next_attempt_at END)
        FILTER (WHERE parked_at IS NULL) AS next_due,
    count(*) FILTER (WHERE parked_at IS NULL AND NOT ${DELAYED_DELETE})::bigint AS pending,
    count(*) FILTER (WHERE parked_at IS NOT NULL)::bigint AS parked,
    min(pending_since) FILTER (WHERE NOT ${DELAYED_DELETE}) AS oldest_pending
FROM files WHERE NOT is_backed_up`;

const PARKED_ROWS_SQL = `SELECT path, attempts, last_error, parked_at, pending_since, last_operation
FROM files WHERE parked_at IS NOT NULL ORDER BY parked_at, path LIMIT $1`;

const BUCKET_STATUS_SQL = `SELECT count(*) FILTER (WHERE NOT deleted)::bigint AS objects,
    count(*) FILTER (WHERE NOT is_backed_up AND parked_at IS NULL AND NOT ${DELAYED_DELETE})::bigint AS pending,
    count(*) FILTER (WHERE parked_at IS NOT NULL)::bigint AS parked,
    COALESCE(sum(size) FILTER (WHERE NOT is_backed_up AND NOT deleted), 0)::bigint AS bytes_behind,
    extract(epoch FROM now() - min(pending_since) FILTER (WHERE NOT is_backed_up AND NOT ${DELAYED_DELETE}))::double precision
        AS oldest_pending,
    count(*) FILTER (WHERE NOT is_backed_up AND ${DELAYED_DELETE})::bigint AS delayed_deletes,
    count(*) FILTER (WHERE is_backed_up AND deleted AND delete_kept)::bigint AS kept_deletes
FROM files`;

const SCAN_STATUS_SQL = `SELECT extract(epoch FROM last_complete_at)::double precision AS last_complete,
    last_pass_objects::text AS last_objects, last_pass_differences AS last_differences,
    cursor IS NOT NULL AS in_progress, extract(epoch FROM pass_started_at)::double precision AS pass_started,
    pass_objects::text AS pass_objects
FROM s3_mirror_scan WHERE id = 1`;

const ALL_ROWS_SQL = `SELECT path, size::text, etag, mirror_etag, deleted, is_backed_up, ${DELETED_FOR},
    delete_kept, ${DELAYED_DELETE} AS delete_delayed FROM files`;

/**
 * Takes (or renews) the bucket's scan lease for `$1` for `$2` seconds, if a pass is under way or due (the
 * last ended more than `$3` seconds ago). One scanner per bucket across every sidecar.
 */
const TAKE_SCAN_SQL = `WITH taken AS (
    UPDATE s3_mirror_scan SET lease_owner = $1, lease_until = now() + make_interval(secs => $2),
        pass_started_at = CASE WHEN cursor IS NULL THEN now() ELSE pass_started_at END
    WHERE id = 1
      AND (lease_until IS NULL OR lease_until < now() OR lease_owner = $1)
      AND (cursor IS NOT NULL OR last_complete_at IS NULL
           OR last_complete_at < now() - make_interval(secs => $3))
    RETURNING cursor)
SELECT EXISTS (SELECT 1 FROM taken) AS taken, (SELECT cursor FROM taken) AS cursor,
    extract(epoch FROM last_complete_at)::double precision AS last_complete,
    extract(epoch FROM lease_until - now())::double precision AS lease_left,
    extract(epoch FROM last_complete_at + make_interval(secs => $3) - now())::double precision AS due_in
FROM s3_mirror_scan WHERE id = 1`;

/**
 * Records a page: the pass resumes after `$2` (also after a restart, by any sidecar). Only from the cursor
 * the page started at (`$6`) and under this sidecar's lease: a page that lost its lease changes nothing.
 */
const SCAN_PROGRESS_SQL = `UPDATE s3_mirror_scan SET cursor = $2, pass_objects = pass_objects + $3,
    pass_differences = pass_differences + $4, lease_until = now() + make_interval(secs => $5)
WHERE id = 1 AND lease_owner = $1 AND lease_until > now() AND cursor IS NOT DISTINCT FROM $6`;

const SCAN_RENEW_SQL = `UPDATE s3_mirror_scan SET lease_until = now() + make_interval(secs => $2)
WHERE id = 1 AND lease_owner = $1`;

/** Ends the pass: its totals become the last pass's, the lease is freed. */
const SCAN_DONE_SQL = `UPDATE s3_mirror_scan SET cursor = NULL, last_complete_at = now(),
    last_pass_objects = pass_objects + $2, last_pass_differences = pass_differences + $3,
    pass_objects = 0, pass_differences = 0, lease_owner = NULL, lease_until = NULL
WHERE id = 1 AND lease_owner = $1 AND cursor IS NOT DISTINCT FROM $4
RETURNING extract(epoch FROM last_complete_at)::double precision AS completed`;

const SCAN_RELEASE_SQL = `UPDATE s3_mirror_scan SET lease_owner = NULL, lease_until = NULL
WHERE id = 1 AND lease_owner = $1`;

/** Inventory rows of the key range ($1, $2] in S3's (byte) order; null bounds are open. */
const SCAN_ROWS_SQL = `SELECT path, size::text, etag, mirror_etag, deleted, is_backed_up, ${DELETED_FOR},
    delete_kept, ${DELAYED_DELETE} AS delete_delayed,
    parked_at IS NOT NULL AS parked,
    updated_at > LOCALTIMESTAMP - make_interval(secs => $3) AS recent
FROM files
WHERE ($1::text IS NULL OR path COLLATE "C" > $1) AND ($2::text IS NULL OR path COLLATE "C" <= $2)`;

/**
 * Re-queues one key as a pending row (the copier then makes the mirror and the row match main). The scan's
 * repairs are a backlog, not fresh writes: the row falls due `$5` seconds back (the fresh window), so it is
 * copied as a catch-up copy and fresh-only claims pass over it.
 */
const REQUEUE_SQL = `INSERT INTO files AS f (path, size, content_type, is_backed_up, last_modified, deleted,
    last_operation, generation, attempts, next_attempt_at, pending_since)
VALUES ($1, COALESCE($2, 0), 'application/octet-stream', FALSE, now(), $3, $4, 1, 0,
    now() - make_interval(secs => $5), now())
ON CONFLICT (path) DO UPDATE SET is_backed_up = FALSE, generation = f.generation + 1, attempts = 0,
    last_error = NULL, parked_at = NULL, next_attempt_at = now() - make_interval(secs => $5),
    last_operation = EXCLUDED.last_operation, pending_since = COALESCE(f.pending_since, now()), updated_at = now()`;

/** One key's row as a read failover weighs it (one index lookup on the unique path). */
const KEY_ROW_SQL = `SELECT size::text, etag, mirror_etag, version_id, last_modified, deleted, is_backed_up
FROM files WHERE path = $1`;

/**
 * Writes in order, cut into batches in which no key appears twice (each batch one RECORD_SQL, in order: a
 * key written again starts the next batch, so its row sees its writes one after the other). Pure.
 */
export function upsertBatches(events: readonly WriteEvent[]): WriteEvent[][] {
  const batches: WriteEvent[][] = [];
  let keys = new Set<string>();
  for (const e of events) {
    if (batches.length === 0 || keys.has(e.key)) {
      batches.push([]);
      keys = new Set();
    }
    keys.add(e.key);
    batches.at(-1)!.push(e);
  }
  return batches;
}

/** One write's values: its element of RECORD_SQL's $1–$10. */
function writeValues(e: WriteEvent): unknown[] {
  const deleted = e.kind === 'delete';
  return [
    e.key,
    deleted,
    deleted ? null : (e.size ?? null),
    deleted ? null : (e.contentType ?? null),
    e.acknowledgedAt,
    deleted ? null : (e.etag ?? null),
    e.versionId ?? null,
    deleted || !e.checksums ? null : JSON.stringify(e.checksums),
    e.operation,
    e.acknowledgedAt,
  ];
}

/**
 * The statement that records a batch of writes (no key twice): RECORD_SQL, a column array per value, each
 * write's wait measured at `now` (ms). Pure.
 */
export function upsertStatement(
  events: readonly WriteEvent[],
  policy: DeletePolicy = DEFAULT_DELETE_POLICY,
  now: number = Date.now(),
): { text: string; values: unknown[] } {
  const columns: unknown[][] = Array.from({ length: 10 }, () => []);
  for (const e of events) writeValues(e).forEach((value, i) => columns[i]!.push(value));
  // A clock stepped back would make a wait negative: a write never falls due later than now.
  const waited = events.map((e) => Math.max(0, (now - e.acknowledgedAt.getTime()) / 1000));
  return {
    text: RECORD_SQL,
    values: [...columns, deleteDelaySeconds(policy), policy.kind === 'keep', waited],
  };
}

/** COMPLETE_SQL's $1–$10: the row becomes what main held when it was copied. */
export function completeParams(id: number, generation: string, r: MirrorResult): unknown[] {
  if (!r.exists) return [id, generation, true, null, null, null, null, null, null, r.kept === true];
  return [
    id,
    generation,
    false,
    r.size,
    r.contentType ?? null,
    r.lastModified ?? null,
    r.etag ?? null,
    r.versionId ?? null,
    r.mirrorEtag ?? null,
    false,
  ];
}

/** COMPLETE_SQL's parameters for a completion that claims nothing next. */
function completeOnly(id: number, generation: string, r: MirrorResult): unknown[] {
  return [...completeParams(id, generation, r), null, null, null, null, FRESH_WINDOW_SECONDS];
}

/** What a claim may take. */
export interface ClaimOptions {
  /** Only a fresh write, passing over the rows of a backlog come due ahead of it. */
  freshOnly?: boolean;
  /** A fresh write fell due less than this long ago (default FRESH_WINDOW_SECONDS). */
  freshWindowSeconds?: number;
}

/** A pending row this sidecar leased for copying. */
export interface ClaimedRow {
  id: number;
  path: string;
  /** The generation copied: completion is a compare-and-set on it. */
  generation: string;
  attempts: number;
  /** The row records a delete (main may hold the key again by now: the copy looks). */
  deleted: boolean;
  /** Seconds since the delete was recorded (Postgres' clock); null when the row is not a delete. */
  deleted_for_seconds: number | null;
  /** The delete was recorded (or settled) under MIRROR_DELETE_POLICY=keep: the mirror keeps its copy. */
  delete_kept?: boolean;
  /**
   * The row belongs to a backlog: its copy failed before, or it has been due longer than a fresh write ever
   * is (FRESH_WINDOW_SECONDS). Its copy is a catch-up copy.
   */
  catching_up: boolean;
}

type Nullable<T> = { [K in keyof T]: T[K] | null };

/** COMPLETE_SQL's one row: 1 when the compare-and-set won, and the row claimed next (all null: none). */
type CompleteAnswer = Nullable<ClaimedRow> & { completed: number };

/** The claimed row in a COMPLETE_SQL answer; undefined when its columns are null (none claimed). */
function claimedRowOf(r: Nullable<ClaimedRow>): ClaimedRow | undefined {
  if (r.id === null) return undefined;
  return {
    id: r.id,
    path: r.path ?? '',
    generation: r.generation ?? '0',
    attempts: r.attempts ?? 0,
    // The seed's column allows NULL: such a row is not a delete.
    deleted: r.deleted ?? false,
    deleted_for_seconds: r.deleted_for_seconds,
    ...(r.delete_kept !== null && r.delete_kept !== undefined ? { delete_kept: r.delete_kept } : {}),
    catching_up: r.catching_up === true,
  };
}

/** Who holds a lease: `owner`, and `ownerPrefix`, the part a previous start of the same proxy shares. */
export interface LeaseOwner {
  owner: string;
  ownerPrefix: string;
}

export interface ParkedRow {
  path: string;
  attempts: number;
  last_error: string | null;
  parked_at: Date;
  pending_since: Date | null;
  last_operation: string | null;
}

/** Where a bucket's mirroring stands (`npm run status`). */
export interface BucketStatus {
  /** Objects the inventory holds (not deleted). */
  objects: number;
  /** Writes waiting for their mirror copy (parked ones not included). */
  pending: number;
  parked: number;
  /** Bytes of the objects waiting for their copy. */
  bytesBehind: number;
  /** Age of the oldest write not yet mirrored, in seconds; undefined when none waits. */
  oldestPendingSeconds: number | undefined;
  /** Deletes waiting out MIRROR_DELETE_POLICY's delay (not counted in `pending`). */
  delayedDeletes: number;
  /** Deleted objects the mirror kept (MIRROR_DELETE_POLICY=keep). */
  keptDeletes: number;
  /** The last complete anti-entropy pass (epoch seconds), undefined if none. */
  lastScan: { completedAt: number; objects: number; differences: number } | undefined;
  /** A pass under way (epoch seconds it started, objects so far), undefined if none. */
  scanInProgress: { startedAt: number; objects: number } | undefined;
}

/** A row as the comparisons (resync, scan) read it. */
export interface ComparedRow {
  path: string;
  size: string;
  etag: string | null;
  mirror_etag: string | null;
  deleted: boolean;
  is_backed_up: boolean;
  /** Seconds since the delete was recorded (Postgres' clock); null when the row is not a delete. */
  deleted_for_seconds?: number | null;
  /** The row is a delete settled without deleting on the mirror (MIRROR_DELETE_POLICY=keep). */
  delete_kept?: boolean;
  /** The row is a delete still waiting out the delay it was recorded with (MIRROR_DELETE_POLICY=delay:…). */
  delete_delayed?: boolean;
}

export interface ScannedRow extends ComparedRow {
  parked: boolean;
  /** Changed within the settle window. */
  recent: boolean;
}

/** What the inventory last recorded of one key (a read failover's question). */
export interface KeyRow {
  /** Bytes, as text (BIGINT). */
  size: string;
  /** Main's ETag (quoted, as S3 sends it). */
  etag: string | null;
  /** The mirror's ETag of its copy (differs from main's for a copy uploaded in parts). */
  mirror_etag: string | null;
  /** Main's version id, when main is versioned. */
  version_id: string | null;
  /** Main's Last-Modified once backed up. */
  last_modified: Date;
  deleted: boolean;
  is_backed_up: boolean;
}

export interface ScanLease {
  taken: boolean;
  cursor: string | null;
  last_complete: number | null;
  lease_left: number | null;
  due_in: number | null;
}

/** One key to re-queue: `size` when main holds it, `deleted` when it does not; `operation` names why. */
export interface RequeueItem {
  key: string;
  size: number | undefined;
  deleted: boolean;
  operation: string;
}

export class InventoryRepository {
  /**
   * `pools`: any source of bucket pools and work hints (the tracker passes those of its current start).
   * Every statement that makes rows pending marks the bucket's hint due after it committed.
   */
  constructor(
    private readonly pools: Pick<InventoryPools, 'withBucket' | 'hints'>,
    /** The policy deletes are recorded under (MIRROR_DELETE_POLICY): its delay, and whether it keeps. */
    private readonly deletePolicy: DeletePolicy = DEFAULT_DELETE_POLICY,
  ) {}

  private on<T>(bucket: string, fn: (pool: Pool) => Promise<T>): Promise<T> {
    return this.pools.withBucket(bucket, fn);
  }

  private inTransaction(bucket: string, fn: (client: PoolClient) => Promise<void>): Promise<void> {
    return this.on(bucket, (pool) =>
      withClient(pool, async (client) => {
        try {
          await client.query('BEGIN');
          await fn(client);
          await client.query('COMMIT');
        } catch (err) {
          await client.query('ROLLBACK').catch(() => undefined);
          throw err;
        }
      }),
    );
  }

  /**
   * Records writes of one bucket as pending rows, in order, in one transaction, then marks the bucket due
   * (`vouch`: the recording sidecar mirrors them itself). Returns the hint's version.
   */
  async recordWrites(bucket: string, events: readonly WriteEvent[], vouch?: WorkerVouch): Promise<string> {
    const batches = upsertBatches(events);
    const upsert = (q: Pick<Pool, 'query'>, batch: WriteEvent[]) =>
      q.query(upsertStatement(batch, this.deletePolicy));
    // One batch (the common case: no key written twice since the last flush) is one statement, its own
    // transaction: two round trips fewer than BEGIN … COMMIT.
    if (batches.length === 1) {
      await this.on(bucket, (pool) => upsert(pool, batches[0]!));
    } else if (batches.length > 1) {
      await this.inTransaction(bucket, async (client) => {
        for (const batch of batches) await upsert(client, batch);
      });
    }
    return this.pools.hints.markDue(bucket, vouch);
  }

  /** What the bucket's work hint should say now. */
  async hintCounts(bucket: string): Promise<BucketCounts> {
    const r = await this.on(bucket, (pool) =>
      pool.query<{ next_due: Date | null; pending: string; parked: string; oldest_pending: Date | null }>(
        HINT_COUNTS_SQL,
      ),
    );
    const row = r.rows[0];
    return {
      nextDue: row?.next_due ?? null,
      pending: Number(row?.pending ?? 0),
      parked: Number(row?.parked ?? 0),
      oldestPending: row?.oldest_pending ?? null,
    };
  }

  /** Records one write and returns the row's id and new generation (a resync repair, like a write). */
  async recordWrite(bucket: string, event: WriteEvent): Promise<{ id: number; generation: string }> {
    const r = await this.on(bucket, (pool) =>
      pool.query<{ id: number; generation: string }>(upsertStatement([event], this.deletePolicy)),
    );
    await this.pools.hints.markDue(bucket);
    return r.rows[0]!;
  }

  /**
   * Leases the next pending row that is due, or undefined when there is none. `freshOnly`: only a fresh
   * write (its copy has not failed, due for less than the fresh window); a backlog's rows come due ahead of
   * it are passed over.
   */
  async claim(
    bucket: string,
    lease: LeaseOwner,
    leaseSeconds: number,
    opts: ClaimOptions = {},
  ): Promise<ClaimedRow | undefined> {
    const r = await this.on(bucket, (pool) =>
      pool.query<ClaimedRow>(CLAIM_SQL, [
        lease.owner,
        leaseSeconds,
        lease.ownerPrefix,
        opts.freshOnly === true,
        opts.freshWindowSeconds ?? FRESH_WINDOW_SECONDS,
      ]),
    );
    return r.rows[0];
  }

  async renewLease(bucket: string, id: number, owner: string, leaseSeconds: number): Promise<void> {
    await this.on(bucket, (pool) => pool.query(RENEW_LEASE_SQL, [id, owner, leaseSeconds]));
  }

  /** Marks the row backed up if its generation is still `generation`; false when a newer write came. */
  async complete(bucket: string, id: number, generation: string, result: MirrorResult): Promise<boolean> {
    const r = await this.on(bucket, (pool) =>
      pool.query<CompleteAnswer>(COMPLETE_SQL, completeOnly(id, generation, result)),
    );
    return r.rows[0]?.completed === 1;
  }

  /**
   * Completes, or gives the row back for an immediate retry when a newer write came meanwhile; true when
   * it completed.
   */
  async completeOrRelease(
    bucket: string,
    row: ClaimedRow,
    owner: string,
    result: MirrorResult,
  ): Promise<boolean> {
    return (await this.settleCopy(bucket, row, owner, result)).completed;
  }

  /**
   * Completes like completeOrRelease and, when the compare-and-set won, claims the bucket's next due row
   * for `lease` in the same call: the claim a worker makes after every copy, without a round trip of
   * its own (and, when nothing is left, without an empty claim). `next` undefined: none was claimable then,
   * or the copy lost its compare-and-set (the row was released; nothing was claimed).
   */
  async completeAndClaimNext(
    bucket: string,
    row: ClaimedRow,
    lease: LeaseOwner,
    leaseSeconds: number,
    result: MirrorResult,
    opts: ClaimOptions = {},
  ): Promise<{ completed: boolean; next: ClaimedRow | undefined }> {
    return this.settleCopy(bucket, row, lease.owner, result, {
      ownerPrefix: lease.ownerPrefix,
      leaseSeconds,
      freshOnly: opts.freshOnly === true,
      freshWindowSeconds: opts.freshWindowSeconds ?? FRESH_WINDOW_SECONDS,
    });
  }

  /**
   * The completion call; when `claim` is given, it also leases the next row to `owner` (the one that held this
   * row). A lost compare-and-set releases the row.
   */
  private async settleCopy(
    bucket: string,
    row: ClaimedRow,
    owner: string,
    result: MirrorResult,
    claim?: { ownerPrefix: string; leaseSeconds: number; freshOnly: boolean; freshWindowSeconds: number },
  ): Promise<{ completed: boolean; next: ClaimedRow | undefined }> {
    return this.on(bucket, async (pool) => {
      const params = claim
        ? [
            ...completeParams(row.id, row.generation, result),
            owner,
            claim.leaseSeconds,
            claim.ownerPrefix,
            claim.freshOnly,
            claim.freshWindowSeconds,
          ]
        : completeOnly(row.id, row.generation, result);
      const answer = (await pool.query<CompleteAnswer>(COMPLETE_SQL, params)).rows[0];
      if (answer?.completed !== 1) {
        await pool.query(RELEASE_SQL, [row.id, owner]);
        return { completed: false, next: undefined };
      }
      return { completed: true, next: claim ? claimedRowOf(answer) : undefined };
    });
  }

  /**
   * A delete not yet due: the row waits until `delaySeconds` after its delete was recorded (now, if the
   * row was not a delete), or is given back for an immediate retry when a newer write came meanwhile.
   */
  async deferDelete(bucket: string, row: ClaimedRow, owner: string, delaySeconds: number): Promise<void> {
    await this.on(bucket, async (pool) => {
      const done = await pool.query(DEFER_DELETE_SQL, [row.id, row.generation, delaySeconds, owner]);
      if (!done.rowCount) await pool.query(RELEASE_SQL, [row.id, owner]);
    });
    // No mark: the worker's next claim in the bucket finds nothing due and settles the hint to the next
    // due time, this row's included.
  }

  async release(bucket: string, id: number, owner: string): Promise<void> {
    await this.on(bucket, (pool) => pool.query(RELEASE_SQL, [id, owner]));
    await this.pools.hints.markDue(bucket);
  }

  /** Records a failed copy; the row is parked when this was attempt `maxAttempts`. */
  async fail(
    bucket: string,
    id: number,
    owner: string,
    failure: { error: string; retryInMs: number; maxAttempts: number },
  ): Promise<{ parked: boolean }> {
    const r = await this.on(bucket, (pool) =>
      pool.query<{ parked: boolean }>(FAIL_SQL, [
        id,
        owner,
        failure.error,
        failure.retryInMs,
        failure.maxAttempts,
      ]),
    );
    return { parked: r.rows[0]?.parked ?? false };
  }

  async parkedRows(bucket: string, limit: number): Promise<ParkedRow[]> {
    const r = await this.on(bucket, (pool) => pool.query<ParkedRow>(PARKED_ROWS_SQL, [limit]));
    return r.rows;
  }

  async bucketStatus(bucket: string): Promise<BucketStatus> {
    const [files, scan] = await this.on(bucket, (pool) =>
      Promise.all([
        pool.query<{
          objects: string;
          pending: string;
          parked: string;
          bytes_behind: string;
          oldest_pending: number | null;
          delayed_deletes: string;
          kept_deletes: string;
        }>(BUCKET_STATUS_SQL),
        pool.query<{
          last_complete: number | null;
          last_objects: string | null;
          last_differences: number | null;
          in_progress: boolean;
          pass_started: number | null;
          pass_objects: string;
        }>(SCAN_STATUS_SQL),
      ]),
    );
    const f = files.rows[0]!;
    const s = scan.rows[0];
    return {
      objects: Number(f.objects),
      pending: Number(f.pending),
      parked: Number(f.parked),
      bytesBehind: Number(f.bytes_behind),
      oldestPendingSeconds: f.oldest_pending ?? undefined,
      delayedDeletes: Number(f.delayed_deletes),
      keptDeletes: Number(f.kept_deletes),
      lastScan:
        s?.last_complete != null
          ? {
              completedAt: s.last_complete,
              objects: Number(s.last_objects ?? 0),
              differences: s.last_differences ?? 0,
            }
          : undefined,
      scanInProgress:
        s?.in_progress && s.pass_started != null
          ? { startedAt: s.pass_started, objects: Number(s.pass_objects) }
          : undefined,
    };
  }

  /** Every row of the bucket, by key (resync). */
  async allRows(bucket: string): Promise<Map<string, ComparedRow>> {
    const r = await this.on(bucket, (pool) => pool.query<ComparedRow>(ALL_ROWS_SQL));
    return new Map(r.rows.map((row) => [row.path, row]));
  }

  /** The row of one key, or undefined when the inventory has none. */
  async keyRow(bucket: string, key: string): Promise<KeyRow | undefined> {
    const r = await this.on(bucket, (pool) => pool.query<KeyRow>(KEY_ROW_SQL, [key]));
    return r.rows[0];
  }

  // The anti-entropy scan's state: one row per bucket database (migration 3).

  async takeScan(
    bucket: string,
    owner: string,
    leaseSeconds: number,
    intervalSeconds: number,
  ): Promise<ScanLease> {
    const r = await this.on(bucket, (pool) =>
      pool.query<ScanLease>(TAKE_SCAN_SQL, [owner, leaseSeconds, intervalSeconds]),
    );
    return r.rows[0] ?? { taken: false, cursor: null, last_complete: null, lease_left: null, due_in: null };
  }

  async renewScan(bucket: string, owner: string, leaseSeconds: number): Promise<void> {
    await this.on(bucket, (pool) => pool.query(SCAN_RENEW_SQL, [owner, leaseSeconds]));
  }

  /** Moves the pass's cursor from `from` to `to`; false when the lease was lost meanwhile. */
  async recordScanPage(
    bucket: string,
    owner: string,
    page: { from: string | undefined; to: string; objects: number; differences: number },
    leaseSeconds: number,
  ): Promise<boolean> {
    const r = await this.on(bucket, (pool) =>
      pool.query(SCAN_PROGRESS_SQL, [
        owner,
        page.to,
        page.objects,
        page.differences,
        leaseSeconds,
        page.from ?? null,
      ]),
    );
    return (r.rowCount ?? 0) > 0;
  }

  /** Ends the pass; the completion time (epoch seconds), or undefined when the lease was lost. */
  async finishScan(
    bucket: string,
    owner: string,
    page: { from: string | undefined; objects: number; differences: number },
  ): Promise<number | undefined> {
    const r = await this.on(bucket, (pool) =>
      pool.query<{ completed: number }>(SCAN_DONE_SQL, [
        owner,
        page.objects,
        page.differences,
        page.from ?? null,
      ]),
    );
    return r.rows[0]?.completed;
  }

  async releaseScan(bucket: string, owner: string): Promise<void> {
    await this.on(bucket, (pool) => pool.query(SCAN_RELEASE_SQL, [owner]));
  }

  /** Rows of the key range (after, upTo] in S3's byte order; `recent` marks rows changed within `settleSeconds`. */
  async scanRows(
    bucket: string,
    range: { after: string | undefined; upTo: string | undefined },
    settleSeconds: number,
  ): Promise<Map<string, ScannedRow>> {
    const r = await this.on(bucket, (pool) =>
      pool.query<ScannedRow>(SCAN_ROWS_SQL, [range.after ?? null, range.upTo ?? null, settleSeconds]),
    );
    return new Map(r.rows.map((row) => [row.path, row]));
  }

  /**
   * Re-queues keys as ordinary pending rows, one statement each: no transaction that would hold a page's
   * row locks in key order while a flush holds others in write order (a deadlock). A page half done is
   * re-queued again by the next pass.
   */
  async requeue(bucket: string, items: readonly RequeueItem[]): Promise<void> {
    await this.on(bucket, async (pool) => {
      for (const q of items) {
        await pool.query(REQUEUE_SQL, [q.key, q.size ?? null, q.deleted, q.operation, FRESH_WINDOW_SECONDS]);
      }
    });
    if (items.length > 0) await this.pools.hints.markDue(bucket);
  }
}
