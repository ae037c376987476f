/**
 * Writes whose headers carry non-ASCII bytes (a UTF-8 file name in Content-Disposition, UTF-8 user
 * metadata) are mirrored with the same bytes, on the first attempt (issue 11). Node reads header bytes as
 * latin1 and writes them back as such; the copier's SDK signer hashed those values as UTF-8 (and folded
 * 0x85 and 0xA0 as white space), so every mirror PutObject failed with SignatureDoesNotMatch, forever.
 * Both copy sources are covered: the spooled upload (PutObject) and main (CopyObject).
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import { Readable } from 'node:stream';

import {
  CopyObjectCommand,
  CreateBucketCommand,
  DeleteObjectCommand,
  GetBucketVersioningCommand,
  GetObjectCommand,
  GetObjectTaggingCommand,
  HeadObjectCommand,
  ListObjectsV2Command,
  PutBucketVersioningCommand,
  PutObjectCommand,
  type S3Client,
} from '@aws-sdk/client-s3';
import { Upload } from '@aws-sdk/lib-storage';

import { askBucket, s3ClientFor } from '../../proxy/src/mirror/s3';
import { signedS3Http } from '../../proxy/src/mirror/s3-http';

import { inventoryRows, type InventoryRow } from '../harness/inventory-rows';
import { metricValue, scrapeMetrics, tempStateDir } from '../harness/proxies';
import { appClient, directClient, proxyEnv, startProxyProcess, type ProxyInstance } from '../harness/proxy';
import { rawRequest } from '../harness/raw-http';
import { loadServices, type TestServices } from '../harness/services';
import { waitForThreeWayEqual } from '../harness/three-way';
import { pollUntil } from '../harness/wait';
import { staticCredentials } from '../../proxy/src/credentials';

const services: TestServices = loadServices();
const bucket = `nonascii-${crypto.randomBytes(4).toString('hex')}`;

/** UTF-8 bytes; "Å" is C3 85 and "à" is C3 A0, bytes the SDK's signer took for white space. */
const disposition = Buffer.from('attachment; filename="naïve Åsa à la carte.txt"', 'utf8');
const note = Buffer.from('crème brûlée, Å à', 'utf8');

let stateDir: string;
let proxy: ProxyInstance;
let app: S3Client;
const main = directClient(services.ceph.mainEndpoint, services.ceph.main);
const mirror = directClient(services.ceph.mirrorEndpoint, services.ceph.mirror);

beforeAll(async () => {
  stateDir = tempStateDir();
  proxy = await startProxyProcess(proxyEnv(services, { STATE_DIR: stateDir, ALLOWED_BUCKETS: bucket }));
  app = appClient(proxy.url);
  await main.send(new CreateBucketCommand({ Bucket: bucket }));
});

afterAll(async () => {
  app?.destroy();
  main.destroy();
  mirror.destroy();
  await proxy?.stop();
  if (stateDir) fs.rmSync(stateDir, { recursive: true, force: true });
});

/** A PutObject through the proxy with the raw UTF-8 header bytes (the JS SDK refuses to send them). */
async function putThroughProxy(key: string, body: string): Promise<number> {
  const request = Buffer.concat([
    Buffer.from(`PUT /${bucket}/${key} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: ${body.length}\r\n`),
    Buffer.concat([Buffer.from('Content-Disposition: '), disposition, Buffer.from('\r\n')]),
    Buffer.concat([Buffer.from('x-amz-meta-note: '), note, Buffer.from('\r\n')]),
    Buffer.from(`\r\n${body}`),
  ]);
  return (await rawRequest(proxy.port, request)).status;
}

/** Waits for the key's inventory row to be backed up; the last row seen explains a timeout. */
async function backedUp(key: string): Promise<InventoryRow> {
  let row: InventoryRow | undefined;
  await pollUntil(
    `${key} backed up`,
    async () => (row = (await inventoryRows(services, bucket)).get(key))?.is_backed_up === true,
    { describe: () => `last row: ${JSON.stringify(row)}` },
  );
  return row!;
}

/** Failed mirror operations of this proxy (it serves only this file's bucket). Rows reset attempts on success. */
async function mirrorFailures(): Promise<number> {
  return metricValue(await scrapeMetrics(proxy), 's3mirror_mirror_operations_total', { result: 'failure' });
}

/** Header values as the bytes that came on the wire (Node hands them over as latin1 strings). */
async function headerBytes(client: S3Client, key: string) {
  const head = await client.send(new HeadObjectCommand({ Bucket: bucket, Key: key }));
  return {
    disposition: Buffer.from(head.ContentDisposition ?? '', 'latin1'),
    note: Buffer.from(head.Metadata?.note ?? '', 'latin1'),
  };
}

test('a PutObject (copied from the spool) is mirrored with the same header bytes at the first attempt', async () => {
  expect(await putThroughProxy('put.txt', 'hello')).toBe(200);
  expect(await headerBytes(main, 'put.txt')).toEqual({ disposition, note });
  expect(await backedUp('put.txt')).toMatchObject({ deleted: false, attempts: 0, last_error: null });
  expect(await mirrorFailures()).toBe(0);
  expect(await headerBytes(mirror, 'put.txt')).toEqual({ disposition, note });
});

test('a CopyObject (copied from main) is mirrored with the same header bytes at the first attempt', async () => {
  await app.send(new CopyObjectCommand({ Bucket: bucket, Key: 'copy.txt', CopySource: `${bucket}/put.txt` }));
  expect(await headerBytes(main, 'copy.txt')).toEqual({ disposition, note });
  expect(await backedUp('copy.txt')).toMatchObject({ deleted: false, attempts: 0, last_error: null });
  expect(await mirrorFailures()).toBe(0);
  expect(await headerBytes(mirror, 'copy.txt')).toEqual({ disposition, note });
  await waitForThreeWayEqual(services, bucket);
});

test('every kind of call the mirror side makes is accepted by RGW from the clients of s3ClientFor', async () => {
  const endpoint = (url: string, creds: { accessKeyId: string; secretAccessKey: string }) => ({
    url: new URL(url),
    region: services.ceph.region,
    credentials: staticCredentials('main', creds),
  });
  const sdkMain = s3ClientFor(endpoint(services.ceph.mainEndpoint, services.ceph.main));
  const sdkMirror = s3ClientFor(endpoint(services.ceph.mirrorEndpoint, services.ceph.mirror));
  const httpMain = signedS3Http(endpoint(services.ceph.mainEndpoint, services.ceph.main));
  const httpMirror = signedS3Http(endpoint(services.ceph.mirrorEndpoint, services.ceph.mirror));
  const other = `${bucket}-sdk`;
  const key = (i: number): string => `dir é/ü ñ+%&=?~*'()${i}.bin`;
  try {
    expect(await askBucket(httpMain, other)).toBe('refuses');
    await sdkMain.send(new CreateBucketCommand({ Bucket: other }));
    await sdkMirror.send(new CreateBucketCommand({ Bucket: other }));
    expect(await askBucket(httpMirror, other)).toBe('serves');
    await sdkMirror.send(
      new PutBucketVersioningCommand({ Bucket: other, VersioningConfiguration: { Status: 'Enabled' } }),
    );
    expect((await sdkMirror.send(new GetBucketVersioningCommand({ Bucket: other }))).Status).toBe('Enabled');

    // Main (its own bucket of that name): tagged objects (string bodies are hashed), tags, list pages.
    for (const i of [1, 2]) {
      await sdkMain.send(
        new PutObjectCommand({ Bucket: other, Key: key(i), Body: `body ${i}`, Tagging: 't=v w' }),
      );
    }
    const tags = await sdkMain.send(new GetObjectTaggingCommand({ Bucket: other, Key: key(1) }));
    expect(tags.TagSet).toEqual([{ Key: 't', Value: 'v w' }]);
    const first = await sdkMain.send(
      new ListObjectsV2Command({ Bucket: other, Prefix: 'dir é/', MaxKeys: 1 }),
    );
    const second = await sdkMain.send(
      new ListObjectsV2Command({
        Bucket: other,
        Prefix: 'dir é/',
        ContinuationToken: first.NextContinuationToken,
      }),
    );
    const after = await sdkMain.send(new ListObjectsV2Command({ Bucket: other, StartAfter: key(1) }));
    expect([first, second].flatMap((p) => p.Contents ?? []).map((o) => o.Key)).toEqual([key(1), key(2)]);
    expect(after.Contents?.[0]?.Key).toBe(key(2));

    // Mirror: a streamed PutObject (UNSIGNED-PAYLOAD), a multipart Upload of two parts, a delete.
    const got = await sdkMain.send(new GetObjectCommand({ Bucket: other, Key: key(1) }));
    await sdkMirror.send(
      new PutObjectCommand({
        Bucket: other,
        Key: key(1),
        Body: got.Body as Readable,
        ContentLength: got.ContentLength,
      }),
    );
    const big = Buffer.alloc(6 * 1024 * 1024, 7);
    await new Upload({
      client: sdkMirror,
      params: { Bucket: other, Key: key(3), Body: Readable.from([big.subarray(0, 1e6), big.subarray(1e6)]) },
      partSize: 5 * 1024 * 1024,
      queueSize: 1,
    }).done();
    const parted = await sdkMirror.send(new HeadObjectCommand({ Bucket: other, Key: key(3) }));
    expect(parted).toMatchObject({ ContentLength: big.length, ETag: expect.stringMatching(/-2"$/) });
    const copied = await sdkMirror.send(new GetObjectCommand({ Bucket: other, Key: key(1) }));
    expect(await copied.Body!.transformToString()).toBe('body 1');
    await sdkMirror.send(new DeleteObjectCommand({ Bucket: other, Key: key(1) }));
    await expect(sdkMirror.send(new HeadObjectCommand({ Bucket: other, Key: key(1) }))).rejects.toMatchObject(
      {
        name: 'NotFound',
      },
    );
  } finally {
    sdkMain.destroy();
    sdkMirror.destroy();
    await Promise.all([httpMain.destroy(), httpMirror.destroy()]);
  }
});
