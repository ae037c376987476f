/**
 * Two proxy PROCESSES sharing Postgres (and main and mirror): 200 concurrent mixed writes on overlapping
 * keys, half through each. Whatever the interleaving, the mirror and the inventory must end equal to
 * main: no resurrected delete, no older version left behind.
 */
import crypto from 'node:crypto';

import {
  CompleteMultipartUploadCommand,
  CopyObjectCommand,
  CreateBucketCommand,
  CreateMultipartUploadCommand,
  DeleteObjectCommand,
  DeleteObjectsCommand,
  PutObjectCommand,
  PutObjectTaggingCommand,
  UploadPartCommand,
  type S3Client,
} from '@aws-sdk/client-s3';

import { inventoryRows } from '../harness/inventory-rows';
import { appClient, type ProxyInstance } from '../harness/proxy';
import { metricValue, scrapeMetrics, startProxies } from '../harness/proxies';
import { loadServices, type TestServices } from '../harness/services';
import { waitForThreeWayEqual } from '../harness/three-way';

const services: TestServices = loadServices();
let proxies: ProxyInstance[] = [];
let apps: S3Client[] = [];

beforeAll(async () => {
  proxies = await startProxies(services, 2);
  apps = proxies.map((p, i) =>
    appClient(p.url, i === 0 ? {} : { requestChecksumCalculation: 'WHEN_REQUIRED' as const }),
  );
});

afterAll(async () => {
  for (const a of apps) a.destroy();
  await Promise.allSettled(proxies.map((p) => p.stop()));
});

let lostRaces = 0;

/**
 * Outcomes of the race itself, not bugs: 404 for a copy or tagging of a key another worker just deleted,
 * 409 OperationAborted when RGW sees a conflicting operation on the same object. Main refused those
 * writes, so they must not be recorded; three-way equality checks that too.
 */
async function tolerateRace(p: Promise<unknown>): Promise<void> {
  await p.catch((err: { $metadata?: { httpStatusCode?: number } }) => {
    const status = err.$metadata?.httpStatusCode;
    if (status !== 404 && status !== 409) throw err;
    lostRaces++;
  });
}

test('200 concurrent mixed operations on overlapping keys from two proxy processes converge', async () => {
  const bucket = `pc-${crypto.randomBytes(4).toString('hex')}`;
  await apps[0]!.send(new CreateBucketCommand({ Bucket: bucket }));
  const keys = Array.from({ length: 12 }, (_, i) => `shared/${i}`);
  const pick = (): string => keys[crypto.randomInt(keys.length)]!;
  const other = (key: string): string =>
    keys[(keys.indexOf(key) + crypto.randomInt(1, keys.length)) % keys.length]!;
  const counts: Record<string, number> = {};

  const operation = async (i: number): Promise<void> => {
    const app = apps[i % 2]!;
    const key = pick();
    const r = crypto.randomInt(100);
    const kind =
      r < 45 ? 'put' : r < 60 ? 'delete' : r < 72 ? 'copy' : r < 82 ? 'multi-delete' : r < 92 ? 'tag' : 'mpu';
    counts[kind] = (counts[kind] ?? 0) + 1;
    switch (kind) {
      case 'put':
        await app.send(
          new PutObjectCommand({
            Bucket: bucket,
            Key: key,
            Body: crypto.randomBytes(crypto.randomInt(0, 64 * 1024)),
            ContentType: `application/x-op-${i}`,
            Metadata: { op: String(i) },
          }),
        );
        return;
      case 'delete':
        await app.send(new DeleteObjectCommand({ Bucket: bucket, Key: key }));
        return;
      case 'copy':
        await tolerateRace(
          app.send(
            new CopyObjectCommand({ Bucket: bucket, Key: key, CopySource: `${bucket}/${other(key)}` }),
          ),
        );
        return;
      case 'multi-delete':
        await app.send(
          new DeleteObjectsCommand({ Bucket: bucket, Delete: { Objects: [{ Key: key }, { Key: pick() }] } }),
        );
        return;
      case 'tag':
        await tolerateRace(
          app.send(
            new PutObjectTaggingCommand({
              Bucket: bucket,
              Key: key,
              Tagging: { TagSet: [{ Key: 'op', Value: String(i) }] },
            }),
          ),
        );
        return;
      default: {
        const { UploadId } = await app.send(new CreateMultipartUploadCommand({ Bucket: bucket, Key: key }));
        const part = await app.send(
          new UploadPartCommand({ Bucket: bucket, Key: key, UploadId, PartNumber: 1, Body: `mpu ${i}` }),
        );
        await app.send(
          new CompleteMultipartUploadCommand({
            Bucket: bucket,
            Key: key,
            UploadId,
            MultipartUpload: { Parts: [{ PartNumber: 1, ETag: part.ETag }] },
          }),
        );
      }
    }
  };

  let next = 0;
  await Promise.all(
    Array.from({ length: 20 }, async () => {
      while (next < 200) await tolerateRace(operation(next++));
    }),
  );
  expect(lostRaces).toBeLessThan(50);
  await waitForThreeWayEqual(services, bucket, { timeoutMs: 240_000 });

  // Every operation kind ran, through both proxies, and both recorded writes in the shared inventory.
  expect(Object.keys(counts).sort()).toEqual(['copy', 'delete', 'mpu', 'multi-delete', 'put', 'tag']);
  const rows = await inventoryRows(services, bucket);
  expect(rows.size).toBe(keys.length);
  for (const p of proxies) {
    const m = await scrapeMetrics(p);
    expect(metricValue(m, 's3mirror_inventory_writes_total')).toBeGreaterThan(50);
    expect(metricValue(m, 's3mirror_inventory_events_dropped_total')).toBe(0);
  }
});
