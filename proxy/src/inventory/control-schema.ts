/**
 * The control database (`s3_mirror`): one small table that says which buckets have mirroring to do and
 * when, so a sidecar finds work without visiting every bucket database. It is a hint: the `files` rows stay
 * the record. A hint can only be lowered (cleared, or moved later) by a statement that names the version it
 * read before looking at the rows, and every statement that makes rows pending bumps the version after its
 * commit, so a write can never hide behind a hint cleared by a look that missed it. Pure data.
 */
import type { Migration } from './schema';

/** Cannot collide with a bucket's database: those are `s3_mirror_` followed by at least three characters. */
export const CONTROL_DATABASE = 's3_mirror';

/** The channel a bucket's name is sent on when its work becomes due and no live writer looks after it. */
export const WORK_CHANNEL = 's3_mirror_work';

export const CONTROL_MIGRATIONS: readonly Migration[] = [
  {
    version: 1,
    name: 'mirror work hints',
    sql: `CREATE TABLE IF NOT EXISTS mirror_work (
    bucket TEXT PRIMARY KEY,
    db TEXT NOT NULL,
    -- Pending rows may be claimable from this moment on; NULL: none pending (as last looked).
    due_at TIMESTAMPTZ,
    version BIGINT NOT NULL DEFAULT 0,
    -- The sidecar that last recorded writes here mirrors them itself until worker_until.
    worker TEXT,
    worker_until TIMESTAMPTZ,
    -- As last counted in the bucket's database (for gauges and status without visiting every database).
    pending BIGINT NOT NULL DEFAULT 0,
    parked BIGINT NOT NULL DEFAULT 0,
    oldest_pending TIMESTAMPTZ,
    counted_at TIMESTAMPTZ,
    -- When the bucket's next anti-entropy pass is due (the scan state itself stays in its database).
    scan_due_at TIMESTAMPTZ,
    created_at TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS mirror_work_due_idx ON mirror_work (due_at) WHERE due_at IS NOT NULL;
CREATE TABLE IF NOT EXISTS control_state (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    backfilled_at TIMESTAMPTZ
);
INSERT INTO control_state (id) VALUES (1) ON CONFLICT (id) DO NOTHING;
CREATE OR REPLACE FUNCTION mirror_work_notify() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    -- Only work nobody looks after: a live writer mirrors its own writes without being told.
    IF NEW.due_at IS NOT NULL AND NEW.due_at <= now()
       AND (NEW.worker_until IS NULL OR NEW.worker_until < now())
       AND (TG_OP = 'INSERT' OR OLD.due_at IS NULL OR OLD.due_at > now()
            OR (OLD.worker_until IS NOT NULL AND OLD.worker_until >= now())) THEN
        PERFORM pg_notify('${WORK_CHANNEL}', NEW.bucket);
    END IF;
    RETURN NULL;
END $$;
DROP TRIGGER IF EXISTS mirror_work_notify ON mirror_work;
CREATE TRIGGER mirror_work_notify AFTER INSERT OR UPDATE ON mirror_work
    FOR EACH ROW EXECUTE FUNCTION mirror_work_notify()`,
  },
  {
    version: 2,
    name: 'backfill lease',
    // A lease, not a session advisory lock: behind PgBouncer's transaction pooling the lock and its unlock
    // can run in different server sessions, and the lock then stays with a session another client gets.
    sql: `ALTER TABLE control_state ADD COLUMN IF NOT EXISTS backfill_owner TEXT;
ALTER TABLE control_state ADD COLUMN IF NOT EXISTS backfill_until TIMESTAMPTZ`,
  },
];

/**
 * Marks a bucket's work due now, after its rows were committed: $1 bucket, $2 database, $3 the sidecar
 * that will mirror it itself (NULL: anyone, and listeners are told), $4 how long it vouches for that.
 */
export const MARK_DUE_SQL = `INSERT INTO mirror_work AS w (bucket, db, due_at, version, worker, worker_until)
VALUES ($1, $2, now(), 1, $3, CASE WHEN $3::text IS NULL THEN NULL
                                   ELSE now() + make_interval(secs => $4::double precision) END)
ON CONFLICT (bucket) DO UPDATE SET
    due_at = LEAST(w.due_at, now()),
    version = w.version + 1,
    worker = COALESCE(EXCLUDED.worker, CASE WHEN w.worker_until > now() THEN w.worker END),
    worker_until = COALESCE(EXCLUDED.worker_until, CASE WHEN w.worker_until > now() THEN w.worker_until END)
RETURNING version::text`;

/** Registers a bucket that has a database but nothing pending (its database was just created). */
export const REGISTER_SQL = `INSERT INTO mirror_work (bucket, db) VALUES ($1, $2) ON CONFLICT (bucket) DO NOTHING`;

/**
 * The buckets whose work is due for sidecar $1 (unattended, or its own), then the next that will be: each
 * with its version and how many seconds until due (0: due).
 */
export const DUE_SQL = `SELECT bucket, version::text,
    GREATEST(0, extract(epoch FROM due_at - now()))::double precision AS due_in
FROM mirror_work
WHERE due_at IS NOT NULL AND (worker_until IS NULL OR worker_until < now() OR worker = $1)
  AND bucket <> ALL($3::text[])
ORDER BY due_at LIMIT $2`;

/**
 * After a look at the rows found none claimable: $3 when the next may be (NULL: none pending), with the
 * counts. Only if nothing was marked since version $2 was read. Says whether the hint is due now, by the
 * server's clock (a retry or a lease that ended between the claim and the count).
 */
export const SETTLE_SQL = `UPDATE mirror_work SET due_at = $3, pending = $4, parked = $5, oldest_pending = $6,
    counted_at = now()
WHERE bucket = $1 AND version = $2
RETURNING due_at IS NOT NULL AND due_at <= now() AS due`;

/**
 * Counts only (buckets busy with this sidecar's writes, whose hints stay due), for every bucket of the arrays
 * in one statement: $1 buckets, $2 pending, $3 parked, $4 oldest pending. Not over a hint settled meanwhile:
 * a settle that found nothing pending may have run between a count and this write. A hint another statement
 * holds is skipped, never waited on (the next refresh counts it): a statement that waited on several rows
 * could deadlock with another that locks them in another order.
 */
export const COUNTS_SQL = `WITH counted AS (
    SELECT * FROM unnest($1::text[], $2::bigint[], $3::bigint[], $4::timestamptz[])
        AS c(bucket, pending, parked, oldest_pending)
), free AS (
    SELECT c.* FROM mirror_work w JOIN counted c ON c.bucket = w.bucket
    WHERE w.due_at IS NOT NULL
    FOR UPDATE OF w SKIP LOCKED
)
UPDATE mirror_work AS w SET pending = f.pending, parked = f.parked, oldest_pending = f.oldest_pending,
    counted_at = now()
FROM free f
WHERE w.bucket = f.bucket`;

export const VERSION_SQL = `SELECT version::text FROM mirror_work WHERE bucket = $1`;

/** Pending, parked and the oldest pending write over the buckets $1, as last counted. */
export const TOTALS_SQL = `SELECT COALESCE(sum(pending), 0)::bigint AS pending, COALESCE(sum(parked), 0)::bigint AS parked,
    COALESCE(extract(epoch FROM now() - min(oldest_pending)), 0)::double precision AS lag
FROM mirror_work WHERE bucket = ANY($1::text[])`;

export const BUCKETS_SQL = `SELECT bucket FROM mirror_work ORDER BY bucket`;

/**
 * At a sidecar's start: hints its previous start ($1: the stable part of its lease owner, with the colon)
 * last vouched for and that were moved later (its leases, which it may take over at once) are due now.
 */
export const RECHECK_SQL = `UPDATE mirror_work SET due_at = now(), version = version + 1
WHERE due_at > now() AND starts_with(worker, $1)`;

/** A stopping sidecar's buckets become due for anyone (the trigger tells the listeners). */
export const RELINQUISH_SQL = `UPDATE mirror_work SET worker = NULL, worker_until = NULL, version = version + 1,
    due_at = CASE WHEN due_at IS NULL THEN NULL ELSE LEAST(due_at, now()) END
WHERE worker = $1`;

export const BACKFILL_DONE_SQL = `SELECT backfilled_at IS NOT NULL AS done FROM control_state WHERE id = 1`;
export const BACKFILL_MARK_SQL = `UPDATE control_state SET backfilled_at = now() WHERE id = 1`;
/**
 * Takes the backfill lease for $1 for $2 seconds: one sidecar at a time fills in the hints. None while it
 * is done or another sidecar's lease runs (a killed holder's lapses).
 */
export const BACKFILL_LEASE_SQL = `UPDATE control_state
SET backfill_owner = $1, backfill_until = now() + make_interval(secs => $2::double precision)
WHERE id = 1 AND backfilled_at IS NULL
  AND (backfill_until IS NULL OR backfill_until < now() OR backfill_owner = $1)`;
export const BACKFILL_RELEASE_SQL = `UPDATE control_state SET backfill_owner = NULL, backfill_until = NULL
WHERE id = 1 AND backfill_owner = $1`;
export const KNOWN_DATABASES_SQL = `SELECT db FROM mirror_work`;

/** A bucket database found without a hint (created before the control database existed). */
export const BACKFILL_ROW_SQL = `INSERT INTO mirror_work AS w (bucket, db, due_at, version, pending, parked,
    oldest_pending, counted_at)
VALUES ($1, $2, $3, 1, $4, $5, $6, now())
ON CONFLICT (bucket) DO UPDATE SET due_at = LEAST(w.due_at, EXCLUDED.due_at), version = w.version + 1`;

/** Of the buckets $1, those whose anti-entropy pass may be due (never looked at, or due by now). */
export const SCAN_DUE_SQL = `SELECT bucket FROM mirror_work
WHERE bucket = ANY($1::text[]) AND (scan_due_at IS NULL OR scan_due_at <= now())
ORDER BY scan_due_at NULLS FIRST, bucket LIMIT $2`;

/** What a look at a bucket's scan state said: look again in $2 seconds. */
export const SCAN_DUE_AT_SQL = `UPDATE mirror_work SET scan_due_at = now() + make_interval(secs => $2::double precision)
WHERE bucket = $1`;
