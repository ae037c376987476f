import { ListObjectsV2Command, type S3Client } from '@aws-sdk/client-s3';

import type { InventoryPools } from '../../src/inventory/pools';
import { createLogger } from '../../src/log';
import { createMetrics } from '../../src/metrics';
import { AntiEntropyScanner, ScanPageError } from '../../src/scan/anti-entropy';
import { REQUEUE_SQL, TAKE_SCAN_SQL } from '../../src/scan/scan-sql';

type Listing = { Contents?: { Key: string; Size: number; ETag: string }[]; IsTruncated?: boolean };

/** An S3 client whose ListObjectsV2 answers from `answer`. */
function s3(answer: (input: { StartAfter?: string }) => Listing | Error): S3Client {
  return {
    send: async (cmd: unknown) => {
      if (!(cmd instanceof ListObjectsV2Command)) throw new Error('unexpected command');
      const r = answer(cmd.input);
      if (r instanceof Error) throw r;
      return r;
    },
  } as unknown as S3Client;
}

/** Inventory pools that grant the scan lease and record every statement. */
function pools(rows: Record<string, unknown>[] = []): { pools: InventoryPools; sql: string[] } {
  const sql: string[] = [];
  const pool = {
    query: async (text: string) => {
      sql.push(text);
      if (text === TAKE_SCAN_SQL) return { rows: [{ taken: true, cursor: null }], rowCount: 1 };
      if (text.includes('FROM files')) return { rows, rowCount: rows.length };
      return { rows: [{ completed: 1 }], rowCount: 1 };
    },
  };
  return {
    pools: {
      withBucket: async (_b: string, fn: (p: unknown) => unknown) => fn(pool),
    } as unknown as InventoryPools,
    sql,
  };
}

function scanner(main: S3Client, mirror: S3Client, p: InventoryPools): AntiEntropyScanner {
  return new AntiEntropyScanner({
    main,
    mirror,
    pools: p,
    owner: 'me:1',
    settings: { intervalSeconds: 60, requestsPerSecond: 1000, settleSeconds: 0 },
    metrics: createMetrics(),
    logger: createLogger('off'),
    onRequeued: () => undefined,
  });
}

const noSuchBucket = Object.assign(new Error('The specified bucket does not exist'), {
  name: 'NoSuchBucket',
});
const backedUp = (path: string) => ({
  path,
  size: '1',
  etag: '"e"',
  mirror_etag: '"e"',
  deleted: false,
  is_backed_up: true,
  parked: false,
  recent: false,
});

test('main answering NoSuchBucket fails the page: nothing is re-queued (never "main holds nothing")', async () => {
  const mirror = s3(() => ({ Contents: [{ Key: 'k', Size: 1, ETag: '"e"' }] }));
  const { pools: p, sql } = pools([backedUp('k')]);
  await expect(
    scanner(
      s3(() => noSuchBucket),
      mirror,
      p,
    ).scanPage('b'),
  ).rejects.toThrow(ScanPageError);
  expect(sql).not.toContain(REQUEUE_SQL);
});

test('a truncated page without keys, or a listing that does not move past its cursor, fails the page', async () => {
  const { pools: p, sql } = pools([backedUp('k')]);
  const mirror = s3(() => ({ Contents: [] }));
  await expect(
    scanner(
      s3(() => ({ IsTruncated: true })),
      mirror,
      p,
    ).scanPage('b'),
  ).rejects.toThrow(/no key .* yet more to come/);
  expect(sql).not.toContain(REQUEUE_SQL);
});

test('an object only on main is re-queued; one equal everywhere is not', async () => {
  const main = s3(() => ({
    Contents: [
      { Key: 'k', Size: 1, ETag: '"e"' },
      { Key: 'new', Size: 3, ETag: '"n"' },
    ],
  }));
  const mirror = s3(() => ({ Contents: [{ Key: 'k', Size: 1, ETag: 'E' }] })); // unquoted, other case
  const { pools: p, sql } = pools([backedUp('k')]);
  expect(await scanner(main, mirror, p).scanPage('b')).toEqual({ kind: 'pass-complete' });
  expect(sql.filter((q) => q === REQUEUE_SQL)).toHaveLength(1);
});

test('a mirror page that ends on main page’s last key costs one listing, not two', async () => {
  const keys = ['a', 'b', 'c', 'd'];
  const page = (after: string | undefined): Listing => {
    const from = after === undefined ? 0 : keys.indexOf(after) + 1;
    const Contents = keys.slice(from, from + 2).map((Key) => ({ Key, Size: 1, ETag: '"e"' }));
    return { Contents, IsTruncated: from + 2 < keys.length };
  };
  const mirrorCalls: (string | undefined)[] = [];
  const main = s3((input) => page(input.StartAfter));
  const mirror = s3((input) => {
    mirrorCalls.push(input.StartAfter);
    return page(input.StartAfter);
  });
  const { pools: p } = pools(keys.map(backedUp));
  const scan = new AntiEntropyScanner({
    main,
    mirror,
    pools: p,
    owner: 'me:1',
    settings: { intervalSeconds: 60, requestsPerSecond: 1000, settleSeconds: 0 },
    metrics: createMetrics(),
    logger: createLogger('off'),
    onRequeued: () => undefined,
    pageSize: 2,
  });
  expect(await scan.scanPage('b')).toEqual({ kind: 'page' });
  expect(mirrorCalls).toEqual([undefined]);
});
