/**
 * The control hints' settle and the gauges' recount, against a real Postgres: the counts of every bucket a
 * sidecar wrote to since the last refresh reach the hints in one statement, never over a hint settled
 * meanwhile and never waiting on one another statement holds; a settle says whether it left the hint due.
 */
import crypto from 'node:crypto';

import { CONTROL_DATABASE } from '../../proxy/src/inventory/control-schema';
import { InventoryPools } from '../../proxy/src/inventory/pools';
import { InventoryRepository } from '../../proxy/src/inventory/repository';
import type { BucketCounts } from '../../proxy/src/inventory/work-hints';
import { createLogger } from '../../proxy/src/log';
import { writeEvent as write } from '../harness/inventory-events';
import { queryDatabase } from '../harness/inventory-rows';
import { Client } from 'pg';
import { loadServices, type TestServices } from '../harness/services';

const services: TestServices = loadServices();
const pools = new InventoryPools(services.postgres.url, createLogger('off'));
const inventory = new InventoryRepository(pools);

afterAll(async () => {
  await pools.close();
});

const counted = (pending: number, parked: number, oldest: Date | null): BucketCounts => ({
  nextDue: null,
  pending,
  parked,
  oldestPending: oldest,
});

async function hintsOf(buckets: string[]) {
  const rows = await queryDatabase<{
    bucket: string;
    pending: string;
    parked: string;
    oldest_pending: Date | null;
    counted_at: Date | null;
  }>(
    services,
    CONTROL_DATABASE,
    'SELECT bucket, pending::text, parked::text, oldest_pending, counted_at FROM mirror_work WHERE bucket = ANY($1)',
    [buckets],
  );
  return new Map(rows.map((r) => [r.bucket, r]));
}

test('the counts of several buckets are recorded in one statement, except over a hint settled since', async () => {
  const id = crypto.randomBytes(4).toString('hex');
  const [a, b, settled] = [`counts-a-${id}`, `counts-b-${id}`, `counts-s-${id}`];
  for (const bucket of [a, b, settled]) await inventory.recordWrites(bucket, [write(bucket, 'k')]);
  // A look that found nothing pending settled this one after its count was taken.
  const version = await pools.hints.version(settled);
  expect(await pools.hints.settle(settled, version!, counted(0, 0, null))).toBe('not-due');

  const oldest = new Date('2026-01-02T03:04:05Z');
  await pools.hints.recordCounts(
    new Map([
      [a, counted(3, 1, oldest)],
      [b, counted(5, 0, null)],
      [settled, counted(9, 9, oldest)],
    ]),
  );

  const hints = await hintsOf([a, b, settled]);
  expect(hints.get(a)).toMatchObject({ pending: '3', parked: '1', oldest_pending: oldest });
  expect(hints.get(a)!.counted_at).not.toBeNull();
  expect(hints.get(b)).toMatchObject({ pending: '5', parked: '0', oldest_pending: null });
  expect(hints.get(settled)).toMatchObject({ pending: '0', parked: '0', oldest_pending: null });
});

test('a hint another statement holds is skipped by the recount, not waited on (the next refresh counts it)', async () => {
  const id = crypto.randomBytes(4).toString('hex');
  const [held, free] = [`counts-h-${id}`, `counts-f-${id}`];
  for (const bucket of [held, free]) await inventory.recordWrites(bucket, [write(bucket, 'k')]);
  const url = new URL(services.postgres.url);
  url.pathname = `/${CONTROL_DATABASE}`;
  const other = new Client({ connectionString: url.toString() });
  await other.connect();
  try {
    await other.query('BEGIN');
    await other.query('SELECT 1 FROM mirror_work WHERE bucket = $1 FOR UPDATE', [held]);
    await pools.hints.recordCounts(
      new Map([
        [held, counted(4, 0, null)],
        [free, counted(6, 0, null)],
      ]),
    );
    await other.query('ROLLBACK');
  } finally {
    await other.end();
  }
  const hints = await hintsOf([held, free]);
  expect(hints.get(free)).toMatchObject({ pending: '6' });
  expect(hints.get(held)!.pending).not.toBe('4');
});

test("a settle says whether it left the hint due now, by the server's clock, or lost to a newer mark", async () => {
  const bucket = `settle-${crypto.randomBytes(4).toString('hex')}`;
  await inventory.recordWrites(bucket, [write(bucket, 'k')]);
  const version = (await pools.hints.version(bucket))!;
  const dueAt = (next: Date): BucketCounts => ({ ...counted(1, 0, null), nextDue: next });
  expect(await pools.hints.settle(bucket, version, dueAt(new Date(Date.now() + 3_600_000)))).toBe('not-due');
  expect(await pools.hints.settle(bucket, version, dueAt(new Date(Date.now() - 3_600_000)))).toBe('due');
  await pools.hints.markDue(bucket);
  expect(await pools.hints.settle(bucket, version, counted(0, 0, null))).toBe('lost');
});
