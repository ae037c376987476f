import { Readable } from 'node:stream';

import type { RequeueItem, ScannedRow } from '../../src/inventory/repository';
import { createLogger } from '../../src/log';
import { createMetrics } from '../../src/metrics';
import { mirrorBucketNamer, sameBucketName, type MirrorBucketName } from '../../src/mirror/bucket-name';
import type { S3Http, S3HttpRequest, S3HttpResponse } from '../../src/mirror/s3-http';
import { AntiEntropyScanner, ScanPageError, type ScanInventory } from '../../src/scan/anti-entropy';

type Listing = { Contents?: { Key: string; Size: number; ETag: string }[]; IsTruncated?: boolean };

const reply = (statusCode: number, body = '', headers: Record<string, string> = {}): S3HttpResponse => ({
  statusCode,
  headers,
  body: Readable.from(body ? [Buffer.from(body)] : []),
});

/** A ListObjectsV2 answer as AWS writes it, keys URL-encoded (the scan asks for that) with `+` for a space. */
function listingXml(listing: Listing): string {
  const contents = (listing.Contents ?? [])
    .map(
      (o) =>
        `<Contents><Key>${encodeURIComponent(o.Key).replace(/%20/g, '+')}</Key><Size>${o.Size}</Size>` +
        `<ETag>${o.ETag.replace(/"/g, '&quot;')}</ETag></Contents>`,
    )
    .join('');
  return `<ListBucketResult><EncodingType>url</EncodingType><IsTruncated>${listing.IsTruncated ?? false}</IsTruncated>${contents}</ListBucketResult>`;
}

/** An endpoint (the scan's signed client) whose ListObjectsV2 answers from `answer`; `head` answers HEADs. */
function s3(
  answer: (input: { Bucket?: string; StartAfter?: string }) => Listing | Error | S3HttpResponse,
  head?: (key: string) => S3HttpResponse,
): S3Http {
  return {
    send: async (r: S3HttpRequest) => {
      // Without `head`, every key is missing (as a key main no longer lists usually is).
      if (r.method === 'HEAD' && r.key !== undefined) return head ? head(r.key) : reply(404);
      const query = new Map(r.query ?? []);
      if (r.method !== 'GET' || r.key !== undefined || query.get('list-type') !== '2')
        throw new Error(`unexpected ${r.method} ${r.bucket}/${r.key ?? ''}`);
      const startAfter = query.get('start-after') ?? undefined;
      const result = answer({
        Bucket: r.bucket,
        ...(startAfter !== undefined ? { StartAfter: startAfter } : {}),
      });
      if (result instanceof Error)
        return reply(404, `<Error><Code>${result.name}</Code><Message>${result.message}</Message></Error>`);
      if ('statusCode' in result) return result;
      return reply(200, listingXml(result));
    },
  };
}

/** An inventory that grants the scan lease, holds `rows`, and records what was re-queued. */
function pools(rows: ScannedRow[] = []): { pools: ScanInventory; requeued: RequeueItem[] } {
  const requeued: RequeueItem[] = [];
  return {
    pools: {
      takeScan: async () => ({
        taken: true,
        cursor: null,
        last_complete: null,
        lease_left: null,
        due_in: null,
      }),
      renewScan: async () => undefined,
      recordScanPage: async () => true,
      finishScan: async () => 1,
      releaseScan: async () => undefined,
      scanRows: async () => new Map(rows.map((r) => [r.path, r])),
      requeue: async (_bucket, items) => void requeued.push(...items),
    },
    requeued,
  };
}

function scanner(
  main: S3Http,
  mirror: S3Http,
  p: ScanInventory,
  pageSize?: number,
  mirrorBucket: MirrorBucketName = sameBucketName,
): AntiEntropyScanner {
  return new AntiEntropyScanner({
    main,
    mirror,
    mirrorBucket,
    inventory: p,
    owner: 'me:1',
    settings: { intervalSeconds: 60, requestsPerSecond: 1000, settleSeconds: 0 },
    metrics: createMetrics(),
    logger: createLogger('off'),
    onRequeued: () => undefined,
    ...(pageSize !== undefined ? { pageSize } : {}),
  });
}

const noSuchBucket = Object.assign(new Error('The specified bucket does not exist'), {
  name: 'NoSuchBucket',
});
const backedUp = (path: string): ScannedRow => ({
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
  const { pools: p, requeued } = pools([backedUp('k')]);
  await expect(
    scanner(
      s3(() => noSuchBucket),
      mirror,
      p,
    ).scanPage('b'),
  ).rejects.toThrow(ScanPageError);
  expect(requeued).toEqual([]);
});

test('a truncated page without keys, or a listing that does not move past its cursor, fails the page', async () => {
  const { pools: p, requeued } = pools([backedUp('k')]);
  const mirror = s3(() => ({ Contents: [] }));
  await expect(
    scanner(
      s3(() => ({ IsTruncated: true })),
      mirror,
      p,
    ).scanPage('b'),
  ).rejects.toThrow(/no key .* yet more to come/);
  expect(requeued).toEqual([]);
});

test("MIRROR_BUCKET_TEMPLATE: main's listing is compared with its mirror bucket's, rows stay main's", async () => {
  const main = s3((input) =>
    input.Bucket === 'b' ? { Contents: [{ Key: 'k', Size: 1, ETag: '"e"' }] } : noSuchBucket,
  );
  const mirror = s3((input) =>
    input.Bucket === 'b-bk' ? { Contents: [{ Key: 'k', Size: 1, ETag: '"e"' }] } : noSuchBucket,
  );
  const { pools: p, requeued } = pools([backedUp('k')]);
  const named = scanner(main, mirror, p, undefined, mirrorBucketNamer('{bucket}-bk'));
  expect(await named.scanPage('b')).toEqual({ kind: 'pass-complete' });
  expect(requeued).toEqual([]);
  // Under main's own name the mirror has no such bucket: the key is re-queued for a copy.
  const unnamed = pools([backedUp('k')]);
  await scanner(main, mirror, unnamed.pools).scanPage('b');
  expect(unnamed.requeued.map((q) => q.key)).toEqual(['k']);
});

test('a key main serves but no longer lists (a bucket-index race on RGW) is judged by HEAD, not re-queued', async () => {
  const heads: string[] = [];
  const main = s3(
    () => ({ Contents: [] }),
    (key) => {
      heads.push(key);
      if (key !== 'served') return reply(404);
      return reply(200, '', {
        'content-length': '1',
        etag: '"e"',
        'last-modified': 'Thu, 01 Jan 1970 00:00:00 GMT',
      });
    },
  );
  const mirror = s3(() => ({
    Contents: [
      { Key: 'gone', Size: 1, ETag: '"e"' },
      { Key: 'served', Size: 1, ETag: '"e"' },
    ],
  }));
  const { pools: p, requeued } = pools([backedUp('gone'), backedUp('served')]);
  expect(await scanner(main, mirror, p).scanPage('b')).toEqual({ kind: 'pass-complete' });
  expect(heads.sort()).toEqual(['gone', 'served']);
  expect(requeued.map((q) => [q.key, q.deleted])).toEqual([['gone', true]]);
});

test('an object only on main is re-queued; one equal everywhere is not', async () => {
  const main = s3(() => ({
    Contents: [
      { Key: 'k', Size: 1, ETag: '"e"' },
      { Key: 'new', Size: 3, ETag: '"n"' },
    ],
  }));
  const mirror = s3(() => ({ Contents: [{ Key: 'k', Size: 1, ETag: 'E' }] })); // unquoted, other case
  const { pools: p, requeued } = pools([backedUp('k')]);
  expect(await scanner(main, mirror, p).scanPage('b')).toEqual({ kind: 'pass-complete' });
  expect(requeued.map((q) => q.key)).toEqual(['new']);
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
  const scan = scanner(main, mirror, p, 2);
  expect(await scan.scanPage('b')).toEqual({ kind: 'page' });
  expect(mirrorCalls).toEqual([undefined]);
});

test('keys with spaces, + and %, listed URL-encoded one per page, are compared and paged as written', async () => {
  const keys = ['a b', 'a%2Bb', 'a+b', 'z']; // S3's order: the bytes of their UTF-8
  const page = (after: string | undefined): Listing => {
    const from = after === undefined ? 0 : keys.indexOf(after) + 1;
    return {
      Contents: keys.slice(from, from + 1).map((Key) => ({ Key, Size: 1, ETag: '"e"' })),
      IsTruncated: from + 1 < keys.length,
    };
  };
  const afters: (string | undefined)[] = [];
  const main = s3((input) => (afters.push(input.StartAfter), page(input.StartAfter)));
  const mirror = s3((input) => page(input.StartAfter));
  const { pools: p, requeued } = pools(keys.map(backedUp));
  let cursor: string | null = null;
  const inventory: ScanInventory = {
    ...p,
    takeScan: async () => ({ taken: true, cursor, last_complete: null, lease_left: null, due_in: null }),
    recordScanPage: async (_bucket, _owner, scanned) => ((cursor = scanned.to), true),
    // As the repository: the rows of the page's range (after, upTo], in S3's byte order.
    scanRows: async (_bucket, range) => {
      const after = (k: string, than: string | undefined) =>
        than === undefined || Buffer.compare(Buffer.from(k), Buffer.from(than)) > 0;
      const inRange = keys.filter(
        (k) => after(k, range.after) && (range.upTo === undefined || !after(k, range.upTo)),
      );
      return new Map(inRange.map((k) => [k, backedUp(k)]));
    },
  };
  const scan = scanner(main, mirror, inventory, 1);
  const outcomes = [];
  for (let i = 0; i < keys.length; i++) outcomes.push((await scan.scanPage('b')).kind);
  expect(outcomes).toEqual(['page', 'page', 'page', 'pass-complete']);
  expect(afters).toEqual([undefined, 'a b', 'a%2Bb', 'a+b']);
  expect(requeued).toEqual([]);
});

test('a page is judged by main and the mirror only: a HEAD or a listing that fails, or a 200 that is no listing, re-queues nothing', async () => {
  const rows = [backedUp('gone')];
  const mirror = s3(() => ({ Contents: [{ Key: 'gone', Size: 1, ETag: '"e"' }] }));
  const headFails = s3(
    () => ({ Contents: [] }),
    () =>
      reply(503, '<Error><Code>SlowDown</Code><Message>Please reduce your request rate.</Message></Error>'),
  );
  const a = pools(rows);
  await expect(scanner(headFails, mirror, a.pools).scanPage('b')).rejects.toThrow(
    /main's HEAD of gone in b failed \(SlowDown/,
  );
  expect(a.requeued).toEqual([]);

  const b = pools(rows);
  const html = s3(() => reply(200, '<html><body>maintenance</body></html>'));
  await expect(scanner(html, mirror, b.pools).scanPage('b')).rejects.toThrow(/not a ListBucketResult/);
  expect(b.requeued).toEqual([]);

  const c = pools(rows);
  const denied = s3(() =>
    reply(403, '<Error><Code>AccessDenied</Code><Message>Access Denied</Message></Error>'),
  );
  const main = s3(
    () => ({ Contents: [] }),
    () => reply(404),
  );
  await expect(scanner(main, denied, c.pools).scanPage('b')).rejects.toMatchObject({ name: 'AccessDenied' });
  expect(c.requeued).toEqual([]);
});
