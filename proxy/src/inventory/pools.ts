import { Pool, escapeIdentifier, type PoolClient } from 'pg';

import type { Logger } from '../log';
import { ControlConnection, isConnectionError, isMissingDatabase } from './control-connection';
import { CONTROL_DATABASE, CONTROL_MIGRATIONS, WORK_CHANNEL } from './control-schema';
import { databaseNameFor, isInventoryDatabaseName } from './naming';
import {
  LIST_INVENTORY_DATABASES_SQL,
  MIGRATIONS,
  MIGRATION_LOCK_KEY,
  SCHEMA_MIGRATIONS_DDL,
  type Migration,
} from './schema';
import { WorkHints } from './work-hints';

export interface PoolLimits {
  /** Bucket-database pools kept open at once (least recently used idle pools are closed beyond this). */
  maxPools: number;
  /** Connections per bucket-database pool. */
  connectionsPerPool: number;
  /** A pool unused this long is closed, all its connections with it. */
  idleMs: number;
  /**
   * A connection of a pool still in use closes after this long idle. Longer than `idleMs`: a pool's second
   * connection is needed only when two statements overlap, and closing it after 10 s reopened it every
   * 10-20 s in every busy pool (scale bench, pods busy in five buckets: 2.3 sessions/s in a fleet of 20).
   */
  connectionIdleMs: number;
  connectTimeoutMs: number;
}

/**
 * What the proxy's sessions show as in pg_stat_activity and the server log (`%a`), by role: a DBA sees
 * which sessions are the sidecars' and what each is for.
 */
export const APPLICATION_NAMES = {
  admin: 's3-mirror admin',
  control: 's3-mirror control',
  bucket: 's3-mirror inventory',
} as const;

/** Every inventory statement is small; one that takes longer means Postgres is away. */
const QUERY_TIMEOUT_MS = 15_000;

export const DEFAULT_POOL_LIMITS: PoolLimits = {
  // Eight: a pod busy in five buckets with four pools reopened one per statement (bench scale: 18 s lag).
  maxPools: 8,
  connectionsPerPool: 2,
  idleMs: 10_000,
  connectionIdleMs: 60_000,
  connectTimeoutMs: 5_000,
};

interface Entry {
  db: string;
  pool: Pool;
  ready: Promise<void>;
  inUse: number;
  lastUsed: number;
}

/** Where a database is looked up and created: the admin pool or the control connection. */
interface StatementRunner {
  query(sql: string, params?: unknown[]): Promise<{ rowCount: number | null }>;
}

/** Error codes of the CREATE DATABASE race: another session created it first. */
const ALREADY_EXISTS = new Set(['42P04', '23505']);

export function urlForDatabase(postgresUrl: string, db: string): string {
  const url = new URL(postgresUrl);
  url.pathname = `/${encodeURIComponent(db)}`;
  return url.toString();
}

/** Told when unattended work becomes due (a notification), or when notifications may have been missed. */
export interface WorkListener {
  onNotify(bucket: string): void;
  onReconnected(): void;
}

/**
 * Postgres connections for the inventory, bounded by a constant whatever the number of buckets:
 * 1 (the control database, kept open) + maxPools × connectionsPerPool while buckets are busy (+ pools
 * briefly held past the limit by callers using them); bucket databases are looked up, listed and created
 * over the control connection, and the admin pool (database `postgres`) opens only to create the control
 * database. An idle sidecar holds the control connection alone.
 */
export class InventoryPools {
  private readonly admin: Pool;
  private readonly control: ControlConnection;
  /** The control database's work hints. */
  readonly hints: WorkHints;
  private readonly entries = new Map<string, Entry>();
  /** database name → bucket, learnt from s3_mirror_bucket or from ensureBucket(). */
  private readonly bucketOfDb = new Map<string, string>();
  /**
   * Databases this process has created (if needed), migrated and registered: a pool reopened after an
   * eviction or an idle close just connects (no admin connection, no migration statements).
   */
  private readonly prepared = new Set<string>();
  private closed = false;
  /** Armed while pools are open: closes those unused for `idleMs`. */
  private sweepTimer: NodeJS.Timeout | undefined;

  constructor(
    private readonly postgresUrl: string,
    private readonly logger: Logger,
    private readonly limits: PoolLimits = DEFAULT_POOL_LIMITS,
    listener?: WorkListener,
  ) {
    this.admin = this.newPool('postgres', 1, limits.idleMs);
    this.control = new ControlConnection({
      url: urlForDatabase(postgresUrl, CONTROL_DATABASE),
      connectTimeoutMs: limits.connectTimeoutMs,
      queryTimeoutMs: QUERY_TIMEOUT_MS,
      applicationName: APPLICATION_NAMES.control,
      createDatabase: () => this.createDatabase(CONTROL_DATABASE, this.admin),
      prepare: (client) => migrate(client, CONTROL_MIGRATIONS).then(() => undefined),
      ...(listener
        ? { channel: WORK_CHANNEL, onNotify: listener.onNotify, onReconnected: listener.onReconnected }
        : {}),
      logger,
    });
    this.hints = new WorkHints(this.control);
  }

  /** Opens the control connection now, and keeps it open and listening when there is a listener. */
  startListening(): void {
    this.control.start();
  }

  /** True while notifications of unattended work arrive (otherwise the tracker polls more often). */
  get listening(): boolean {
    return this.control.listening;
  }

  private newPool(db: string, max: number, idleTimeoutMillis = this.limits.connectionIdleMs): Pool {
    const pool = new Pool({
      connectionString: urlForDatabase(this.postgresUrl, db),
      // The fallback: an application_name in POSTGRES_URL (or PGAPPNAME) still wins.
      fallback_application_name: db === 'postgres' ? APPLICATION_NAMES.admin : APPLICATION_NAMES.bucket,
      max,
      idleTimeoutMillis,
      connectionTimeoutMillis: this.limits.connectTimeoutMs,
      // A server that stops answering (failover, partition) must fail queries, not hang them: the
      // tracker mirrors from memory once the inventory fails, never while it waits.
      query_timeout: QUERY_TIMEOUT_MS,
      keepAlive: true,
      allowExitOnIdle: true,
    });
    // Without a listener, a server restart would crash the process through an idle client's error.
    pool.on('error', (err) => this.logger.warn('postgres idle client error', { db, error: err.message }));
    return pool;
  }

  /** Creates the bucket's database if needed (race-safe), runs migrations, records the bucket name. */
  async withBucket<T>(bucket: string, fn: (pool: Pool) => Promise<T>): Promise<T> {
    const db = databaseNameFor(bucket);
    this.bucketOfDb.set(db, bucket);
    return this.withDatabase(db, fn, bucket);
  }

  async withDatabase<T>(db: string, fn: (pool: Pool) => Promise<T>, createFor?: string): Promise<T> {
    if (this.closed) throw new Error('inventory pools are closed');
    let entry = this.entries.get(db);
    const isNew = !entry;
    if (!entry) {
      const pool = this.newPool(db, this.limits.connectionsPerPool);
      const created: Entry = { db, pool, ready: Promise.resolve(), inUse: 0, lastUsed: Date.now() };
      created.ready = this.prepare(created, createFor);
      entry = created;
      this.entries.set(db, entry);
    }
    const e = entry;
    e.inUse++;
    e.lastUsed = Date.now();
    // Only after marking it in use: evicting first could end the pool this caller is about to use.
    if (isNew) this.evict();
    try {
      try {
        await e.ready;
      } catch (err) {
        if (this.entries.get(db) === e) this.entries.delete(db);
        if (e.inUse === 1) void e.pool.end().catch(() => undefined);
        throw err;
      }
      try {
        return await fn(e.pool);
      } catch (err) {
        if (!isMissingDatabase(err) || !this.prepared.has(db)) throw err;
        // Dropped since this process prepared it: no statement of `fn` can have run (none could
        // connect), so prepare it again (creating it if it is a bucket's) and run `fn` once more.
        this.prepared.delete(db);
        if (this.entries.get(db) === e) this.entries.delete(db);
      }
    } finally {
      e.inUse--;
      e.lastUsed = Date.now();
      if (this.entries.get(db) !== e && e.inUse === 0) void e.pool.end().catch(() => undefined);
      this.evict();
      this.armSweep(this.limits.idleMs);
    }
    // Reached only when the database went missing after it was prepared (see above).
    return this.withDatabase(db, fn, createFor);
  }

  private async prepare(entry: Entry, createFor: string | undefined): Promise<void> {
    if (this.prepared.has(entry.db)) return;
    await this.prepareOnce(entry, createFor);
    if (createFor !== undefined || this.bucketOfDb.has(entry.db)) this.prepared.add(entry.db);
  }

  private async prepareOnce(entry: Entry, createFor: string | undefined): Promise<void> {
    // Looked up before any login to it: PgBouncer holds every login to a database after a failed one for
    // server_login_retry (15 s by default). Once per database per process (see `prepared`).
    if (createFor !== undefined) await this.createDatabase(entry.db);
    await withClient(entry.pool, async (client) => {
      await migrate(client);
      if (createFor !== undefined) {
        await client.query(
          'INSERT INTO s3_mirror_bucket (id, bucket) VALUES (1, $1) ON CONFLICT (id) DO NOTHING',
          [createFor],
        );
        await this.hints.register(createFor);
      } else if (!this.bucketOfDb.has(entry.db)) {
        const r = await client.query<{ bucket: string }>('SELECT bucket FROM s3_mirror_bucket WHERE id = 1');
        if (r.rows[0]) this.bucketOfDb.set(entry.db, r.rows[0].bucket);
      }
    });
  }

  /**
   * Creates `db` unless it exists. A bucket's database is looked up and created over the control connection
   * (pg_database is shared by every database; CREATE DATABASE runs from any): no connection is opened for
   * it. The admin pool is only for the control database itself.
   */
  private async createDatabase(db: string, via: StatementRunner = this.control): Promise<void> {
    const exists = await via.query('SELECT 1 FROM pg_database WHERE datname = $1', [db]);
    if (exists.rowCount) return;
    try {
      await via.query(`CREATE DATABASE ${escapeIdentifier(db)}`);
      this.logger.info('created inventory database', { db });
    } catch (err) {
      const code = (err as { code?: string }).code;
      if (!code || !ALREADY_EXISTS.has(code)) throw err;
    }
  }

  /** Closes least recently used idle pools beyond the limit. */
  private evict(): void {
    if (this.entries.size <= this.limits.maxPools) return;
    const idle = [...this.entries.values()]
      .filter((e) => e.inUse === 0)
      .sort((a, b) => a.lastUsed - b.lastUsed);
    for (const e of idle) {
      if (this.entries.size <= this.limits.maxPools) break;
      this.entries.delete(e.db);
      void e.pool.end().catch(() => undefined);
    }
  }

  private armSweep(inMs: number): void {
    if (this.sweepTimer || this.closed || this.entries.size === 0) return;
    this.sweepTimer = setTimeout(() => {
      this.sweepTimer = undefined;
      this.sweep();
    }, inMs);
    this.sweepTimer.unref();
  }

  /** Closes pools unused for `idleMs`; re-arms for the next one that may become so. */
  private sweep(now = Date.now()): void {
    let next = Infinity;
    for (const e of [...this.entries.values()]) {
      if (e.inUse > 0) continue;
      const due = e.lastUsed + this.limits.idleMs;
      if (due <= now) {
        this.entries.delete(e.db);
        void e.pool.end().catch(() => undefined);
      } else next = Math.min(next, due);
    }
    // A pool in use re-arms the sweep when its caller is done.
    if (next !== Infinity) this.armSweep(next - now);
  }

  /** Every inventory database on the server, with its bucket when known. */
  async listBucketDatabases(): Promise<{ db: string; bucket: string | undefined }[]> {
    const r = await this.control.query<{ datname: string }>(LIST_INVENTORY_DATABASES_SQL);
    return r.rows
      .map((row) => row.datname)
      .filter(isInventoryDatabaseName)
      .map((db) => ({ db, bucket: this.bucketOfDb.get(db) }));
  }

  /** Bucket name of a database (opens it once to read s3_mirror_bucket if needed). */
  async bucketOf(db: string): Promise<string | undefined> {
    const known = this.bucketOfDb.get(db);
    if (known !== undefined) return known;
    await this.withDatabase(db, async () => undefined);
    return this.bucketOfDb.get(db);
  }

  async ping(): Promise<boolean> {
    try {
      await this.control.query('SELECT 1');
      return true;
    } catch {
      return false;
    }
  }

  openPools(): number {
    return this.entries.size;
  }

  async close(): Promise<void> {
    this.closed = true;
    clearTimeout(this.sweepTimer);
    const all = [...this.entries.values()];
    this.entries.clear();
    await Promise.allSettled([this.admin.end(), this.control.close(), ...all.map((e) => e.pool.end())]);
  }
}

/**
 * Runs `fn` on a client checked out of `pool`. pg-pool removes its error listener from a checked-out client,
 * so a server restart between two queries would emit an unhandled 'error' and kill the process: listen
 * while it is out, and hand a broken client back as broken (the pool then discards it).
 */
export async function withClient<T>(pool: Pool, fn: (client: PoolClient) => Promise<T>): Promise<T> {
  let broken: Error | undefined;
  const onError = (err: Error): void => {
    broken = err;
  };
  const client = await checkOut(pool, onError);
  try {
    return await fn(client);
  } catch (err) {
    broken ??= err instanceof Error && isConnectionError(err) ? err : undefined;
    throw err;
  } finally {
    client.off('error', onError);
    client.release(broken);
  }
}

/**
 * pool.connect() with `onError` attached inside pg-pool's callback, not after an `await`: a server shutting
 * down can send its FATAL in the same TCP read as the ReadyForQuery that completes the connection, and that
 * 'error' is emitted before any promise continuation runs (seen as a crash under pool churn).
 */
function checkOut(pool: Pool, onError: (err: Error) => void): Promise<PoolClient> {
  return new Promise((resolve, reject) => {
    pool.connect((err, client) => {
      if (err || !client) {
        reject(err ?? new Error('pool.connect gave no client'));
        return;
      }
      client.on('error', onError);
      resolve(client);
    });
  });
}

/**
 * Applies pending migrations in one transaction, serialised across sidecars by an advisory lock. Usually
 * every one is applied already (by another sidecar, or an earlier start): one read says so, without the
 * transaction, the lock or the DDL (a sidecar prepares each bucket database it uses once per process).
 */
export async function migrate(
  client: Pick<PoolClient, 'query'>,
  migrations: readonly Migration[] = MIGRATIONS,
): Promise<number[]> {
  if (await allApplied(client, migrations)) return [];
  await client.query('BEGIN');
  try {
    await client.query('SELECT pg_advisory_xact_lock($1)', [MIGRATION_LOCK_KEY]);
    await client.query(SCHEMA_MIGRATIONS_DDL);
    const done = await client.query<{ version: number }>('SELECT version FROM schema_migrations');
    const have = new Set(done.rows.map((r) => r.version));
    const applied: number[] = [];
    for (const m of migrations) {
      if (have.has(m.version)) continue;
      await client.query(m.sql);
      await client.query('INSERT INTO schema_migrations (version, name) VALUES ($1, $2)', [
        m.version,
        m.name,
      ]);
      applied.push(m.version);
    }
    await client.query('COMMIT');
    return applied;
  } catch (err) {
    await client.query('ROLLBACK').catch(() => undefined);
    throw err;
  }
}

/** Postgres: the relation does not exist (a database no migration ran in yet). */
const UNDEFINED_TABLE = '42P01';

async function allApplied(
  client: Pick<PoolClient, 'query'>,
  migrations: readonly Migration[],
): Promise<boolean> {
  try {
    const r = await client.query<{ applied: number }>(
      'SELECT count(*)::int AS applied FROM schema_migrations WHERE version = ANY($1::int[])',
      [migrations.map((m) => m.version)],
    );
    return r.rows[0]?.applied === migrations.length;
  } catch (err) {
    if ((err as { code?: string }).code === UNDEFINED_TABLE) return false;
    throw err;
  }
}

export type { Pool };
