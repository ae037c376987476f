/**
 * Claiming as writes are recorded, against a real Postgres: the upsert that records a write also leases its
 * row to the recording sidecar, as a claim would, but never over a lease that still runs, never a delete
 * that must wait out its delay, and at most as many rows as asked. What it leases, completes like a claim.
 */
import crypto from 'node:crypto';

import type { WriteEvent } from '../../proxy/src/events';
import { InventoryPools } from '../../proxy/src/inventory/pools';
import { InventoryRepository, type LeaseOwner } from '../../proxy/src/inventory/repository';
import { createLogger } from '../../proxy/src/log';
import { loadServices, type TestServices } from '../harness/services';

const services: TestServices = loadServices();
const pools = new InventoryPools(services.postgres.url, createLogger('off'));
const inventory = new InventoryRepository(pools);
const me: LeaseOwner = { owner: 'me:2', ownerPrefix: 'me:' };
const other: LeaseOwner = { owner: 'other:1', ownerPrefix: 'other:' };
const claimFor = (lease: LeaseOwner, max = 16) => ({ lease, leaseSeconds: 120, max });

const bucketName = (): string => `claim-${crypto.randomBytes(4).toString('hex')}`;
const write = (bucket: string, key: string, kind: 'put' | 'delete' = 'put'): WriteEvent => ({
  bucket,
  key,
  kind,
  operation: kind === 'put' ? 'PutObject' : 'DeleteObject',
  ...(kind === 'put' ? { size: 3, etag: '"e"' } : {}),
  acknowledgedAt: new Date(),
});

interface LeaseRow {
  path: string;
  lease_owner: string | null;
  generation: string;
  is_backed_up: boolean;
}
const leases = async (bucket: string): Promise<LeaseRow[]> =>
  pools.withBucket(bucket, async (pool) => {
    const r = await pool.query<LeaseRow>(
      `SELECT path, lease_owner, generation::text, is_backed_up FROM files ORDER BY path`,
    );
    return r.rows;
  });

afterAll(async () => {
  await pools.close();
});

test('up to max rows are leased as they are recorded; the rest wait for a claim; a leased row completes like a claimed one', async () => {
  const bucket = bucketName();
  const r = await inventory.recordWrites(
    bucket,
    ['a', 'b', 'c'].map((k) => write(bucket, k)),
    undefined,
    claimFor(me, 2),
  );
  expect(r.claimed.map((row) => [row.path, row.generation, row.attempts, row.deleted])).toEqual([
    ['a', '1', 0, false],
    ['b', '1', 0, false],
  ]);
  expect(r.unclaimed).toBe(1);
  expect((await leases(bucket)).map((row) => row.lease_owner)).toEqual(['me:2', 'me:2', null]);
  // Another sidecar's claim finds only the row nobody leased.
  expect((await inventory.claim(bucket, other, 120))?.path).toBe('c');
  expect(await inventory.claim(bucket, other, 120)).toBeUndefined();
  const result = {
    exists: true as const,
    size: 3,
    etag: '"e"',
    mirrorEtag: '"e"',
    contentType: undefined,
    lastModified: undefined,
    versionId: undefined,
  };
  expect(await inventory.completeOrRelease(bucket, r.claimed[0]!, me.owner, result)).toBe(true);
  expect((await leases(bucket))[0]).toMatchObject({ path: 'a', lease_owner: null, is_backed_up: true });
});

test('a row another sidecar holds is recorded (newer generation) but not taken; a lease that ran out, or one of a previous start, is', async () => {
  const bucket = bucketName();
  await inventory.recordWrites(
    bucket,
    ['held', 'expired', 'mine-before'].map((k) => write(bucket, k)),
  );
  await pools.withBucket(bucket, (pool) =>
    pool.query(`UPDATE files SET lease_owner = CASE path WHEN 'mine-before' THEN 'me:1' ELSE 'other:1' END,
        lease_until = CASE path WHEN 'expired' THEN now() - interval '1 second' ELSE now() + interval '1 hour' END`),
  );
  const r = await inventory.recordWrites(
    bucket,
    ['held', 'expired', 'mine-before'].map((k) => write(bucket, k)),
    undefined,
    claimFor(me),
  );
  expect(r.claimed.map((row) => row.path).sort()).toEqual(['expired', 'mine-before']);
  expect(r.unclaimed).toBe(1);
  expect(await leases(bucket)).toEqual([
    { path: 'expired', lease_owner: 'me:2', generation: '2', is_backed_up: false },
    { path: 'held', lease_owner: 'other:1', generation: '2', is_backed_up: false },
    { path: 'mine-before', lease_owner: 'me:2', generation: '2', is_backed_up: false },
  ]);
});

test('a delete that must wait out its delay is not taken; under the default policy it is', async () => {
  const bucket = bucketName();
  const delayed = new InventoryRepository(pools, { kind: 'delay', seconds: 3600 });
  await inventory.recordWrites(bucket, [write(bucket, 'd'), write(bucket, 'e')]);
  const r = await delayed.recordWrites(
    bucket,
    [write(bucket, 'd', 'delete'), write(bucket, 'p')],
    undefined,
    claimFor(me),
  );
  expect(r.claimed.map((row) => row.path)).toEqual(['p']);
  const now = await inventory.recordWrites(bucket, [write(bucket, 'e', 'delete')], undefined, claimFor(me));
  expect(now.claimed.map((row) => [row.path, row.deleted])).toEqual([['e', true]]);
});

test('a key written twice in one batch is leased once, with the generation of its last write', async () => {
  const bucket = bucketName();
  const r = await inventory.recordWrites(
    bucket,
    [write(bucket, 'k'), write(bucket, 'other'), write(bucket, 'k', 'delete')],
    undefined,
    claimFor(me, 1),
  );
  expect(r.claimed.map((row) => [row.path, row.generation, row.deleted])).toEqual([['k', '2', true]]);
  expect(r.unclaimed).toBe(1);
  expect((await leases(bucket)).map((row) => [row.path, row.lease_owner])).toEqual([
    ['k', 'me:2'],
    ['other', null],
  ]);
});

test('recording without a claim leases nothing', async () => {
  const bucket = bucketName();
  const r = await inventory.recordWrites(bucket, [write(bucket, 'a')]);
  expect(r).toMatchObject({ claimed: [], unclaimed: 1 });
  expect((await leases(bucket))[0]!.lease_owner).toBeNull();
});
