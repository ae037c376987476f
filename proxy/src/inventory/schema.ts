/**
 * Versioned migrations of one bucket's inventory database. Pure data: the runner (pools.ts) applies, in one
 * transaction under an advisory lock, every version not yet in `schema_migrations`. Never edit a shipped
 * migration; append a new one.
 */
export interface Migration {
  version: number;
  name: string;
  sql: string;
}

/**
 * The claim, as a function so that it is planned with the pending index in its order (`SET` below), whatever
 * the statistics say. A claim's query matches few live rows, so the planner, which does not count dead
 * ones, often prefers a bitmap scan and a sort: that visits in the heap every row copied since the last
 * vacuum, at every claim, and marks none of their index entries dead, so the index grows too. An index scan
 * in order stops at the first claimable row and marks the dead entries it passes, which later inserts then
 * reuse. Measured with this table and 16 workers claiming and completing 40,000 rows, no vacuum: Postgres CPU
 * per row 0.7 -> 1.9 ms as they accumulated (the index 113 pages), against a flat 0.32-0.43 ms (2 pages).
 *
 * Leases one row for `p_owner` for `p_lease_seconds`: pending, due, not parked, and not under a lease that
 * still runs, except one of a previous start of this very proxy (an owner that starts with `p_prefix`, its
 * stable id and a colon, kept in STATE_DIR, but is not `p_owner`); an expired lease (a killed sidecar) is
 * claimable again. `p_exclude` is left out (the row the calling completion, s3_mirror_complete, just settled). One
 * statement: the row lock from FOR UPDATE SKIP LOCKED lives only while the calling statement runs; the
 * lease columns keep other sidecars off the row while the copy runs.
 *
 * The signature and the statement are shared by migration 5 (a SQL function) and migration 8 (PL/pgSQL):
 * both texts are shipped, so neither may change (naming.test.ts pins every migration's text).
 */
const CLAIM_SIGNATURE = `CREATE OR REPLACE FUNCTION s3_mirror_claim(
    p_owner TEXT, p_lease_seconds DOUBLE PRECISION, p_prefix TEXT, p_exclude INTEGER)
RETURNS TABLE (id INTEGER, path TEXT, generation TEXT, attempts INTEGER, deleted BOOLEAN,
    deleted_for_seconds DOUBLE PRECISION, delete_kept BOOLEAN)`;

const CLAIM_STATEMENT = `UPDATE files SET lease_owner = p_owner, lease_until = now() + make_interval(secs => p_lease_seconds)
WHERE files.id = (
    SELECT f.id FROM files f
    WHERE NOT f.is_backed_up AND f.next_attempt_at <= now() AND f.parked_at IS NULL
      AND (f.lease_until IS NULL OR f.lease_until < now()
           OR (starts_with(f.lease_owner, p_prefix) AND f.lease_owner <> p_owner))
      AND f.id IS DISTINCT FROM p_exclude
    ORDER BY f.next_attempt_at, f.id
    LIMIT 1
    FOR UPDATE SKIP LOCKED)
RETURNING files.id, files.path, files.generation::text, files.attempts, files.deleted,
    CASE WHEN files.deleted
        THEN extract(epoch FROM now() - COALESCE(files.deleted_at, files.updated_at::timestamptz))::double precision
    END,
    files.deleted AND files.delete_kept`;

const CLAIM_FUNCTION_SQL = `${CLAIM_SIGNATURE}
LANGUAGE sql VOLATILE
SET enable_seqscan = off
SET enable_bitmapscan = off
AS $claim$
${CLAIM_STATEMENT}
$claim$`;

/**
 * A copy's completion, and the worker's next claim, as one call. The completion is a compare-and-set: the row
 * is marked backed up only if its generation is still `p_generation` (nobody wrote the key since the
 * claim), and becomes what main held when it was copied (`p_deleted` true: main no longer held the key). When
 * it won and `p_owner` is not null, the function claims as s3_mirror_claim does, leaving out the row just
 * completed. One row: `completed` (0 or 1) and the claimed row's columns, null when none was claimed.
 *
 * PL/pgSQL because it keeps its statements' plans for the session: the same statement sent as one query (a
 * CTE around the UPDATE and a LATERAL claim) was parsed and planned at every call. Measured with 16 workers
 * completing and claiming 8,000 rows: 780–870 µs of Postgres CPU per row as that query, 361–534 as this
 * function (test/bench/notes.md). The completion's second statement has a snapshot of its own, so the claim
 * sees the row completed; it still leaves it out by id. A lost compare-and-set claims nothing, and the
 * caller releases the row (the release is a statement of its own: a write committed between this call's
 * snapshot and its row lock would otherwise leave the row neither completed nor released).
 */
const COMPLETE_FUNCTION_SQL = `CREATE OR REPLACE FUNCTION s3_mirror_complete(
    p_id INTEGER, p_generation BIGINT, p_deleted BOOLEAN, p_size BIGINT, p_content_type TEXT,
    p_last_modified TIMESTAMP, p_etag TEXT, p_version_id TEXT, p_mirror_etag TEXT, p_kept BOOLEAN,
    p_owner TEXT, p_lease_seconds DOUBLE PRECISION, p_prefix TEXT)
RETURNS TABLE (completed INTEGER, id INTEGER, path TEXT, generation TEXT, attempts INTEGER, deleted BOOLEAN,
    deleted_for_seconds DOUBLE PRECISION, delete_kept BOOLEAN)
LANGUAGE plpgsql VOLATILE
AS $complete$
#variable_conflict use_column
BEGIN
    UPDATE files f SET
        is_backed_up = TRUE, mirrored_generation = f.generation, attempts = 0, last_error = NULL,
        parked_at = NULL, lease_owner = NULL, lease_until = NULL, pending_since = NULL,
        deleted = p_deleted,
        size = COALESCE(p_size, f.size), content_type = COALESCE(p_content_type, f.content_type),
        last_modified = COALESCE(p_last_modified, f.last_modified),
        etag = CASE WHEN p_deleted THEN f.etag ELSE p_etag END,
        version_id = CASE WHEN p_deleted THEN f.version_id ELSE COALESCE(p_version_id, f.version_id) END,
        mirror_etag = CASE WHEN p_deleted THEN NULL ELSE p_mirror_etag END,
        deleted_at = CASE WHEN p_deleted THEN COALESCE(CASE WHEN f.deleted THEN f.deleted_at END, now()) END,
        delete_kept = p_kept,
        updated_at = now()
    WHERE f.id = p_id AND f.generation = p_generation;
    IF NOT FOUND THEN
        RETURN QUERY SELECT 0, NULL::INTEGER, NULL::TEXT, NULL::TEXT, NULL::INTEGER, NULL::BOOLEAN,
            NULL::DOUBLE PRECISION, NULL::BOOLEAN;
        RETURN;
    END IF;
    IF p_owner IS NOT NULL THEN
        RETURN QUERY SELECT 1, c.* FROM s3_mirror_claim(p_owner, p_lease_seconds, p_prefix, p_id) AS c;
        IF FOUND THEN
            RETURN;
        END IF;
    END IF;
    RETURN QUERY SELECT 1, NULL::INTEGER, NULL::TEXT, NULL::TEXT, NULL::INTEGER, NULL::BOOLEAN,
        NULL::DOUBLE PRECISION, NULL::BOOLEAN;
END
$complete$`;

/**
 * Records acknowledged writes, one row per key: UPSERT on path, bump the generation, mark pending. A delete
 * keeps the row (deleted = true); a later put revives it. A write's values come as one element of each
 * array (path, deleted, size, content_type, last_modified, etag, version_id, checksums, operation,
 * acknowledged_at), no path twice in one call (ON CONFLICT takes a row once per statement); new rows get their
 * ids in the arrays' order, the order claims take them in. `p_delete_delay`: seconds a delete waits before it
 * may be claimed (MIRROR_DELETE_POLICY=delay:…; 0 otherwise); `p_delete_kept`: a delete is recorded under
 * MIRROR_DELETE_POLICY=keep. Returns each written row's id and new generation.
 *
 * A delete records when it happened (`deleted_at`, Postgres' clock; a second delete of a key already
 * deleted keeps the first time) and may be claimed only `p_delete_delay` seconds after that; until then it
 * is not counted as pending (its `pending_since` is when it falls due). A put clears both: a delete still
 * waiting out its delay is cancelled by the next write of the key. A delete recorded under `keep` says so in
 * its row (`delete_kept`): whichever sidecar copies the row keeps the mirror's copy. A write that does not
 * say its size or content type (a tag change, a copy whose answer names neither) keeps the row's.
 *
 * PL/pgSQL, like s3_mirror_complete, so that its plan is kept for the session: sent as a query, this
 * statement was planned at every flush (Postgres CPU per write recorded alone 270–290 µs as a one-row
 * VALUES query, 460–470 as this batch form, 110–117 as this function; in batches of 16, 47 and 20–23 µs).
 */
const RECORD_FUNCTION_SQL = `CREATE OR REPLACE FUNCTION s3_mirror_record(
    p_path TEXT[], p_deleted BOOLEAN[], p_size BIGINT[], p_content_type TEXT[], p_last_modified TIMESTAMP[],
    p_etag TEXT[], p_version_id TEXT[], p_checksums JSONB[], p_operation TEXT[], p_acknowledged_at TIMESTAMPTZ[],
    p_delete_delay DOUBLE PRECISION, p_delete_kept BOOLEAN)
RETURNS TABLE (id INTEGER, generation TEXT)
LANGUAGE plpgsql VOLATILE
AS $record$
#variable_conflict use_column
BEGIN
    RETURN QUERY
    WITH w AS (
        SELECT * FROM unnest(p_path, p_deleted, p_size, p_content_type, p_last_modified, p_etag,
            p_version_id, p_checksums, p_operation, p_acknowledged_at) WITH ORDINALITY
          AS w (path, deleted, size, content_type, last_modified, etag, version_id, checksums, operation,
                acknowledged_at, n)
    ), written AS (
    INSERT INTO files AS f
        (path, size, content_type, is_backed_up, last_modified, deleted, etag, version_id, checksums,
         last_operation, generation, attempts, next_attempt_at, pending_since, deleted_at, delete_kept)
    SELECT w.path, COALESCE(w.size, 0), COALESCE(w.content_type, 'application/octet-stream'), FALSE,
            w.last_modified, w.deleted, w.etag, w.version_id, w.checksums, w.operation, 1, 0,
            CASE WHEN w.deleted THEN now() + make_interval(secs => p_delete_delay) ELSE now() END,
            CASE WHEN w.deleted AND p_delete_delay > 0 THEN now() + make_interval(secs => p_delete_delay)
                 ELSE w.acknowledged_at END,
            CASE WHEN w.deleted THEN now() END, w.deleted AND p_delete_kept
    FROM w ORDER BY w.n
    ON CONFLICT (path) DO UPDATE SET
        deleted = EXCLUDED.deleted,
        deleted_at = CASE WHEN EXCLUDED.deleted THEN COALESCE(CASE WHEN f.deleted THEN f.deleted_at END, now()) END,
        delete_kept = EXCLUDED.delete_kept,
        size = CASE WHEN EXCLUDED.deleted THEN f.size
            ELSE COALESCE((SELECT w.size FROM w WHERE w.path = EXCLUDED.path), f.size) END,
        content_type = CASE WHEN EXCLUDED.deleted THEN f.content_type
            ELSE COALESCE((SELECT w.content_type FROM w WHERE w.path = EXCLUDED.path), f.content_type) END,
        last_modified = EXCLUDED.last_modified,
        etag = CASE WHEN EXCLUDED.deleted THEN f.etag ELSE EXCLUDED.etag END,
        version_id = COALESCE(EXCLUDED.version_id, CASE WHEN EXCLUDED.deleted THEN f.version_id ELSE NULL END),
        checksums = CASE WHEN EXCLUDED.deleted THEN f.checksums ELSE EXCLUDED.checksums END,
        last_operation = EXCLUDED.last_operation,
        is_backed_up = FALSE,
        generation = f.generation + 1,
        attempts = 0,
        last_error = NULL,
        parked_at = NULL,
        next_attempt_at = CASE WHEN EXCLUDED.deleted
            THEN COALESCE(CASE WHEN f.deleted THEN f.deleted_at END, now()) + make_interval(secs => p_delete_delay)
            ELSE now() END,
        pending_since = CASE
            WHEN EXCLUDED.deleted AND p_delete_delay > 0
                THEN COALESCE(CASE WHEN f.deleted THEN f.deleted_at END, now()) + make_interval(secs => p_delete_delay)
            WHEN f.is_backed_up THEN EXCLUDED.pending_since
            ELSE LEAST(COALESCE(f.pending_since, EXCLUDED.pending_since), EXCLUDED.pending_since) END,
        updated_at = now()
    RETURNING f.id, f.generation
    )
    SELECT written.id, written.generation::TEXT FROM written;
END
$record$`;

/** A PL/pgSQL claim's options and its body's start, up to its statements (migrations 8 and 9). */
const CLAIM_PLPGSQL_HEAD = `LANGUAGE plpgsql VOLATILE
SET enable_seqscan = off
SET enable_bitmapscan = off
AS $claim$
#variable_conflict use_column
BEGIN`;

/**
 * s3_mirror_claim again, same signature, same statement and planner settings, in PL/pgSQL: Postgres before 18
 * plans a SQL function's statement at every call, where PL/pgSQL keeps the plan for the session. Measured on
 * Debian's PostgreSQL 15 with 16 workers completing and claiming 8,000 rows: 650–674 µs of Postgres CPU per
 * row with the SQL claim, 423–535 with this one; no difference on 18 (test/bench/notes.md).
 */
const CLAIM_PLPGSQL_FUNCTION_SQL = `${CLAIM_SIGNATURE}
${CLAIM_PLPGSQL_HEAD}
RETURN QUERY
${CLAIM_STATEMENT};
END
$claim$`;

/** `text` with every one of the `count` occurrences of `from` replaced: a later migration derived from a shipped text. */
function replacedEvery(text: string, from: string, to: string, count: number): string {
  const parts = text.split(from);
  if (parts.length !== count + 1)
    throw new Error(`not exactly ${count === 1 ? 'once' : `${count} times`}: ${from}`);
  return parts.join(to);
}

/** `text` with `from`, which must occur exactly once, replaced. */
function replacedOnce(text: string, from: string, to: string): string {
  return replacedEvery(text, from, to, 1);
}

/**
 * Rows whose copy has not failed (attempts = 0: fresh writes), in claim order: a claim for fresh rows only
 * walks this index, so it does not step over a backlog of failed rows come due ahead of them.
 */
const FRESH_INDEX_SQL = `CREATE INDEX IF NOT EXISTS files_fresh_idx ON files (next_attempt_at, id)
WHERE NOT is_backed_up AND attempts = 0`;

/**
 * s3_mirror_claim with `p_fresh_only`: true leases only a row whose copy has not failed yet. The tracker
 * asks for one when as many workers as it allows are already copying rows that failed before (the backlog a
 * mirror outage leaves), so fresh writes keep workers of their own during a drain
 * (tracking/catch-up-slots.ts). Otherwise the same statement as migrations 5 and 8; each branch keeps its
 * plan for the session.
 */
const FRESH_CLAIM_FUNCTION_SQL = `${replacedOnce(CLAIM_SIGNATURE, 'p_exclude INTEGER)', 'p_exclude INTEGER, p_fresh_only BOOLEAN)')}
${CLAIM_PLPGSQL_HEAD}
IF p_fresh_only THEN
RETURN QUERY
${replacedOnce(CLAIM_STATEMENT, 'AND f.id IS DISTINCT FROM p_exclude', 'AND f.id IS DISTINCT FROM p_exclude AND f.attempts = 0')};
ELSE
RETURN QUERY
${CLAIM_STATEMENT};
END IF;
END
$claim$`;

/** s3_mirror_complete whose claim of the next row takes `p_fresh_only` as s3_mirror_claim above does. */
const FRESH_COMPLETE_FUNCTION_SQL = replacedOnce(
  replacedOnce(COMPLETE_FUNCTION_SQL, 'p_prefix TEXT)', 'p_prefix TEXT, p_fresh_only BOOLEAN)'),
  's3_mirror_claim(p_owner, p_lease_seconds, p_prefix, p_id)',
  's3_mirror_claim(p_owner, p_lease_seconds, p_prefix, p_id, p_fresh_only)',
);

/**
 * s3_mirror_claim with `p_fresh_seconds` as well: a fresh write is one whose copy has not failed and that fell
 * due less than that many seconds ago. A row due longer is part of a backlog although no copy of it has failed
 * yet: a mirror that hangs fails one copy per worker per timeout (the anti-entropy scan re-queues its repairs
 * one window back, repository.ts, for the same reason). A fresh-only claim walks only the recent end of the fresh rows' index (the range
 * bound on `next_attempt_at`), so it does not step over such rows either. Every claimed row says which it is
 * (`catching_up`), so the tracker holds its copy by the same rule that chose it.
 */
const CATCHING_UP_COLUMN = `,
    files.attempts > 0 OR files.next_attempt_at <= now() - make_interval(secs => p_fresh_seconds)`;
const FRESH_WINDOW_CLAIM_STATEMENT = replacedOnce(
  CLAIM_STATEMENT,
  'files.deleted AND files.delete_kept',
  `files.deleted AND files.delete_kept${CATCHING_UP_COLUMN}`,
);
const FRESH_WINDOW_CLAIM_FUNCTION_SQL = `${replacedOnce(
  replacedOnce(
    CLAIM_SIGNATURE,
    'p_exclude INTEGER)',
    'p_exclude INTEGER, p_fresh_only BOOLEAN, p_fresh_seconds DOUBLE PRECISION)',
  ),
  'delete_kept BOOLEAN)',
  'delete_kept BOOLEAN, catching_up BOOLEAN)',
)}
${CLAIM_PLPGSQL_HEAD}
IF p_fresh_only THEN
RETURN QUERY
${replacedOnce(
  FRESH_WINDOW_CLAIM_STATEMENT,
  'AND f.id IS DISTINCT FROM p_exclude',
  `AND f.id IS DISTINCT FROM p_exclude AND f.attempts = 0
      AND f.next_attempt_at > now() - make_interval(secs => p_fresh_seconds)`,
)};
ELSE
RETURN QUERY
${FRESH_WINDOW_CLAIM_STATEMENT};
END IF;
END
$claim$`;

/** s3_mirror_complete whose next claim is the one above, returning its `catching_up` too. */
const FRESH_WINDOW_COMPLETE_FUNCTION_SQL = replacedEvery(
  replacedOnce(
    replacedOnce(
      replacedOnce(
        COMPLETE_FUNCTION_SQL,
        'p_prefix TEXT)',
        'p_prefix TEXT, p_fresh_only BOOLEAN, p_fresh_seconds DOUBLE PRECISION)',
      ),
      'delete_kept BOOLEAN)\nLANGUAGE',
      'delete_kept BOOLEAN, catching_up BOOLEAN)\nLANGUAGE',
    ),
    's3_mirror_claim(p_owner, p_lease_seconds, p_prefix, p_id)',
    's3_mirror_claim(p_owner, p_lease_seconds, p_prefix, p_id, p_fresh_only, p_fresh_seconds)',
  ),
  'NULL::DOUBLE PRECISION, NULL::BOOLEAN;',
  'NULL::DOUBLE PRECISION, NULL::BOOLEAN, NULL::BOOLEAN;',
  2,
);

/**
 * s3_mirror_record with `p_waited` as well: per write, the seconds since main acknowledged it, by the
 * recording sidecar's own clock. A put falls due that long ago rather than now (a delete as before). Writes
 * recorded as they happen fall due at once, as before; writes that waited, in the journal or the queue,
 * while Postgres was unreachable (or a restart replays) fall due when they were made, so past the fresh
 * window they are a backlog's rows (migration 10): copied as catch-up copies that give way to the app, not
 * as a burst of fresh writes. An age rather than `p_acknowledged_at`, which would compare two machines'
 * clocks.
 */
const WAITED_RECORD_FUNCTION_SQL = replacedOnce(
  replacedOnce(
    replacedOnce(
      replacedOnce(
        replacedOnce(
          RECORD_FUNCTION_SQL,
          'p_delete_kept BOOLEAN)',
          'p_delete_kept BOOLEAN, p_waited DOUBLE PRECISION[])',
        ),
        'p_operation, p_acknowledged_at) WITH ORDINALITY',
        'p_operation, p_acknowledged_at, p_waited) WITH ORDINALITY',
      ),
      'acknowledged_at, n)',
      'acknowledged_at, waited, n)',
    ),
    'CASE WHEN w.deleted THEN now() + make_interval(secs => p_delete_delay) ELSE now() END,',
    'CASE WHEN w.deleted THEN now() + make_interval(secs => p_delete_delay)\n' +
      '                 ELSE now() - make_interval(secs => GREATEST(w.waited, 0)) END,',
  ),
  // A put's new due time is the one the insert proposed (now, less the write's wait), except that a row
  // already pending for a put whose copy has not failed keeps the later of the two: an older write recorded
  // late (a journal replayed beside live writes, another sidecar's queue) never makes a newer one a backlog's.
  'ELSE now() END,\n        pending_since',
  `ELSE CASE WHEN NOT f.is_backed_up AND NOT f.deleted AND f.attempts = 0
                THEN GREATEST(f.next_attempt_at, EXCLUDED.next_attempt_at)
                ELSE EXCLUDED.next_attempt_at END END,\n        pending_since`,
);

export const MIGRATIONS: readonly Migration[] = [
  {
    version: 1,
    name: 'seed files table',
    // Exactly the seed's columns.
    sql: `CREATE TABLE IF NOT EXISTS files (
    id SERIAL PRIMARY KEY,
    path TEXT UNIQUE NOT NULL,
    size BIGINT NOT NULL,
    content_type TEXT NOT NULL,
    is_backed_up BOOLEAN DEFAULT FALSE,
    last_modified TIMESTAMP NOT NULL,
    deleted BOOLEAN DEFAULT FALSE,
    created_at TIMESTAMP DEFAULT NOW(),
    updated_at TIMESTAMP DEFAULT NOW()
)`,
  },
  {
    version: 2,
    name: 'mirroring state',
    sql: `ALTER TABLE files
    ADD COLUMN IF NOT EXISTS etag TEXT,
    ADD COLUMN IF NOT EXISTS version_id TEXT,
    ADD COLUMN IF NOT EXISTS checksums JSONB,
    ADD COLUMN IF NOT EXISTS last_operation TEXT,
    ADD COLUMN IF NOT EXISTS generation BIGINT NOT NULL DEFAULT 1,
    ADD COLUMN IF NOT EXISTS mirrored_generation BIGINT,
    ADD COLUMN IF NOT EXISTS mirror_etag TEXT,
    ADD COLUMN IF NOT EXISTS attempts INTEGER NOT NULL DEFAULT 0,
    ADD COLUMN IF NOT EXISTS last_error TEXT,
    ADD COLUMN IF NOT EXISTS next_attempt_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    ADD COLUMN IF NOT EXISTS pending_since TIMESTAMPTZ,
    ADD COLUMN IF NOT EXISTS lease_owner TEXT,
    ADD COLUMN IF NOT EXISTS lease_until TIMESTAMPTZ;
CREATE INDEX IF NOT EXISTS files_pending_idx ON files (next_attempt_at, id) WHERE NOT is_backed_up;
CREATE TABLE IF NOT EXISTS s3_mirror_bucket (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    bucket TEXT NOT NULL
)`,
  },
  {
    version: 3,
    name: 'parked rows and the anti-entropy scan',
    sql: `ALTER TABLE files
    ADD COLUMN IF NOT EXISTS parked_at TIMESTAMPTZ;
CREATE INDEX IF NOT EXISTS files_path_c_idx ON files (path COLLATE "C");
CREATE INDEX IF NOT EXISTS files_parked_idx ON files (parked_at) WHERE parked_at IS NOT NULL;
CREATE TABLE IF NOT EXISTS s3_mirror_scan (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    cursor TEXT,
    pass_started_at TIMESTAMPTZ,
    pass_objects BIGINT NOT NULL DEFAULT 0,
    pass_differences INTEGER NOT NULL DEFAULT 0,
    last_complete_at TIMESTAMPTZ,
    last_pass_objects BIGINT,
    last_pass_differences INTEGER,
    lease_owner TEXT,
    lease_until TIMESTAMPTZ
);
INSERT INTO s3_mirror_scan (id) VALUES (1) ON CONFLICT (id) DO NOTHING`,
  },
  {
    version: 4,
    name: 'delete policy',
    // deleted_at: when the delete was recorded (MIRROR_DELETE_POLICY=delay counts from it; rows deleted
    // before this migration count from their last update, repository.ts). delete_kept: the delete was
    // settled without deleting on the mirror (MIRROR_DELETE_POLICY=keep).
    sql: `ALTER TABLE files
    ADD COLUMN IF NOT EXISTS deleted_at TIMESTAMPTZ,
    ADD COLUMN IF NOT EXISTS delete_kept BOOLEAN NOT NULL DEFAULT FALSE`,
  },
  {
    version: 5,
    name: 'claims walk the pending index',
    sql: CLAIM_FUNCTION_SQL,
  },
  {
    version: 6,
    name: 'a completion and the next claim in one function call',
    sql: COMPLETE_FUNCTION_SQL,
  },
  {
    version: 7,
    name: 'writes recorded by a function',
    sql: RECORD_FUNCTION_SQL,
  },
  {
    version: 8,
    name: 'the claim keeps its plan on Postgres before 18',
    sql: CLAIM_PLPGSQL_FUNCTION_SQL,
  },
  {
    version: 9,
    name: 'claims that leave failed rows to the workers allowed them',
    sql: `${FRESH_INDEX_SQL};
${FRESH_CLAIM_FUNCTION_SQL};
${FRESH_COMPLETE_FUNCTION_SQL}`,
  },
  {
    version: 10,
    name: 'rows pending long are catch-up copies whether or not a copy failed',
    sql: `${FRESH_WINDOW_CLAIM_FUNCTION_SQL};
${FRESH_WINDOW_COMPLETE_FUNCTION_SQL}`,
  },
  {
    version: 11,
    name: 'writes that waited for Postgres fall due when they were made',
    sql: WAITED_RECORD_FUNCTION_SQL,
  },
];

export const SCHEMA_MIGRATIONS_DDL = `CREATE TABLE IF NOT EXISTS schema_migrations (
    version INTEGER PRIMARY KEY,
    name TEXT NOT NULL,
    applied_at TIMESTAMPTZ NOT NULL DEFAULT now()
)`;

/** Advisory lock key serialising migration runs inside one database. */
export const MIGRATION_LOCK_KEY = 0x53334d31;

export const LIST_INVENTORY_DATABASES_SQL = `SELECT datname FROM pg_database
WHERE datname LIKE 's3\\_mirror\\_%' AND datallowconn ORDER BY datname`;
