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
];

export const SCHEMA_MIGRATIONS_DDL = `CREATE TABLE IF NOT EXISTS schema_migrations (
    version INTEGER PRIMARY KEY,
    name TEXT NOT NULL,
    applied_at TIMESTAMPTZ NOT NULL DEFAULT now()
)`;

/** Advisory lock key serialising migration runs inside one database. */
export const MIGRATION_LOCK_KEY = 0x53334d31;

/**
 * Records one acknowledged write: UPSERT on path, bump the generation, mark pending. A delete keeps the
 * row (deleted = true); a later put revives it. $1 path, $2 deleted, $3 size, $4 content_type,
 * $5 last_modified, $6 etag, $7 version_id, $8 checksums, $9 operation, $10 acknowledged_at.
 */
export const UPSERT_EVENT_SQL = `INSERT INTO files AS f
    (path, size, content_type, is_backed_up, last_modified, deleted, etag, version_id, checksums,
     last_operation, generation, attempts, next_attempt_at, pending_since)
VALUES ($1, COALESCE($3, 0), COALESCE($4, 'application/octet-stream'), FALSE, $5, $2, $6, $7, $8, $9, 1, 0,
        now(), $10)
ON CONFLICT (path) DO UPDATE SET
    deleted = EXCLUDED.deleted,
    size = CASE WHEN EXCLUDED.deleted THEN f.size ELSE COALESCE($3, f.size) END,
    content_type = CASE WHEN EXCLUDED.deleted THEN f.content_type ELSE COALESCE($4, f.content_type) END,
    last_modified = EXCLUDED.last_modified,
    etag = CASE WHEN EXCLUDED.deleted THEN f.etag ELSE $6 END,
    version_id = COALESCE($7, CASE WHEN EXCLUDED.deleted THEN f.version_id ELSE NULL END),
    checksums = CASE WHEN EXCLUDED.deleted THEN f.checksums ELSE $8 END,
    last_operation = EXCLUDED.last_operation,
    is_backed_up = FALSE,
    generation = f.generation + 1,
    attempts = 0,
    last_error = NULL,
    parked_at = NULL,
    next_attempt_at = now(),
    pending_since = CASE WHEN f.is_backed_up THEN EXCLUDED.pending_since
                         ELSE LEAST(COALESCE(f.pending_since, EXCLUDED.pending_since), EXCLUDED.pending_since) END,
    updated_at = now()`;

/**
 * Claims one pending row for `$1` (owner) for `$2` seconds. Short transaction (one statement): the row lock
 * from FOR UPDATE SKIP LOCKED lives only while the statement runs; the lease columns keep other sidecars
 * off the row while the copy runs. An expired lease (a killed sidecar) is claimable again, and so at once
 * is a lease of a previous start of this very proxy: an owner that starts with `$3` (its stable id and a
 * colon, kept in STATE_DIR) but is not `$1`.
 */
export const CLAIM_SQL = `UPDATE files SET lease_owner = $1, lease_until = now() + make_interval(secs => $2)
WHERE id = (
    SELECT id FROM files
    WHERE NOT is_backed_up AND next_attempt_at <= now() AND parked_at IS NULL
      AND (lease_until IS NULL OR lease_until < now() OR (starts_with(lease_owner, $3) AND lease_owner <> $1))
    ORDER BY next_attempt_at, id
    LIMIT 1
    FOR UPDATE SKIP LOCKED)
RETURNING id, path, generation, attempts`;

/** Extends a lease while a long copy runs. */
export const RENEW_LEASE_SQL = `UPDATE files SET lease_until = now() + make_interval(secs => $3)
WHERE id = $1 AND lease_owner = $2`;

/**
 * Compare-and-set: mark backed up only if nobody wrote the key since the claim ($2 = generation copied).
 * Also refreshes the row from what main held when copied. $3 deleted, $4 size, $5 content_type,
 * $6 last_modified, $7 etag, $8 version_id, $9 mirror_etag.
 */
export const COMPLETE_SQL = `UPDATE files SET
    is_backed_up = TRUE, mirrored_generation = generation, attempts = 0, last_error = NULL, parked_at = NULL,
    lease_owner = NULL, lease_until = NULL, pending_since = NULL,
    deleted = $3,
    size = COALESCE($4, size), content_type = COALESCE($5, content_type),
    last_modified = COALESCE($6, last_modified), etag = CASE WHEN $3 THEN etag ELSE $7 END,
    version_id = CASE WHEN $3 THEN version_id ELSE COALESCE($8, version_id) END,
    mirror_etag = CASE WHEN $3 THEN NULL ELSE $9 END,
    updated_at = now()
WHERE id = $1 AND generation = $2`;

/** Gives the row back after a lost compare-and-set (a newer write arrived): retry at once. */
export const RELEASE_SQL = `UPDATE files SET lease_owner = NULL, lease_until = NULL
WHERE id = $1 AND lease_owner = $2`;

/**
 * Records a failed attempt: $3 error, $4 delay in ms. The attempt that reaches $5 attempts parks the row:
 * no more retries until the anti-entropy scan (or a resync) re-queues it.
 */
export const FAIL_SQL = `UPDATE files SET lease_owner = NULL, lease_until = NULL, attempts = attempts + 1,
    last_error = $3,
    -- A parked row leaves the front of the pending index (claims would read past every parked row).
    next_attempt_at = CASE WHEN attempts + 1 >= $5 THEN 'infinity'::timestamptz
                           ELSE now() + make_interval(secs => $4::double precision / 1000) END,
    parked_at = CASE WHEN attempts + 1 >= $5 THEN now() END
WHERE id = $1 AND lease_owner = $2
RETURNING parked_at IS NOT NULL AS parked`;

export const PENDING_STATS_SQL = `SELECT count(*)::bigint AS pending,
    count(*) FILTER (WHERE parked_at IS NOT NULL)::bigint AS parked,
    COALESCE(EXTRACT(EPOCH FROM now() - min(pending_since)), 0)::double precision AS lag
FROM files WHERE NOT is_backed_up`;

/** Parked rows, for the `parked` command. */
export const PARKED_ROWS_SQL = `SELECT path, attempts, last_error, parked_at, pending_since, last_operation
FROM files WHERE parked_at IS NOT NULL ORDER BY parked_at, path LIMIT $1`;

export const LIST_INVENTORY_DATABASES_SQL = `SELECT datname FROM pg_database
WHERE datname LIKE 's3\\_mirror\\_%' AND datallowconn ORDER BY datname`;
