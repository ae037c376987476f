import { createHash } from 'node:crypto';

import fc from 'fast-check';

import { backoffMs } from '../../src/inventory/backoff';
import { databaseNameFor, isInventoryDatabaseName, MAX_IDENTIFIER_BYTES } from '../../src/inventory/naming';
import { MIGRATIONS } from '../../src/inventory/schema';

describe('databaseNameFor', () => {
  test('plain names keep the seed form', () => {
    expect(databaseNameFor('photos')).toBe('s3_mirror_photos');
    expect(databaseNameFor('a1b2')).toBe('s3_mirror_a1b2');
  });

  test('dots and dashes do not collide', () => {
    const names = ['my-bucket', 'my.bucket', 'my_bucket', 'mybucket', 'My-Bucket'].map(databaseNameFor);
    expect(new Set(names).size).toBe(names.length);
    expect(databaseNameFor('my-bucket')).toMatch(/^s3_mirror_my_bucket_[0-9a-f]{10}$/);
  });

  test('long names differing only at the end stay distinct and within 63 bytes', () => {
    const a = `${'x'.repeat(62)}a`;
    const b = `${'x'.repeat(62)}b`;
    expect(databaseNameFor(a)).not.toBe(databaseNameFor(b));
    expect(Buffer.byteLength(databaseNameFor(a))).toBeLessThanOrEqual(MAX_IDENTIFIER_BYTES);
  });

  test('property: always a safe identifier, deterministic, and injective on samples', () => {
    fc.assert(
      fc.property(fc.string({ minLength: 1, maxLength: 300, unit: 'binary' }), (bucket) => {
        const n = databaseNameFor(bucket);
        expect(n).toMatch(/^s3_mirror_[a-z0-9_]+$/);
        expect(Buffer.byteLength(n)).toBeLessThanOrEqual(MAX_IDENTIFIER_BYTES);
        expect(isInventoryDatabaseName(n)).toBe(true);
        expect(databaseNameFor(bucket)).toBe(n);
      }),
    );
    fc.assert(
      fc.property(
        fc.uniqueArray(fc.string({ minLength: 1, maxLength: 80 }), { minLength: 2, maxLength: 50 }),
        (bs) => {
          expect(new Set(bs.map(databaseNameFor)).size).toBe(bs.length);
        },
      ),
    );
  });

  test('rejects an empty name', () => {
    expect(() => databaseNameFor('')).toThrow();
  });
});

describe('backoffMs', () => {
  const policy = { baseMs: 1000, maxMs: 60_000 };
  test('grows exponentially and is capped', () => {
    expect(backoffMs(1, policy, () => 1)).toBe(1000);
    expect(backoffMs(2, policy, () => 1)).toBe(2000);
    expect(backoffMs(5, policy, () => 1)).toBe(16_000);
    expect(backoffMs(50, policy, () => 1)).toBe(60_000);
    expect(backoffMs(1000, policy, () => 0)).toBe(30_000);
  });
  test('jitter stays within [half, full] of the ceiling', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 100 }), fc.double({ min: 0, max: 1, noNaN: true }), (n, r) => {
        const ms = backoffMs(n, policy, () => r);
        const ceiling = Math.min(60_000, 1000 * 2 ** Math.max(0, n - 1));
        expect(ms).toBeGreaterThanOrEqual(Math.floor(ceiling / 2));
        expect(ms).toBeLessThanOrEqual(ceiling);
      }),
    );
  });
});

describe('migrations', () => {
  test('versions are strictly increasing from 1 and never reuse a number', () => {
    MIGRATIONS.forEach((m, i) => expect(m.version).toBe(i + 1));
  });
  test('migration 1 has exactly the seed columns', () => {
    const cols = [...MIGRATIONS[0]!.sql.matchAll(/^\s{4}(\w+)\s/gm)].map((m) => m[1]);
    expect(cols).toEqual([
      'id',
      'path',
      'size',
      'content_type',
      'is_backed_up',
      'last_modified',
      'deleted',
      'created_at',
      'updated_at',
    ]);
  });
  // Statements end at a `;` outside a dollar-quoted function body ($tag$ … $tag$).
  const statementsOf = (sql: string): string[] =>
    sql
      .split(/(\$\w*\$[\s\S]*?\$\w*\$)/)
      .map((part, i) => (i % 2 ? part.replace(/;/g, ' ') : part))
      .join('')
      .split(';')
      .filter((s) => s.trim());
  test('statements are split at semicolons outside function bodies', () => {
    expect(statementsOf('CREATE X AS $f$ A; B $f$; SELECT 1;')).toEqual([
      'CREATE X AS $f$ A  B $f$',
      ' SELECT 1',
    ]);
  });
  test('every statement is idempotent (IF NOT EXISTS, CREATE OR REPLACE, or an insert that does nothing on conflict)', () => {
    for (const m of MIGRATIONS) {
      for (const stmt of statementsOf(m.sql)) {
        expect(stmt).toMatch(/IF NOT EXISTS|^\s*CREATE OR REPLACE FUNCTION|ON CONFLICT \(id\) DO NOTHING/);
      }
    }
  });
  test('a shipped migration never changes: its text is pinned (a new migration is appended instead)', () => {
    // A database that applied a version never runs it again, so an edited one would leave new and old
    // databases with different schemas. Append a version here with each new migration.
    const pinned: Record<number, string> = {
      1: 'bbbab479a6bb4a00',
      2: 'ed2605881f76aa14',
      3: '5f4a000f186487fe',
      4: 'da10581716634dd4',
      5: '810e2b8c58c77cac',
      6: '5cb18353eba746fb',
      7: '3b96bfa6f8938de9',
      8: '78841cde6f24ac35',
      9: '4243160c4c37e24d',
      10: '6f79489a79b8e045',
      11: 'bfdf2a2d04e3d33d',
    };
    const sha = (sql: string): string => createHash('sha256').update(sql).digest('hex').slice(0, 16);
    expect(Object.fromEntries(MIGRATIONS.map((m) => [m.version, sha(m.sql)]))).toEqual(pinned);
  });
  test('the upsert (the recording function) bumps the generation and marks the row pending', () => {
    const record = MIGRATIONS.filter((m) => m.sql.includes('FUNCTION s3_mirror_record(')).at(-1)!.sql;
    expect(record).toMatch(/ON CONFLICT \(path\)/);
    expect(record).toMatch(/generation = f\.generation \+ 1/);
    expect(record).toMatch(/is_backed_up = FALSE/);
  });
});
