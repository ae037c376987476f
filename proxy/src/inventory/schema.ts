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
