import { migrate } from '../../src/inventory/pools';
import type { Migration } from '../../src/inventory/schema';

const migrations: Migration[] = [
  { version: 1, name: 'one', sql: 'CREATE TABLE one ()' },
  { version: 2, name: 'two', sql: 'CREATE TABLE two ()' },
];

/** A client over a database that has `applied` recorded (undefined: no schema_migrations table yet). */
function database(applied: number[] | undefined) {
  const sent: string[] = [];
  let table = applied && [...applied];
  const client = {
    query: async (sql: string, params?: unknown[]) => {
      sent.push(sql.split('\n')[0]!.slice(0, 40));
      if (sql.startsWith('CREATE TABLE IF NOT EXISTS schema_migrations')) table ??= [];
      else if (sql.startsWith('INSERT INTO schema_migrations')) table?.push(params?.[0] as number);
      else if (sql.includes('FROM schema_migrations')) {
        if (!table)
          throw Object.assign(new Error('relation "schema_migrations" does not exist'), { code: '42P01' });
        const wanted = (params?.[0] as number[] | undefined) ?? table;
        const rows = table.filter((v) => wanted.includes(v));
        return sql.includes('count(*)')
          ? { rows: [{ applied: rows.length }] }
          : { rows: rows.map((version) => ({ version })) };
      }
      return { rows: [] };
    },
  };
  // The fake answers only what migrate() reads; the cast keeps the test to the statements sent.
  return { client: client as unknown as Parameters<typeof migrate>[0], sent };
}

/** What migrate() sends before it applies anything: the read, then the transaction under the lock. */
const READ_THEN_LOCK = [
  'SELECT count(*)::int AS applied FROM sch',
  'BEGIN',
  'SELECT pg_advisory_xact_lock($1)',
  'CREATE TABLE IF NOT EXISTS schema_migrat',
  'SELECT version FROM schema_migrations',
];

test('a database with every migration applied costs one read: no transaction, lock or DDL', async () => {
  const { client, sent } = database([1, 2]);
  expect(await migrate(client, migrations)).toEqual([]);
  expect(sent).toEqual(['SELECT count(*)::int AS applied FROM sch']);
});

test('a new database (no schema_migrations yet) gets every migration under the lock, in one transaction', async () => {
  const { client, sent } = database(undefined);
  expect(await migrate(client, migrations)).toEqual([1, 2]);
  expect(sent).toEqual([
    ...READ_THEN_LOCK,
    'CREATE TABLE one ()',
    'INSERT INTO schema_migrations (version, ',
    'CREATE TABLE two ()',
    'INSERT INTO schema_migrations (version, ',
    'COMMIT',
  ]);
});

test('a database missing a migration gets that one alone, under the lock', async () => {
  const { client, sent } = database([1]);
  expect(await migrate(client, migrations)).toEqual([2]);
  expect(sent).toEqual([
    ...READ_THEN_LOCK,
    'CREATE TABLE two ()',
    'INSERT INTO schema_migrations (version, ',
    'COMMIT',
  ]);
});
