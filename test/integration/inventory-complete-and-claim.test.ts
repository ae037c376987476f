/**
 * A completion that claims the worker's next row in the same call (s3_mirror_complete), against a real Postgres: it claims
 * only after the compare-and-set won, never the row it just completed, never a row under another sidecar's
 * running lease or a delete that must wait out its delay; a lost compare-and-set releases the row instead,
 * with or without the claim.
 */
import crypto from 'node:crypto';

import { InventoryPools } from '../../proxy/src/inventory/pools';
import {
  FRESH_WINDOW_SECONDS,
  InventoryRepository,
  type ClaimedRow,
  type LeaseOwner,
} from '../../proxy/src/inventory/repository';
import { createLogger } from '../../proxy/src/log';
import { copiedResult as copied, writeEvent as write } from '../harness/inventory-events';
import { loadServices, type TestServices } from '../harness/services';

const services: TestServices = loadServices();
const pools = new InventoryPools(services.postgres.url, createLogger('off'));
const inventory = new InventoryRepository(pools);
const me: LeaseOwner = { owner: 'me:2', ownerPrefix: 'me:' };
const other: LeaseOwner = { owner: 'other:1', ownerPrefix: 'other:' };

const bucketName = (): string => `chain-${crypto.randomBytes(4).toString('hex')}`;
interface Row {
  path: string;
  lease_owner: string | null;
  is_backed_up: boolean;
  mirror_etag: string | null;
}
const rows = async (bucket: string): Promise<Row[]> =>
  pools.withBucket(bucket, async (pool) => {
    const r = await pool.query<Row>(
      `SELECT path, lease_owner, is_backed_up, mirror_etag FROM files ORDER BY path`,
    );
    return r.rows;
  });

/** A new bucket database with one write recorded for each key, in order. */
const bucketWith = async (...keys: string[]): Promise<string> => {
  const bucket = bucketName();
  await inventory.recordWrites(
    bucket,
    keys.map((k) => write(bucket, k)),
  );
  return bucket;
};

const claim = async (bucket: string, lease = me): Promise<ClaimedRow> => {
  const row = await inventory.claim(bucket, lease, 120);
  if (!row) throw new Error('nothing claimed');
  return row;
};

afterAll(async () => {
  await pools.close();
});

test('completes the row and leases the next due one to the same owner, as a claim would; the last finds none', async () => {
  const bucket = await bucketWith('a', 'b');
  const a = await claim(bucket);
  expect(a.path).toBe('a');
  const first = await inventory.completeAndClaimNext(bucket, a, me, 120, copied);
  expect(first.completed).toBe(true);
  expect(first.next).toEqual({
    id: expect.any(Number),
    path: 'b',
    generation: '1',
    attempts: 0,
    deleted: false,
    deleted_for_seconds: null,
    delete_kept: false,
    catching_up: false,
  });
  expect(await rows(bucket)).toEqual([
    { path: 'a', lease_owner: null, is_backed_up: true, mirror_etag: '"m"' },
    { path: 'b', lease_owner: 'me:2', is_backed_up: false, mirror_etag: null },
  ]);
  // Another sidecar finds nothing: b is leased.
  expect(await inventory.claim(bucket, other, 120)).toBeUndefined();
  // Its lease ran out while the copy ran: completed all the same, and not claimed again by its own statement.
  await pools.withBucket(bucket, (pool) =>
    pool.query(`UPDATE files SET lease_until = now() - interval '1 second' WHERE path = 'b'`),
  );
  const last = await inventory.completeAndClaimNext(bucket, first.next!, me, 120, copied);
  expect(last).toEqual({ completed: true, next: undefined });
  expect((await rows(bucket)).map((r) => [r.path, r.is_backed_up, r.lease_owner])).toEqual([
    ['a', true, null],
    ['b', true, null],
  ]);
});

test('a newer write since the claim: not completed, released, and nothing claimed (the other rows stay free)', async () => {
  const bucket = await bucketWith('a', 'b');
  const a = await claim(bucket);
  await inventory.recordWrites(bucket, [write(bucket, 'a')]); // generation 2
  expect(await inventory.completeAndClaimNext(bucket, a, me, 120, copied)).toEqual({
    completed: false,
    next: undefined,
  });
  expect(await rows(bucket)).toEqual([
    { path: 'a', lease_owner: null, is_backed_up: false, mirror_etag: null },
    { path: 'b', lease_owner: null, is_backed_up: false, mirror_etag: null },
  ]);
});

test('complete only (completeOrRelease): completes without claiming; a lost compare-and-set releases the row', async () => {
  const bucket = await bucketWith('a', 'b');
  const a = await claim(bucket);
  expect(await inventory.completeOrRelease(bucket, a, me.owner, copied)).toBe(true);
  const b = await claim(bucket);
  await inventory.recordWrites(bucket, [write(bucket, 'b')]); // generation 2
  expect(await inventory.completeOrRelease(bucket, b, me.owner, copied)).toBe(false);
  expect(await rows(bucket)).toEqual([
    { path: 'a', lease_owner: null, is_backed_up: true, mirror_etag: '"m"' },
    { path: 'b', lease_owner: null, is_backed_up: false, mirror_etag: null },
  ]);
  // Released, so another sidecar takes it at once rather than after the lease.
  expect((await inventory.claim(bucket, other, 120))?.path).toBe('b');
});

test("never a row under another sidecar's running lease, nor a delete waiting out its delay; an expired lease, or one of a previous start, is taken", async () => {
  const bucket = await bucketWith('0-done', '1-held', '2-waiting', '3-mine-before');
  const delayed = new InventoryRepository(pools, { kind: 'delay', seconds: 3600 });
  await delayed.recordWrites(bucket, [write(bucket, '2-waiting', 'delete')]);
  const done = await claim(bucket);
  expect(done.path).toBe('0-done');
  await pools.withBucket(bucket, (pool) =>
    pool.query(`UPDATE files SET lease_owner = CASE path WHEN '3-mine-before' THEN 'me:1' ELSE 'other:1' END,
        lease_until = now() + interval '1 hour' WHERE path IN ('1-held', '3-mine-before')`),
  );
  const r = await inventory.completeAndClaimNext(bucket, done, me, 120, copied);
  expect(r.next?.path).toBe('3-mine-before');
  // Its lease runs out: the next completion takes it.
  await pools.withBucket(bucket, (pool) =>
    pool.query(`UPDATE files SET lease_until = now() - interval '1 second' WHERE path = '1-held'`),
  );
  const again = await inventory.completeAndClaimNext(bucket, r.next!, me, 120, copied);
  expect(again.next?.path).toBe('1-held');
  expect(await inventory.completeAndClaimNext(bucket, again.next!, me, 120, copied)).toEqual({
    completed: true,
    next: undefined,
  });
  expect((await rows(bucket)).filter((row) => !row.is_backed_up).map((row) => row.path)).toEqual([
    '2-waiting',
  ]);
});

test("a row whose deleted is NULL (the seed's column allows it) is claimed as a put, not reported as none", async () => {
  const bucket = await bucketWith('a', 'b');
  await pools.withBucket(bucket, (pool) => pool.query(`UPDATE files SET deleted = NULL WHERE path = 'b'`));
  const r = await inventory.completeAndClaimNext(bucket, await claim(bucket), me, 120, copied);
  expect(r.next).toMatchObject({ path: 'b', deleted: false });
});

describe('claims of fresh rows only (a drain keeps workers for fresh writes)', () => {
  /** `failed` rows whose copy failed once and is due again, recorded and due before one fresh write. */
  const bucketWithFailedAhead = async (failed: number, analyzedBefore = false): Promise<string> => {
    const bucket = await bucketWith(...Array.from({ length: failed }, (_, i) => `failed-${i}`));
    // Both indexes then hold the same rows as far as the planner knows: its choice is a tie.
    if (analyzedBefore) await pools.withBucket(bucket, (pool) => pool.query('VACUUM ANALYZE files'));
    for (let i = 0; i < failed; i++) {
      const row = await claim(bucket);
      await inventory.fail(bucket, row.id, me.owner, { error: 'mirror down', retryInMs: 0, maxAttempts: 15 });
    }
    await inventory.recordWrites(bucket, [write(bucket, 'fresh')]);
    return bucket;
  };

  test('a claim takes the failed row due first; a fresh-only claim passes over it to the fresh write', async () => {
    const bucket = await bucketWithFailedAhead(1);
    const any = await claim(bucket);
    expect([any.path, any.attempts]).toEqual(['failed-0', 1]);
    await inventory.release(bucket, any.id, me.owner);
    const fresh = await inventory.claim(bucket, me, 120, { freshOnly: true });
    expect([fresh?.path, fresh?.attempts]).toEqual(['fresh', 0]);
    // Only failed rows are left: a fresh-only claim finds none, a claim finds the failed row.
    expect(await inventory.claim(bucket, me, 120, { freshOnly: true })).toBeUndefined();
    expect((await claim(bucket)).path).toBe('failed-0');
  });

  test('a completion claiming fresh rows only leases the fresh write, not the failed rows due before it', async () => {
    const bucket = await bucketWithFailedAhead(2);
    const failed = await claim(bucket);
    expect(failed.path).toBe('failed-0');
    const answer = await inventory.completeAndClaimNext(bucket, failed, me, 120, copied, { freshOnly: true });
    expect(answer.completed).toBe(true);
    expect(answer.next?.path).toBe('fresh');
    const plain = await inventory.completeAndClaimNext(bucket, answer.next!, me, 120, copied);
    expect(plain.next?.path).toBe('failed-1');
  });

  test.each([
    ['a new table', false],
    ['statistics taken before any copy failed (the steady state before an outage)', true],
  ])(
    'with 200 failed rows due ahead (%s), a fresh-only claim reads the fresh rows’ index only, not one of the failed rows',
    async (_what, analyzedBefore) => {
      const bucket = await bucketWithFailedAhead(200, analyzedBefore);
      /** One fresh-only claim, rolled back: the row it leased and the index entries it read. */
      const claimFreshOnce = (): Promise<{ path?: string; fresh: number; pending: number }> =>
        pools.withBucket(bucket, async (pool) => {
          const client = await pool.connect();
          // Counters of this backend not yet flushed; inside one transaction nothing is flushed, so the
          // difference is the claim's own reads.
          const read = async (): Promise<number[]> => {
            const r = await client.query<{ read: string }>(
              `SELECT pg_stat_get_xact_tuples_returned(i::regclass) AS read
             FROM unnest(ARRAY['files_fresh_idx', 'files_pending_idx']) WITH ORDINALITY AS t(i, n) ORDER BY n`,
            );
            return r.rows.map((x) => Number(x.read));
          };
          try {
            await client.query('BEGIN');
            const before = await read();
            const claimed = await client.query<{ path: string }>(
              `SELECT path FROM s3_mirror_claim('me:2', 120, 'me:', NULL, true, ${FRESH_WINDOW_SECONDS})`,
            );
            const after = await read();
            await client.query('ROLLBACK');
            return {
              path: claimed.rows[0]?.path,
              fresh: after[0]! - before[0]!,
              pending: after[1]! - before[1]!,
            };
          } finally {
            client.release();
          }
        });
      // The first steps over the entries the failures left dead in the fresh rows' index, and marks them so.
      const first = await claimFreshOnce();
      expect([first.path, first.pending]).toEqual(['fresh', 0]);
      // Then a few entries at most (a rolled-back lease may leave one), not the 200 failed rows.
      const second = await claimFreshOnce();
      expect([second.path, second.pending]).toEqual(['fresh', 0]);
      expect(second.fresh).toBeLessThan(10);
    },
  );
});

describe('rows due longer than the fresh window belong to a backlog, though no copy of them failed (a mirror that hung)', () => {
  /** `old` rows no copy of which failed, due two fresh windows ago, recorded before one fresh write. */
  const bucketWithOldAhead = async (old: number): Promise<string> => {
    const bucket = await bucketWith(...Array.from({ length: old }, (_, i) => `old-${i}`));
    await pools.withBucket(bucket, (pool) =>
      pool.query(`UPDATE files SET next_attempt_at = now() - make_interval(secs => $1)`, [
        2 * FRESH_WINDOW_SECONDS,
      ]),
    );
    await inventory.recordWrites(bucket, [write(bucket, 'fresh')]);
    return bucket;
  };

  test('a claim takes the old row first and says it is catching up; a fresh-only claim passes over it', async () => {
    const bucket = await bucketWithOldAhead(1);
    const any = await claim(bucket);
    expect([any.path, any.attempts, any.catching_up]).toEqual(['old-0', 0, true]);
    await inventory.release(bucket, any.id, me.owner);
    const fresh = await inventory.claim(bucket, me, 120, { freshOnly: true });
    expect([fresh?.path, fresh?.catching_up]).toEqual(['fresh', false]);
    expect(await inventory.claim(bucket, me, 120, { freshOnly: true })).toBeUndefined();
  });

  test('a key the anti-entropy scan re-queues is a backlog’s row at once: passed over by fresh-only claims', async () => {
    const bucket = await bucketWith('written');
    const written = await claim(bucket);
    await inventory.completeOrRelease(bucket, written, me.owner, copied);
    // One key the row says is backed up, one it never had: both found wrong on the mirror.
    await inventory.requeue(bucket, [
      { key: 'written', size: 1, deleted: false, operation: 'Repair' },
      { key: 'unknown', size: 1, deleted: false, operation: 'Repair' },
    ]);
    expect(await inventory.claim(bucket, me, 120, { freshOnly: true })).toBeUndefined();
    const first = await claim(bucket);
    const second = await claim(bucket);
    expect([first, second].map((r) => [r.path, r.attempts, r.catching_up])).toEqual([
      ['written', 0, true],
      ['unknown', 0, true],
    ]);
  });

  test('a row whose copy failed is catching up however recently it fell due', async () => {
    const bucket = await bucketWith('a');
    const row = await claim(bucket);
    expect(row.catching_up).toBe(false);
    await inventory.fail(bucket, row.id, me.owner, { error: 'mirror down', retryInMs: 0, maxAttempts: 15 });
    expect(await claim(bucket)).toMatchObject({ path: 'a', attempts: 1, catching_up: true });
  });

  test('the window is the claim’s to set: with a longer one the old row is a fresh write again', async () => {
    const bucket = await bucketWithOldAhead(1);
    const row = await inventory.claim(bucket, me, 120, {
      freshOnly: true,
      freshWindowSeconds: 3 * FRESH_WINDOW_SECONDS,
    });
    expect([row?.path, row?.catching_up]).toEqual(['old-0', false]);
  });

  test('a completion claiming fresh rows only leases the fresh write; a plain one the old row, catching up', async () => {
    const bucket = await bucketWithOldAhead(2);
    const first = await claim(bucket);
    expect(first.path).toBe('old-0');
    const fresh = await inventory.completeAndClaimNext(bucket, first, me, 120, copied, { freshOnly: true });
    expect([fresh.next?.path, fresh.next?.catching_up]).toEqual(['fresh', false]);
    const plain = await inventory.completeAndClaimNext(bucket, fresh.next!, me, 120, copied);
    expect([plain.next?.path, plain.next?.catching_up]).toEqual(['old-1', true]);
  });

  test('with 200 old rows ahead, a fresh-only claim reads a few entries of the fresh rows’ index, not the old rows', async () => {
    const bucket = await bucketWithOldAhead(200);
    /** One fresh-only claim, rolled back: the row it leased and the fresh rows' index entries it read. */
    const claimFreshOnce = () =>
      pools.withBucket(bucket, async (pool) => {
        const client = await pool.connect();
        const read = async (): Promise<number> => {
          const r = await client.query<{ read: string }>(
            `SELECT pg_stat_get_xact_tuples_returned('files_fresh_idx'::regclass) AS read`,
          );
          return Number(r.rows[0]!.read);
        };
        try {
          await client.query('BEGIN');
          const before = await read();
          const claimed = await client.query<{ path: string }>(
            `SELECT path FROM s3_mirror_claim('me:2', 120, 'me:', NULL, true, $1)`,
            [FRESH_WINDOW_SECONDS],
          );
          const after = await read();
          await client.query('ROLLBACK');
          return { path: claimed.rows[0]?.path, fresh: after - before };
        } finally {
          client.release();
        }
      });
    // The first steps over the entries that dating the rows back left dead at their first due time.
    expect((await claimFreshOnce()).path).toBe('fresh');
    const reads = await claimFreshOnce();
    expect(reads.path).toBe('fresh');
    expect(reads.fresh).toBeLessThan(10);
  });
});

describe('writes that waited for Postgres (queued or journaled through an outage) fall due when they were made', () => {
  const ago = (seconds: number): Date => new Date(Date.now() - seconds * 1000);

  test('one made two fresh windows ago is a backlog’s row: a fresh-only claim passes over it to the new write', async () => {
    const bucket = bucketName();
    await inventory.recordWrites(bucket, [
      { ...write(bucket, 'waited'), acknowledgedAt: ago(2 * FRESH_WINDOW_SECONDS) },
      write(bucket, 'new'),
    ]);
    const fresh = await inventory.claim(bucket, me, 120, { freshOnly: true });
    expect([fresh?.path, fresh?.catching_up]).toEqual(['new', false]);
    const any = await claim(bucket);
    expect([any.path, any.attempts, any.catching_up]).toEqual(['waited', 0, true]);
  });

  test('a key written again after waiting: the row falls due with the new write’s time', async () => {
    const bucket = bucketName();
    await inventory.recordWrites(bucket, [
      { ...write(bucket, 'k'), acknowledgedAt: ago(2 * FRESH_WINDOW_SECONDS) },
    ]);
    await inventory.recordWrites(bucket, [write(bucket, 'k')]);
    expect(await inventory.claim(bucket, me, 120, { freshOnly: true })).toMatchObject({
      path: 'k',
      catching_up: false,
    });
  });

  test('an older write recorded after a newer one (a journal replayed beside live writes) leaves it fresh', async () => {
    const bucket = bucketName();
    await inventory.recordWrites(bucket, [write(bucket, 'k')]);
    await inventory.recordWrites(bucket, [
      { ...write(bucket, 'k'), acknowledgedAt: ago(2 * FRESH_WINDOW_SECONDS) },
    ]);
    expect(await inventory.claim(bucket, me, 120, { freshOnly: true })).toMatchObject({
      path: 'k',
      catching_up: false,
    });
  });

  test('one that waited a few seconds is still a fresh write', async () => {
    const bucket = bucketName();
    await inventory.recordWrites(bucket, [{ ...write(bucket, 'k'), acknowledgedAt: ago(5) }]);
    expect(await inventory.claim(bucket, me, 120, { freshOnly: true })).toMatchObject({
      path: 'k',
      catching_up: false,
    });
  });
});
