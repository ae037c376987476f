import type { InventoryPools } from '../../src/inventory/pools';
import {
  InventoryRepository,
  leaseTakers,
  upsertParams,
  UPSERT_EVENT_SQL,
} from '../../src/inventory/repository';
import type { WriteEvent } from '../../src/events';

/** Pools whose every statement (pool-level or on a checked-out client) is recorded. */
function recordingPools(rowsOf: (params: unknown[]) => unknown[] = () => []): {
  pools: InventoryPools;
  statements: string[];
} {
  const statements: string[] = [];
  const query = async (text: string, params: unknown[] = []) => {
    statements.push(text.startsWith(UPSERT_EVENT_SQL) ? 'upsert' : text);
    return { rows: rowsOf(params), rowCount: 1 };
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
  expect((await repo.recordWrites('b', [put('a')], { owner: 'me', seconds: 30 })).version).toBe('7');
  expect(statements).toEqual(['upsert', 'mark b by me']);
  statements.length = 0;
  await repo.recordWrites('b', [put('a'), put('b')]);
  expect(statements).toEqual(['BEGIN', 'upsert', 'upsert', 'COMMIT', 'mark b']);
});

const del = (key: string): WriteEvent => ({ ...put(key), kind: 'delete', operation: 'DeleteObject' });

test('writes that may take a lease as they are recorded: puts and deletes due at once, up to max keys, and later writes of a taken key', () => {
  const mirror = { kind: 'mirror' } as const;
  expect(leaseTakers([put('a'), put('b'), put('c')], mirror, 2)).toEqual([true, true, false]);
  expect(leaseTakers([put('a'), put('b'), put('a')], mirror, 1)).toEqual([true, false, true]);
  expect(leaseTakers([del('a'), put('b')], mirror, 5)).toEqual([true, true]);
  expect(leaseTakers([del('a'), put('b')], { kind: 'keep' }, 5)).toEqual([true, true]);
  expect(leaseTakers([del('a'), put('b')], { kind: 'delay', seconds: 60 }, 5)).toEqual([false, true]);
  expect(leaseTakers([put('a')], mirror, 0)).toEqual([false]);
});

test('a record that claims passes the lease to take; one that does not passes none', () => {
  const lease = { owner: 'me:1', ownerPrefix: 'me:' };
  expect(upsertParams(put('a'), undefined, { lease, leaseSeconds: 120, take: true }).slice(12)).toEqual([
    true,
    'me:1',
    'me:',
    120,
  ]);
  expect(upsertParams(put('a')).slice(12)).toEqual([false, null, null, null]);
});

test('rows claimed as they were recorded come back once each, as the last write of the batch left them', async () => {
  const ids: Record<string, number> = { a: 1, b: 2, c: 3 };
  let generation = 0;
  // BEGIN and COMMIT return nothing; each upsert its row, claimed when it was asked to take the lease.
  const { pools } = recordingPools((params) =>
    params.length === 0
      ? []
      : [
          {
            id: ids[params[0] as string],
            path: params[0],
            generation: String(++generation),
            attempts: 0,
            deleted: params[1],
            deleted_for_seconds: null,
            delete_kept: false,
            claimed: params[12] === true,
          },
        ],
  );
  const repo = new InventoryRepository(pools);
  const lease = { owner: 'me:1', ownerPrefix: 'me:' };
  const r = await repo.recordWrites('b', [put('a'), put('b'), put('a'), put('c')], undefined, {
    lease,
    leaseSeconds: 120,
    max: 1,
  });
  expect(r.claimed.map((row) => [row.path, row.generation])).toEqual([['a', '3']]);
  expect(r.claimed[0]).not.toHaveProperty('claimed');
  expect(r.unclaimed).toBe(2);
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
