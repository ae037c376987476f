/**
 * MIRROR_BUCKET_TEMPLATE end to end against RGW and Postgres: a proxy process with `{bucket}-bk` mirrors
 * PUT, DELETE and a multipart upload of main bucket B into B-bk on the mirror tenant (nothing goes to a
 * mirror bucket B), the inventory stays `s3_mirror_B`, and the resync CLI compares and repairs against B-bk.
 */
import crypto from 'node:crypto';
import path from 'node:path';

import {
  CreateBucketCommand,
  DeleteObjectCommand,
  HeadBucketCommand,
  HeadObjectCommand,
  PutObjectCommand,
  type S3Client,
} from '@aws-sdk/client-s3';

import { inventoryDatabaseExists } from '../harness/inventory-rows';
import { multipartUpload } from '../harness/multipart';
import { spawnNode } from '../harness/process';
import { appClient, directClient, proxyEnv, startProxyProcess, type ProxyInstance } from '../harness/proxy';
import { loadServices, type TestServices } from '../harness/services';
import { assertThreeWayEqual, waitForThreeWayEqual } from '../harness/three-way';

const services: TestServices = loadServices();
const rnd = (): string => crypto.randomBytes(4).toString('hex');
const TEMPLATE = '{bucket}-bk';

let proxy: ProxyInstance;
let app: S3Client;
const main = directClient(services.ceph.mainEndpoint, services.ceph.main);
const mirror = directClient(services.ceph.mirrorEndpoint, services.ceph.mirror);

beforeAll(async () => {
  proxy = await startProxyProcess(proxyEnv(services, { MIRROR_BUCKET_TEMPLATE: TEMPLATE }));
  app = appClient(proxy.url);
});

afterAll(async () => {
  app?.destroy();
  main.destroy();
  mirror.destroy();
  await proxy?.stop();
});

async function mirrorStatus(bucket: string): Promise<number | undefined> {
  try {
    await mirror.send(new HeadBucketCommand({ Bucket: bucket }));
    return 200;
  } catch (err) {
    return (err as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode;
  }
}

test('PUT, DELETE and a multipart upload through the proxy land in <bucket>-bk, never in <bucket>', async () => {
  const bucket = `tpl-${rnd()}`;
  await app.send(new CreateBucketCommand({ Bucket: bucket }));
  await app.send(
    new PutObjectCommand({
      Bucket: bucket,
      Key: 'a',
      Body: 'alpha',
      ContentType: 'text/plain',
      Metadata: { side: 'main' },
      Tagging: 't=1',
    }),
  );
  await app.send(new PutObjectCommand({ Bucket: bucket, Key: 'gone', Body: 'deleted soon' }));
  await multipartUpload(app, bucket, 'mpu', [crypto.randomBytes(5 * 1024 * 1024), crypto.randomBytes(1000)], {
    ContentType: 'application/x-mpu',
  });
  await app.send(new DeleteObjectCommand({ Bucket: bucket, Key: 'gone' }));

  // Equal: a, mpu on B-bk with main's bytes, metadata and tags; gone deleted there; rows in s3_mirror_B.
  await waitForThreeWayEqual(services, bucket, { mirrorBucket: `${bucket}-bk` });
  await expect(
    mirror.send(new HeadObjectCommand({ Bucket: `${bucket}-bk`, Key: 'mpu' })),
  ).resolves.toMatchObject({
    ContentLength: 5 * 1024 * 1024 + 1000,
  });
  expect(await mirrorStatus(bucket)).toBe(404);
  expect(await inventoryDatabaseExists(services, `${bucket}-bk`)).toBe(false);
});

test('the resync CLI compares main B with B-bk and repairs B-bk', async () => {
  const bucket = `tpl-rs-${rnd()}`;
  const target = `${bucket}-bk`;
  await app.send(new CreateBucketCommand({ Bucket: bucket }));
  for (const key of ['x', 'y']) await app.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: key }));
  await waitForThreeWayEqual(services, bucket, { mirrorBucket: target });

  // Drift behind the proxy's back: a write straight to main, a key lost and one added on B-bk.
  await main.send(new PutObjectCommand({ Bucket: bucket, Key: 'behind', Body: 'not seen by the proxy' }));
  await mirror.send(new DeleteObjectCommand({ Bucket: target, Key: 'x' }));
  await mirror.send(new PutObjectCommand({ Bucket: target, Key: 'extra', Body: 'not on main' }));
  // A mirror bucket under main's own name: a resync that compared it would delete this and leave B-bk broken.
  await mirror.send(new CreateBucketCommand({ Bucket: bucket }));
  await mirror.send(new PutObjectCommand({ Bucket: bucket, Key: 'decoy', Body: 'not ours' }));

  const env = {
    ...proxyEnv(services, { MIRROR_BUCKET_TEMPLATE: TEMPLATE }),
    MAIN_S3_ENDPOINT: services.ceph.mainEndpoint,
  };
  const cli = path.resolve(__dirname, '../../proxy/dist/cli/resync.js');
  const dry = spawnNode(cli, { env, args: ['--bucket', bucket, '--dry-run'] });
  expect(await dry.exited).toMatchObject({ code: 0 });
  expect(dry.stdout()).toContain(`mirror ${target} 2,`);
  expect(dry.stdout()).toMatch(/would copy "x"/);
  expect(dry.stdout()).toMatch(/would copy "behind"/);
  expect(dry.stdout()).toMatch(/would delete-on-mirror "extra"/);
  expect(dry.stdout()).not.toMatch(/decoy/);

  const run = spawnNode(cli, { env, args: ['--bucket', bucket] });
  expect(await run.exited).toMatchObject({ code: 0 });
  await assertThreeWayEqual(services, bucket, { mirrorBucket: target });
  await expect(mirror.send(new HeadObjectCommand({ Bucket: bucket, Key: 'decoy' }))).resolves.toBeDefined();
});
