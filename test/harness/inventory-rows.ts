/** Reads a bucket's inventory rows straight from Postgres (for assertions). */
import { Client, type QueryResultRow } from 'pg';

import { CONTROL_DATABASE } from '../../proxy/src/inventory/control-schema';
import { databaseNameFor } from '../../proxy/src/inventory/naming';
import type { TestServices } from './services';

export interface InventoryRow {
  path: string;
  size: string;
  content_type: string;
  etag: string | null;
  version_id: string | null;
  deleted: boolean;
  is_backed_up: boolean;
  last_operation: string | null;
  generation: string;
  attempts: number;
  last_error: string | null;
  lease_owner: string | null;
  [column: string]: unknown;
}

/** Every row of the bucket's `files` table by path; an empty map when the database does not exist. */
export async function inventoryRows(
  services: TestServices,
  bucket: string,
): Promise<Map<string, InventoryRow>> {
  const url = new URL(services.postgres.url);
  url.pathname = `/${databaseNameFor(bucket)}`;
  const pg = new Client({ connectionString: url.toString() });
  pg.on('error', () => undefined); // a server stopped by a test mid-read fails the query, not the run
  try {
    await pg.connect();
  } catch (err) {
    await pg.end().catch(() => undefined);
    if ((err as { code?: string }).code === '3D000') return new Map();
    throw err;
  }
  try {
    const r = await pg.query<InventoryRow>('SELECT * FROM files ORDER BY path');
    return new Map(r.rows.map((row) => [row.path, row]));
  } catch (err) {
    if ((err as { code?: string }).code === '42P01') return new Map();
    throw err;
  } finally {
    await pg.end();
  }
}

/** True when the bucket's inventory database exists on the server. */
export async function inventoryDatabaseExists(services: TestServices, bucket: string): Promise<boolean> {
  const pg = new Client({ connectionString: services.postgres.url });
  pg.on('error', () => undefined);
  await pg.connect();
  try {
    const r = await pg.query('SELECT 1 FROM pg_database WHERE datname = $1', [databaseNameFor(bucket)]);
    return r.rowCount === 1;
  } finally {
    await pg.end();
  }
}

/** Runs one statement in database `db` (the server's own database when undefined) on a connection of its own. */
export async function queryDatabase<R extends QueryResultRow = Record<string, unknown>>(
  services: TestServices,
  db: string | undefined,
  sql: string,
  params: unknown[] = [],
): Promise<R[]> {
  const url = new URL(services.postgres.url);
  if (db !== undefined) url.pathname = `/${db}`;
  const pg = new Client({ connectionString: url.toString() });
  pg.on('error', () => undefined); // a server stopped by a test mid-query fails the query, not the run
  try {
    await pg.connect();
    return (await pg.query<R>(sql, params)).rows;
  } finally {
    await pg.end().catch(() => undefined);
  }
}

/** The bucket's work hint in the control database (undefined when it has none or the database is missing). */
export async function workHint(
  services: TestServices,
  bucket: string,
): Promise<Record<string, unknown> | undefined> {
  try {
    const [row] = await queryDatabase(
      services,
      CONTROL_DATABASE,
      'SELECT * FROM mirror_work WHERE bucket = $1',
      [bucket],
    );
    return row;
  } catch {
    return undefined;
  }
}
