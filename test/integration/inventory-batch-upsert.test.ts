/**
 * Recording a flush's writes in one statement, against a real Postgres: a batch leaves every row as the same
 * writes recorded one at a time would (sizes and content types a write does not name kept, deletes and
 * their delays, revivals, generations), keys that break array literals arrive intact, and a key written
 * twice in one flush sees both writes in order.
 */
import crypto from 'node:crypto';

import type { WriteEvent } from '../../proxy/src/events';
import { InventoryPools } from '../../proxy/src/inventory/pools';
import { InventoryRepository } from '../../proxy/src/inventory/repository';
import { createLogger } from '../../proxy/src/log';
import type { DeletePolicy } from '../../proxy/src/mirror/delete-policy';
import { loadServices, type TestServices } from '../harness/services';

const services: TestServices = loadServices();
const pools = new InventoryPools(services.postgres.url, createLogger('off'));

const bucketName = (): string => `batch-${crypto.randomBytes(4).toString('hex')}`;
const at = new Date('2026-12-03T10:00:00Z');
const put = (key: string, more: Partial<WriteEvent> = {}): WriteEvent => ({
  bucket: 'b',
  key,
  kind: 'put',
  operation: 'PutObject',
  size: 3,
  contentType: 'text/plain',
  etag: `"${key}"`,
  acknowledgedAt: at,
  ...more,
});
const del = (key: string): WriteEvent => ({
  bucket: 'b',
  key,
  kind: 'delete',
  operation: 'DeleteObject',
  acknowledgedAt: at,
});

/** Every column a write sets, timestamps as whether they are set (or due), since now() differs per statement. */
const rows = (bucket: string) =>
  pools.withBucket(bucket, async (pool) => {
    const r = await pool.query(`SELECT path, size::text, content_type, deleted, etag, version_id, checksums,
        last_operation, generation::text, is_backed_up, delete_kept, last_modified,
        deleted_at IS NOT NULL AS has_deleted_at, next_attempt_at > now() AS waits, pending_since IS NOT NULL AS pending
      FROM files ORDER BY path COLLATE "C"`);
    return r.rows as Record<string, unknown>[];
  });

afterAll(async () => {
  await pools.close();
});

const before: WriteEvent[] = [
  put('kept-size', { size: 11, contentType: 'image/png' }),
  put('to-delete'),
  del('revived'),
];
const writes: WriteEvent[] = [
  // A tag change names neither size nor content type: the row keeps its own.
  put('kept-size', {
    operation: 'PutObjectTagging',
    size: undefined,
    contentType: undefined,
    etag: undefined,
  }),
  del('to-delete'),
  put('revived', { size: 5, versionId: 'v2', checksums: { CRC32: 'AAAAAA==' } }),
  put('new', { contentType: undefined }),
  del('never-existed'),
];

for (const policy of [
  { kind: 'mirror' },
  { kind: 'delay', seconds: 3600 },
  { kind: 'keep' },
] as DeletePolicy[]) {
  test(`a batch leaves every row as the writes one at a time would (${policy.kind})`, async () => {
    const inventory = new InventoryRepository(pools, policy);
    const [one, batch] = [bucketName(), bucketName()];
    for (const bucket of [one, batch]) await inventory.recordWrites(bucket, before);
    for (const w of writes) await inventory.recordWrites(one, [w]);
    await inventory.recordWrites(batch, writes);
    const expected = await rows(one);
    expect(await rows(batch)).toEqual(expected);
    // And the rows say what the writes did (the comparison alone would pass if both were wrong).
    const byPath = Object.fromEntries(expected.map((r) => [r.path, r]));
    expect(byPath['kept-size']).toMatchObject({ size: '11', content_type: 'image/png', generation: '2' });
    expect(byPath['to-delete']).toMatchObject({ deleted: true, has_deleted_at: true, size: '3' });
    expect(byPath['to-delete']!.waits).toBe(policy.kind === 'delay');
    expect(byPath['to-delete']!.delete_kept).toBe(policy.kind === 'keep');
    expect(byPath.revived).toMatchObject({
      deleted: false,
      has_deleted_at: false,
      size: '5',
      version_id: 'v2',
      checksums: { CRC32: 'AAAAAA==' },
    });
    expect(byPath.new).toMatchObject({
      content_type: 'application/octet-stream',
      generation: '1',
      is_backed_up: false,
    });
  });
}

test('keys that break array literals arrive intact', async () => {
  const bucket = bucketName();
  const keys = [
    'a"b',
    'c\\d',
    '{e,f}',
    'NULL',
    ' lead and trail ',
    'ünï/cødé',
    'new\nline',
    "it's",
    'comma,key',
  ];
  await new InventoryRepository(pools).recordWrites(
    bucket,
    keys.map((k) => put(k)),
  );
  const stored = await rows(bucket);
  expect(stored.map((r) => r.path)).toEqual(
    [...keys].sort((a, b) => Buffer.compare(Buffer.from(a), Buffer.from(b))),
  );
  expect(stored.every((r) => r.etag === `"${String(r.path)}"`)).toBe(true);
});

test('a key written twice in one flush sees both writes, in order', async () => {
  const bucket = bucketName();
  await new InventoryRepository(pools).recordWrites(bucket, [
    put('k', { size: 1 }),
    put('other'),
    del('k'),
    put('k', { size: undefined, operation: 'PutObjectTagging', etag: undefined }),
  ]);
  const k = (await rows(bucket)).find((r) => r.path === 'k');
  // Three writes: put, delete, then a tag change that revives nothing but records its own state.
  expect(k).toMatchObject({ generation: '3', size: '1', deleted: false, last_operation: 'PutObjectTagging' });
});
