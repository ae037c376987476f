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

test('one write is one statement; several go in one transaction, in order', async () => {
  const { pools, statements } = recordingPools();
  const repo = new InventoryRepository(pools);
  await repo.recordWrites('b', [put('a')]);
  expect(statements).toEqual([UPSERT_EVENT_SQL]);
  statements.length = 0;
  await repo.recordWrites('b', [put('a'), put('b')]);
  expect(statements).toEqual(['BEGIN', UPSERT_EVENT_SQL, UPSERT_EVENT_SQL, 'COMMIT']);
});
