/**
 * Inventory and mirroring end to end THROUGH THE PROXY PROCESS: the built proxy (its bundle, as the image
 * runs it) runs as a child process against RGW (main and mirror tenants) and real Postgres; an app client
 * with junk credentials (@aws-sdk/client-s3 at defaults, and with WHEN_REQUIRED checksums) writes through
 * it. Every scenario ends with three-way equality of main, mirror (bytes and metadata) and the inventory rows.
 */
import crypto from 'node:crypto';
import net from 'node:net';
import { Readable } from 'node:stream';
import http from 'node:http';

import {
  CompleteMultipartUploadCommand,
  CopyObjectCommand,
  CreateBucketCommand,
  CreateMultipartUploadCommand,
  DeleteObjectCommand,
  DeleteObjectTaggingCommand,
  DeleteObjectsCommand,
  GetBucketVersioningCommand,
  HeadObjectCommand,
  PutBucketVersioningCommand,
  PutObjectCommand,
  PutObjectTaggingCommand,
  UploadPartCommand,
  type S3Client,
} from '@aws-sdk/client-s3';

import { databaseNameFor } from '../../proxy/src/inventory/naming';
import { inventoryDatabaseExists, inventoryRows } from '../harness/inventory-rows';
import { appClient, directClient, proxyEnv, startProxyProcess, type ProxyInstance } from '../harness/proxy';
import { metricValue, scrapeMetrics } from '../harness/proxies';
import { loadServices, type TestServices } from '../harness/services';
import { waitForThreeWayEqual } from '../harness/three-way';
import { pollUntil } from '../harness/wait';
import { longestKeyForAll } from '../harness/long-key';
import { multipartUpload } from '../harness/multipart';

const services: TestServices = loadServices();
const rnd = (): string => crypto.randomBytes(4).toString('hex');
const MiB = 1024 * 1024;

let proxy: ProxyInstance;
let app: S3Client;
let appWhenRequired: S3Client;
const main = directClient(services.ceph.mainEndpoint, services.ceph.main);
const mirror = directClient(services.ceph.mirrorEndpoint, services.ceph.mirror);

beforeAll(async () => {
  proxy = await startProxyProcess(proxyEnv(services));
  app = appClient(proxy.url);
  appWhenRequired = appClient(proxy.url, { requestChecksumCalculation: 'WHEN_REQUIRED' });
});

afterAll(async () => {
  app?.destroy();
  appWhenRequired?.destroy();
  main.destroy();
  mirror.destroy();
  await proxy?.stop();
});

async function newBucket(name = `pm-${rnd()}`): Promise<string> {
  await app.send(new CreateBucketCommand({ Bucket: name }));
  return name;
}

/** Uploads `parts` as one multipart upload through the proxy; returns main's answer. */
function multipart(client: S3Client, bucket: string, key: string, parts: Buffer[]) {
  return multipartUpload(client, bucket, key, parts, {
    ContentType: 'application/x-mpu',
    CacheControl: 'no-store',
    Metadata: { kind: 'mpu' },
    Tagging: 'shape=multipart',
  });
}

function rawPut(url: string, headers: http.OutgoingHttpHeaders, body: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = http.request(url, { method: 'PUT', headers, agent: false }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode ?? 0));
    });
    req.on('error', reject);
    req.end(body);
  });
}

/** Waits until `key` has a backed-up row: every event recorded before it has been flushed too (FIFO). */
async function fence(bucket: string, key = `fence-${rnd()}`): Promise<void> {
  await app.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: 'fence' }));
  await pollUntil(`inventory row for ${key}`, async () => {
    return (await inventoryRows(services, bucket)).get(key)?.is_backed_up === true;
  });
}

describe('through the proxy process: each write type is recorded and mirrored', () => {
  test('PutObject with headers, metadata and tags; CopyObject; multipart of 3 parts; DeleteObject; DeleteObjects; tagging', async () => {
    const bucket = await newBucket();
    await app.send(
      new PutObjectCommand({
        Bucket: bucket,
        Key: 'docs/a.txt',
        Body: 'hello world',
        ContentType: 'text/plain; charset=utf-8',
        ContentEncoding: 'identity',
        CacheControl: 'max-age=60',
        ContentDisposition: 'attachment; filename="a.txt"',
        Metadata: { owner: 'alice', note: 'first' },
        Tagging: 'env=test&team=storage',
      }),
    );
    // A stream body: the SDK sends aws-chunked with a trailing CRC32, which the proxy decodes.
    const streamed = crypto.randomBytes(300_000);
    await app.send(
      new PutObjectCommand({
        Bucket: bucket,
        Key: 'streamed.bin',
        Body: Readable.from([streamed.subarray(0, 100_000), streamed.subarray(100_000)]),
        ContentLength: streamed.length,
        ContentType: 'application/x-streamed',
        Metadata: { via: 'stream' },
      }),
    );
    await appWhenRequired.send(
      new PutObjectCommand({
        Bucket: bucket,
        Key: 'when-required.txt',
        Body: 'plain',
        ContentType: 'text/x',
      }),
    );
    await app.send(new PutObjectCommand({ Bucket: bucket, Key: 'empty', Body: '' }));

    const mpu = await multipart(app, bucket, 'big/multi.bin', [
      crypto.randomBytes(5 * MiB),
      crypto.randomBytes(5 * MiB),
      crypto.randomBytes(MiB + 17),
    ]);
    expect(mpu.ETag).toBeDefined();

    await app.send(
      new CopyObjectCommand({
        Bucket: bucket,
        Key: 'copy-same-meta.txt',
        CopySource: `${bucket}/docs/a.txt`,
      }),
    );
    await appWhenRequired.send(
      new CopyObjectCommand({
        Bucket: bucket,
        Key: 'copy-new-meta.txt',
        CopySource: `${bucket}/docs/a.txt`,
        MetadataDirective: 'REPLACE',
        ContentType: 'text/x-replaced',
        Metadata: { replaced: 'yes' },
        TaggingDirective: 'REPLACE',
        Tagging: 'copied=true',
      }),
    );

    for (const k of ['del/1', 'del/2', 'del/3', 'del/single']) {
      await app.send(new PutObjectCommand({ Bucket: bucket, Key: k, Body: `body of ${k}` }));
    }
    await app.send(new DeleteObjectCommand({ Bucket: bucket, Key: 'del/single' }));
    const md = await app.send(
      new DeleteObjectsCommand({
        Bucket: bucket,
        Delete: { Objects: [{ Key: 'del/1' }, { Key: 'del/2' }, { Key: 'never-existed' }] },
      }),
    );
    expect((md.Deleted ?? []).map((d) => d.Key).sort()).toEqual(['del/1', 'del/2', 'never-existed']);

    // Tag changes alone are writes the mirror must follow.
    await app.send(
      new PutObjectTaggingCommand({
        Bucket: bucket,
        Key: 'streamed.bin',
        Tagging: { TagSet: [{ Key: 'retagged', Value: 'yes' }] },
      }),
    );
    await app.send(new DeleteObjectTaggingCommand({ Bucket: bucket, Key: 'docs/a.txt' }));

    await waitForThreeWayEqual(services, bucket);

    const rows = await inventoryRows(services, bucket);
    expect(rows.get('docs/a.txt')).toMatchObject({
      deleted: false,
      is_backed_up: true,
      size: '11',
      content_type: 'text/plain; charset=utf-8',
    });
    expect(rows.get('big/multi.bin')).toMatchObject({
      size: String(11 * MiB + 17),
      last_operation: 'CompleteMultipartUpload',
    });
    expect(rows.get('big/multi.bin')!.etag).toMatch(/-3"$/);
    expect(rows.get('copy-new-meta.txt')).toMatchObject({ last_operation: 'CopyObject', deleted: false });
    expect(rows.get('del/single')).toMatchObject({ deleted: true, last_operation: 'DeleteObject' });
    expect(rows.get('del/1')).toMatchObject({ deleted: true, last_operation: 'DeleteObjects' });
    expect(rows.get('never-existed')).toMatchObject({ deleted: true, is_backed_up: true });
    expect(rows.get('streamed.bin')).toMatchObject({ last_operation: 'PutObjectTagging' });
    expect(rows.get('del/3')).toMatchObject({ deleted: false });
    // Parts of a multipart upload are not rows.
    expect([...rows.keys()].every((k) => !k.includes('?'))).toBe(true);
    expect(rows.size).toBe(12);

    // Metrics on the admin port reflect the work.
    await pollUntil('pending and lag gauges at 0', async () => {
      const m = await scrapeMetrics(proxy);
      return (
        metricValue(m, 's3mirror_mirror_pending') === 0 && metricValue(m, 's3mirror_mirror_lag_seconds') === 0
      );
    });
    const m = await scrapeMetrics(proxy);
    expect(
      metricValue(m, 's3mirror_mirror_operations_total', { action: 'copy', result: 'success' }),
    ).toBeGreaterThanOrEqual(9);
    expect(
      metricValue(m, 's3mirror_mirror_operations_total', { action: 'delete', result: 'success' }),
    ).toBeGreaterThanOrEqual(4);
    expect(metricValue(m, 's3mirror_mirror_bytes_total')).toBeGreaterThanOrEqual(
      11 * MiB + 17 + streamed.length,
    );
    expect(metricValue(m, 's3mirror_inventory_writes_total', { kind: 'put' })).toBeGreaterThanOrEqual(11);
    expect(
      metricValue(m, 's3mirror_proxy_requests_total', {
        operation: 'CompleteMultipartUpload',
        status: '200',
      }),
    ).toBeGreaterThanOrEqual(1);
  });

  test('DeleteObjects in quiet mode (the answer lists no deleted keys): the keys named in the request are recorded deleted and removed from the mirror', async () => {
    const bucket = await newBucket();
    const keys = ['q/1', 'q/ünï & <two>', 'q/3'];
    for (const k of keys)
      await app.send(new PutObjectCommand({ Bucket: bucket, Key: k, Body: `body of ${k}` }));
    await waitForThreeWayEqual(services, bucket);
    const quiet = await app.send(
      new DeleteObjectsCommand({
        Bucket: bucket,
        Delete: {
          Quiet: true,
          Objects: [{ Key: 'q/1' }, { Key: 'q/ünï & <two>' }, { Key: 'q/never-existed' }],
        },
      }),
    );
    expect(quiet.Deleted ?? []).toEqual([]);
    await waitForThreeWayEqual(services, bucket);
    const rows = await inventoryRows(services, bucket);
    expect(rows.get('q/1')).toMatchObject({
      deleted: true,
      is_backed_up: true,
      last_operation: 'DeleteObjects',
    });
    expect(rows.get('q/ünï & <two>')).toMatchObject({ deleted: true, is_backed_up: true });
    expect(rows.get('q/3')).toMatchObject({ deleted: false, is_backed_up: true });
  });

  test('versioned bucket: version ids recorded, the mirror bucket is versioned and holds the current version', async () => {
    const bucket = await newBucket();
    await app.send(
      new PutBucketVersioningCommand({ Bucket: bucket, VersioningConfiguration: { Status: 'Enabled' } }),
    );
    await app.send(new PutObjectCommand({ Bucket: bucket, Key: 'v', Body: 'one' }));
    const second = await app.send(
      new PutObjectCommand({ Bucket: bucket, Key: 'v', Body: 'two', ContentType: 'text/two' }),
    );
    const copied = await app.send(
      new CopyObjectCommand({ Bucket: bucket, Key: 'c', CopySource: `${bucket}/v` }),
    );
    const mpu = await multipart(app, bucket, 'm', [
      crypto.randomBytes(5 * MiB),
      crypto.randomBytes(5 * MiB),
      Buffer.from('tail'),
    ]);
    await app.send(new PutObjectCommand({ Bucket: bucket, Key: 'gone', Body: 'soon deleted' }));
    const deleted = await app.send(new DeleteObjectCommand({ Bucket: bucket, Key: 'gone' }));
    expect(deleted.DeleteMarker).toBe(true);
    // Ceph RGW 16 answers CopyObject without x-amz-version-id; the row then takes main's current version.
    const copiedVersion =
      copied.VersionId ?? (await main.send(new HeadObjectCommand({ Bucket: bucket, Key: 'c' }))).VersionId;
    for (const v of [second.VersionId, copiedVersion, mpu.VersionId, deleted.VersionId]) {
      expect(v).toEqual(expect.any(String));
    }

    await waitForThreeWayEqual(services, bucket);
    const rows = await inventoryRows(services, bucket);
    expect(rows.get('v')).toMatchObject({ version_id: second.VersionId, content_type: 'text/two' });
    expect(rows.get('c')).toMatchObject({ version_id: copiedVersion });
    expect(rows.get('m')).toMatchObject({ version_id: mpu.VersionId });
    expect(rows.get('gone')).toMatchObject({ deleted: true, version_id: deleted.VersionId });
    const mirrorVersioning = await mirror.send(new GetBucketVersioningCommand({ Bucket: bucket }));
    expect(mirrorVersioning.Status).toBe('Enabled');
  });

  test('failed writes (non-2xx from main) are not recorded and not mirrored', async () => {
    const missingBucket = `pm-missing-${rnd()}`;
    await expect(
      app.send(new PutObjectCommand({ Bucket: missingBucket, Key: 'k', Body: 'x' })),
    ).rejects.toMatchObject({ name: 'NoSuchBucket' });
    await expect(
      app.send(new DeleteObjectsCommand({ Bucket: missingBucket, Delete: { Objects: [{ Key: 'k' }] } })),
    ).rejects.toMatchObject({ $metadata: { httpStatusCode: 404 } });

    const bucket = await newBucket();
    await app.send(new PutObjectCommand({ Bucket: bucket, Key: 'exists', Body: 'x' }));
    await expect(
      app.send(
        new CopyObjectCommand({ Bucket: bucket, Key: 'copy-of-missing', CopySource: `${bucket}/nope` }),
      ),
    ).rejects.toMatchObject({ $metadata: { httpStatusCode: 404 } });
    await expect(
      app.send(
        new PutObjectTaggingCommand({
          Bucket: bucket,
          Key: 'untaggable',
          Tagging: { TagSet: [{ Key: 'a', Value: 'b' }] },
        }),
      ),
    ).rejects.toMatchObject({ $metadata: { httpStatusCode: 404 } });
    const { UploadId } = await app.send(new CreateMultipartUploadCommand({ Bucket: bucket, Key: 'bad-mpu' }));
    await app.send(
      new UploadPartCommand({ Bucket: bucket, Key: 'bad-mpu', UploadId, PartNumber: 1, Body: 'p' }),
    );
    await expect(
      app.send(
        new CompleteMultipartUploadCommand({
          Bucket: bucket,
          Key: 'bad-mpu',
          UploadId,
          MultipartUpload: { Parts: [{ PartNumber: 1, ETag: '"00000000000000000000000000000000"' }] },
        }),
      ),
    ).rejects.toMatchObject({ $metadata: { httpStatusCode: 400 } });
    // Content-MD5 that does not match the body: main answers BadDigest.
    const status = await rawPut(
      `${proxy.url}/${bucket}/bad-digest`,
      {
        'content-md5': crypto.createHash('md5').update('other').digest('base64'),
        'content-type': 'text/plain',
      },
      'body',
    );
    expect(status).toBe(400);

    await fence(bucket);
    const rows = await inventoryRows(services, bucket);
    for (const k of ['copy-of-missing', 'untaggable', 'bad-mpu', 'bad-digest'])
      expect(rows.has(k)).toBe(false);
    expect(rows.get('exists')).toMatchObject({ deleted: false });
    expect(await inventoryDatabaseExists(services, missingBucket)).toBe(false);
    await waitForThreeWayEqual(services, bucket);
  });
});

/**
 * Sends one complete request and closes the connection at once, without reading the answer: an app that
 * times out or dies right after sending. Main may still carry the write out.
 */
function hitAndRun(
  url: string,
  method: string,
  path: string,
  headers: Record<string, string>,
  body = '',
): Promise<void> {
  const { hostname, port } = new URL(url);
  const head = [
    `${method} ${path} HTTP/1.1`,
    `Host: ${hostname}:${port}`,
    `Content-Length: ${Buffer.byteLength(body)}`,
    ...Object.entries(headers).map(([k, v]) => `${k}: ${v}`),
  ].join('\r\n');
  return new Promise((resolve, reject) => {
    const socket = net.connect(Number(port), hostname, () => {
      socket.write(`${head}\r\n\r\n${body}`, () => {
        socket.destroy();
        resolve();
      });
    });
    socket.on('error', reject);
  });
}

const md5 = (text: string): string => crypto.createHash('md5').update(text).digest('base64');

describe('through the proxy process: apps that leave before the answer', () => {
  test('writes whose client disconnects right after sending are still recorded when main carries them out', async () => {
    const bucket = await newBucket();
    for (let i = 0; i < 6; i++) {
      await app.send(new PutObjectCommand({ Bucket: bucket, Key: `src/${i}`, Body: `source ${i}` }));
    }
    const uploads: string[] = [];
    for (let i = 0; i < 3; i++) {
      const { UploadId } = await app.send(
        new CreateMultipartUploadCommand({ Bucket: bucket, Key: `mpu/${i}` }),
      );
      const part = await app.send(
        new UploadPartCommand({
          Bucket: bucket,
          Key: `mpu/${i}`,
          UploadId,
          PartNumber: 1,
          Body: `part ${i}`,
        }),
      );
      uploads.push(
        `<CompleteMultipartUpload><Part><PartNumber>1</PartNumber><ETag>${part.ETag}</ETag></Part></CompleteMultipartUpload>`,
      );
      await hitAndRun(
        proxy.url,
        'POST',
        `/${bucket}/mpu/${i}?uploadId=${encodeURIComponent(UploadId!)}`,
        {},
        uploads[i],
      );
    }
    for (let i = 0; i < 6; i++) {
      const body = `left before the answer ${i}`;
      await hitAndRun(proxy.url, 'PUT', `/${bucket}/put/${i}`, { 'Content-Type': 'text/plain' }, body);
      await hitAndRun(proxy.url, 'PUT', `/${bucket}/copy/${i}`, {
        'x-amz-copy-source': `/${bucket}/src/${i}`,
      });
    }
    const del = `<Delete><Object><Key>src/0</Key></Object><Object><Key>src/1</Key></Object></Delete>`;
    await hitAndRun(proxy.url, 'POST', `/${bucket}?delete`, { 'Content-MD5': md5(del) }, del);
    await hitAndRun(proxy.url, 'DELETE', `/${bucket}/src/2`, {});
    // Whatever main carried out must reach the inventory and the mirror (three-way equality), and most
    // of these writes do happen on main.
    await fence(bucket);
    await waitForThreeWayEqual(services, bucket);
    expect((await inventoryRows(services, bucket)).size).toBeGreaterThan(6);
  });
});

describe('through the proxy process: hostile names', () => {
  test('buckets that collide after sanitising, SQL metacharacters, quotes, unicode and long keys', async () => {
    const r = rnd();
    const long = (c: string): string => `ph-${r}-${'x'.repeat(63 - 4 - r.length - 2)}${c}`;
    const buckets = [`ph-${r}-my-bucket`, `ph-${r}-my.bucket`, `ph-${r}.my-bucket`, long('a'), long('b')];
    expect(buckets.every((b) => b.length <= 63)).toBe(true);
    for (const b of buckets) await newBucket(b);
    expect(new Set(buckets.map(databaseNameFor)).size).toBe(buckets.length);

    const longKey = await longestKeyForAll(main, buckets);
    const keys = [
      "'; DROP TABLE files; --",
      'x"); DELETE FROM files WHERE ("1"="1',
      'quote"double\'single`back',
      '$1 $$dollar$$ %s %d \\x00',
      'ünïcødé/文件/🙂.txt',
      'percent%00%zz/+plus space?query=1&x#frag',
      'back\\slash\\n<xml>&amp;</xml>',
      longKey,
      `${'é'.repeat(Math.floor((Buffer.byteLength(longKey) - 1) / 2))}x`,
    ];
    for (const b of buckets) {
      for (const [i, k] of keys.entries()) {
        await (i % 2 ? app : appWhenRequired).send(
          new PutObjectCommand({
            Bucket: b,
            Key: k,
            Body: `body of ${k.length} in ${b}`,
            Metadata: { i: String(i) },
          }),
        );
      }
    }
    await app.send(new DeleteObjectCommand({ Bucket: buckets[0], Key: keys[0] }));
    await app.send(
      new DeleteObjectsCommand({
        Bucket: buckets[1],
        Delete: { Objects: [{ Key: keys[1]! }, { Key: keys[6]! }] },
      }),
    );
    await app.send(
      new CopyObjectCommand({
        Bucket: buckets[2],
        Key: `${keys[2]}-copy`,
        CopySource: encodeURI(`${buckets[2]}/${keys[4]}`),
      }),
    );

    for (const b of buckets) await waitForThreeWayEqual(services, b);
    // Each bucket's rows live in its own database: no bleed-through between look-alike names.
    expect((await inventoryRows(services, buckets[0]!)).get(keys[0]!)).toMatchObject({ deleted: true });
    expect((await inventoryRows(services, buckets[1]!)).get(keys[0]!)).toMatchObject({ deleted: false });
    expect((await inventoryRows(services, buckets[1]!)).get(keys[6]!)).toMatchObject({ deleted: true });
    expect((await inventoryRows(services, buckets[2]!)).get(`${keys[2]}-copy`)).toMatchObject({
      deleted: false,
    });
    for (const b of buckets.slice(3)) expect((await inventoryRows(services, b)).size).toBe(keys.length);
  });
});
