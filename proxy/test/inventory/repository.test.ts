import type { InventoryPools } from '../../src/inventory/pools';
import {
  InventoryRepository,
  RECORD_SQL,
  upsertBatches,
  upsertStatement,
} from '../../src/inventory/repository';
import type { WriteEvent } from '../../src/events';

/** Pools whose every statement (pool-level or on a checked-out client) is recorded. */
function recordingPools(): { pools: InventoryPools; statements: string[] } {
  const statements: string[] = [];
  const query = async (q: string | { text: string }) => {
    statements.push(typeof q === 'string' ? q : q.text);
    return { rows: [], rowCount: 1 };
  };
  const client = { query, on: () => client, off: () => client, release: () => undefined };
  const pool = {
    query,
    connect: (cb: (err: Error | undefined, c: typeof client) => void) => cb(undefined, client),
  };
  return {
    pools: {
      withBucket: async (_b: string, fn: (p: unknown) => unknown) => fn(pool),
      hints: {
        markDue: async (bucket: string, vouch?: { owner: string }) => {
          statements.push(`mark ${bucket}${vouch ? ` by ${vouch.owner}` : ''}`);
          return '7';
        },
      },
    } as unknown as InventoryPools,
    statements,
  };
}

const put = (key: string): WriteEvent => ({
  bucket: 'b',
  key,
  kind: 'put',
  operation: 'PutObject',
  size: 1,
  acknowledgedAt: new Date(),
});

test('writes without a key twice are one statement; a key written again starts the next, in one transaction, in order; the hint is marked after the commit', async () => {
  const { pools, statements } = recordingPools();
  const repo = new InventoryRepository(pools);
  expect(await repo.recordWrites('b', [put('a')], { owner: 'me', seconds: 30 })).toBe('7');
  expect(statements).toEqual([RECORD_SQL, 'mark b by me']);
  statements.length = 0;
  await repo.recordWrites('b', [put('a'), put('b'), put('c')]);
  expect(statements).toEqual([RECORD_SQL, 'mark b']);
  statements.length = 0;
  await repo.recordWrites('b', [put('a'), put('b'), put('a')]);
  expect(statements).toEqual(['BEGIN', RECORD_SQL, RECORD_SQL, 'COMMIT', 'mark b']);
});

test('batches keep the order of the writes and never hold a key twice', () => {
  const keys = (batches: { key: string }[][]) => batches.map((b) => b.map((e) => e.key).join(''));
  expect(keys(upsertBatches([]))).toEqual([]);
  expect(keys(upsertBatches(['a', 'b', 'c'].map(put)))).toEqual(['abc']);
  expect(keys(upsertBatches(['a', 'b', 'a', 'c', 'a', 'b'].map(put)))).toEqual(['ab', 'ac', 'ab']);
});

test('writes go as one array per column, one write as arrays of one; the policy once', () => {
  const del: WriteEvent = {
    bucket: 'b',
    key: 'd',
    kind: 'delete',
    operation: 'DeleteObject',
    size: 9,
    acknowledgedAt: new Date(0),
  };
  const tagged: WriteEvent = {
    ...put('t'),
    size: undefined,
    operation: 'PutObjectTagging',
    versionId: 'v',
    checksums: { CRC32: 'x' },
  };
  const one = upsertStatement([tagged], undefined, tagged.acknowledgedAt.getTime() + 1500);
  expect(one.text).toBe(RECORD_SQL);
  expect(one.values.slice(0, 4)).toEqual([['t'], [false], [null], [null]]);
  expect(one.values.slice(6)).toEqual([
    ['v'],
    ['{"CRC32":"x"}'],
    ['PutObjectTagging'],
    [tagged.acknowledgedAt],
    0,
    false,
    [1.5], // seconds since main acknowledged it: the put falls due that long ago
  ]);
  const batch = upsertStatement([put('a'), del, tagged], { kind: 'delay', seconds: 60 }, 2000);
  expect(batch.text).toBe(RECORD_SQL);
  expect(batch.values).toHaveLength(13);
  expect(batch.values.slice(0, 4)).toEqual([
    ['a', 'd', 't'],
    [false, true, false],
    [1, null, null], // a delete's size is not recorded; a write without one keeps the row's
    [null, null, null],
  ]);
  expect(batch.values[6]).toEqual([null, null, 'v']);
  expect(batch.values[7]).toEqual([null, null, '{"CRC32":"x"}']);
  expect(batch.values[8]).toEqual(['PutObject', 'DeleteObject', 'PutObjectTagging']);
  expect(batch.values.slice(10, 12)).toEqual([60, false]);
  // Acknowledged at 0 and measured at 2 s: waited 2 s. The puts were acknowledged "after" that (a clock
  // stepped back, as it were): they never fall due later than now.
  expect(batch.values[12]).toEqual([0, 2, 0]);
  expect(upsertStatement([del], { kind: 'keep' }).values.slice(10, 12)).toEqual([0, true]);
});

test('every statement that makes rows pending marks the hint after it: re-queue, release, a resync repair', async () => {
  const { pools, statements } = recordingPools();
  const repo = new InventoryRepository(pools);
  await repo.requeue('b', [{ key: 'k', size: 1, deleted: false, operation: 'Scan:missing' }]);
  expect(statements.at(-1)).toBe('mark b');
  statements.length = 0;
  await repo.requeue('b', []);
  expect(statements).toEqual([]);
  await repo.release('b', 1, 'me');
  expect(statements.at(-1)).toBe('mark b');
  statements.length = 0;
  await repo.recordWrite('b', put('a')).catch(() => undefined);
  expect(statements.at(-1)).toBe('mark b');
});
