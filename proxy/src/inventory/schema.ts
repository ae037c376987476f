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
 * claimable again. `p_exclude` is left out (the row a completion in the same statement just settled). One
 * statement: the row lock from FOR UPDATE SKIP LOCKED lives only while the calling statement runs; the
 * lease columns keep other sidecars off the row while the copy runs.
 */
const CLAIM_FUNCTION_SQL = `CREATE OR REPLACE FUNCTION s3_mirror_claim(
    p_owner TEXT, p_lease_seconds DOUBLE PRECISION, p_prefix TEXT, p_exclude INTEGER)
RETURNS TABLE (id INTEGER, path TEXT, generation TEXT, attempts INTEGER, deleted BOOLEAN,
    deleted_for_seconds DOUBLE PRECISION, delete_kept BOOLEAN)
LANGUAGE sql VOLATILE
SET enable_seqscan = off
SET enable_bitmapscan = off
AS $claim$
UPDATE files SET lease_owner = p_owner, lease_until = now() + make_interval(secs => p_lease_seconds)
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
    files.deleted AND files.delete_kept
$claim$`;

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
