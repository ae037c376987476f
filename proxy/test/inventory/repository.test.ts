import type { InventoryPools } from '../../src/inventory/pools';
import { InventoryRepository, UPSERT_EVENT_SQL } from '../../src/inventory/repository';
import type { WriteEvent } from '../../src/events';

/** Pools whose every statement (pool-level or on a checked-out client) is recorded. */
function recordingPools(): { pools: InventoryPools; statements: string[] } {
  const statements: string[] = [];
  const query = async (text: string) => {
    statements.push(text);
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

test('one write is one statement; several go in one transaction, in order; the hint is marked after the commit', async () => {
  const { pools, statements } = recordingPools();
  const repo = new InventoryRepository(pools);
  expect(await repo.recordWrites('b', [put('a')], { owner: 'me', seconds: 30 })).toBe('7');
  expect(statements).toEqual([UPSERT_EVENT_SQL, 'mark b by me']);
  statements.length = 0;
  await repo.recordWrites('b', [put('a'), put('b')]);
  expect(statements).toEqual(['BEGIN', UPSERT_EVENT_SQL, UPSERT_EVENT_SQL, 'COMMIT', 'mark b']);
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
