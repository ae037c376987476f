/**
 * The mirror copier's own S3 requests (mirror/s3-http.ts: undici and the proxy's signer, no SDK) against
 * Ceph RGW: every call a copy makes is accepted, with hostile keys and non-ASCII header bytes, and the
 * answers RGW gives (404 without a body on HEAD, NoSuchBucket, BadDigest) are read as the copier needs.
 */
import crypto from 'node:crypto';
import { Readable } from 'node:stream';

import {
  CreateBucketCommand,
  GetBucketVersioningCommand,
  HeadObjectCommand,
  ListObjectsV2Command,
  PutBucketVersioningCommand,
  type S3Client,
} from '@aws-sdk/client-s3';

import type { S3Endpoint } from '../../proxy/src/config';
import { sameBucketName } from '../../proxy/src/mirror/bucket-name';
import { mirrorKey, type CopyClients } from '../../proxy/src/mirror/copier';
import { ensureMirrorBucket } from '../../proxy/src/mirror/mirror-bucket';
import { headObject, listObjects } from '../../proxy/src/mirror/object-requests';
import { objectHeadOf } from '../../proxy/src/mirror/object-headers';
import { s3ClientFor } from '../../proxy/src/mirror/s3';
import { errorOf, readText, signedS3Http, type ClosableS3Http } from '../../proxy/src/mirror/s3-http';
import { parseTagSet } from '../../proxy/src/s3/response-body';

import { loadServices, type TestServices } from '../harness/services';
import { staticCredentials } from '../../proxy/src/credentials';

const services: TestServices = loadServices();
const bucket = `s3http-${crypto.randomBytes(4).toString('hex')}`;
const key = "dir é/ü ñ+%&=?~*'() 文件.txt";
/** UTF-8 bytes as header values carry them (one char per byte). */
const wire = (text: string): string => Buffer.from(text, 'utf8').toString('latin1');
const md5 = (b: Buffer): string => crypto.createHash('md5').update(b).digest('hex');

const endpoint = (url: string, creds: { accessKeyId: string; secretAccessKey: string }): S3Endpoint => ({
  url: new URL(url),
  region: services.ceph.region,
  credentials: staticCredentials('main', creds),
});
const mainEndpoint = endpoint(services.ceph.mainEndpoint, services.ceph.main);
const mirrorEndpoint = endpoint(services.ceph.mirrorEndpoint, services.ceph.mirror);

let main: ClosableS3Http;
let mirror: ClosableS3Http;
let sdkMain: S3Client;
let sdkMirror: S3Client;
let clients: CopyClients;

beforeAll(async () => {
  main = signedS3Http(mainEndpoint);
  mirror = signedS3Http(mirrorEndpoint);
  sdkMain = s3ClientFor(mainEndpoint);
  sdkMirror = s3ClientFor(mirrorEndpoint);
  clients = {
    main: { http: main },
    mirror: { http: mirror, sdk: sdkMirror },
    mirrorBucket: sameBucketName,
    mirrorRegion: services.ceph.region,
  };
  await sdkMain.send(new CreateBucketCommand({ Bucket: bucket }));
});

afterAll(async () => {
  await Promise.allSettled([main?.destroy(), mirror?.destroy()]);
  sdkMain?.destroy();
  sdkMirror?.destroy();
});

/** Puts an object on main with signedS3Http itself: the PutObject a copy sends, non-ASCII bytes included. */
async function putOnMain(k: string, body: Buffer, headers: Record<string, string>): Promise<string> {
  const res = await main.send({
    method: 'PUT',
    bucket,
    key: k,
    headers: { ...headers, 'content-length': String(body.length), 'content-md5': md5Base64(body) },
    body: Readable.from([body]),
  });
  if (res.statusCode !== 200) throw await errorOf(res);
  res.body.resume();
  return String(res.headers.etag);
}

const md5Base64 = (b: Buffer): string => Buffer.from(md5(b), 'hex').toString('base64');

const OBJECT_HEADERS = {
  'content-type': 'text/plain; charset=utf-8',
  'cache-control': 'max-age=60',
  'content-disposition': wire('attachment; filename="naïve Åsa à la carte.txt"'),
  'content-language': 'fr',
  'x-amz-meta-note': wire('crème brûlée, Å à'),
};

test('HEAD, GET ?tagging and PutObject with a hostile key and non-ASCII header bytes are accepted', async () => {
  const body = Buffer.from('hello from s3-http');
  const etag = await putOnMain(key, body, { ...OBJECT_HEADERS, 'x-amz-tagging': 'team=a%26b&empty=' });
  expect(etag).toBe(`"${md5(body)}"`);

  const head = await main.send({ method: 'HEAD', bucket, key });
  head.body.resume();
  expect(head.statusCode).toBe(200);
  const parsed = objectHeadOf(head.headers);
  expect(parsed).toMatchObject({ size: body.length, etag, tagCount: 2 });
  expect(parsed.copied).toMatchObject(OBJECT_HEADERS);

  const tagging = await main.send({ method: 'GET', bucket, key, query: [['tagging', null]] });
  expect(tagging.statusCode).toBe(200);
  expect(parseTagSet((await readText(tagging.body, 64 * 1024)).text)).toEqual(
    expect.arrayContaining([
      { Key: 'team', Value: 'a&b' },
      { Key: 'empty', Value: '' },
    ]),
  );

  const missing = await main.send({ method: 'HEAD', bucket, key: `${key}-missing` });
  missing.body.resume();
  expect(missing.statusCode).toBe(404);
});

test('a copy over s3-http: the mirror bucket is created, headers, metadata bytes and tags arrive', async () => {
  const body = crypto.randomBytes(3 * 1024 * 1024);
  await putOnMain(key, body, { ...OBJECT_HEADERS, 'x-amz-tagging': 't=v w' });
  // A 3 MiB PutObject to a bucket the mirror does not have: RGW answers before the body is in.
  const result = await mirrorKey(clients, bucket, key);
  expect(result).toMatchObject({ exists: true, size: body.length, source: 'main', etag: `"${md5(body)}"` });
  expect(result.exists && result.mirrorEtag).toBe(`"${md5(body)}"`);

  const onMirror = await mirror.send({ method: 'HEAD', bucket, key });
  onMirror.body.resume();
  expect(objectHeadOf(onMirror.headers).copied).toEqual(objectHeadOf((await headOnMain(key)).headers).copied);
  const tags = await mirror.send({ method: 'GET', bucket, key, query: [['tagging', null]] });
  expect(parseTagSet((await readText(tags.body, 64 * 1024)).text)).toEqual([{ Key: 't', Value: 'v w' }]);
  // The SDK reads what the copy wrote, with the same bytes.
  const sdkHead = await sdkMirror.send(new HeadObjectCommand({ Bucket: bucket, Key: key }));
  expect(Buffer.from(sdkHead.Metadata?.note ?? '', 'latin1')).toEqual(Buffer.from('crème brûlée, Å à'));
});

test('a spooled copy sends Content-MD5: RGW refuses bytes that do not match, and the copy reads main', async () => {
  const body = Buffer.from('the spooled write');
  const etag = await putOnMain('spooled', body, {});
  const spooled = (bytes: Buffer) => ({
    etag,
    md5: md5(body),
    size: body.length,
    open: () => Readable.from([bytes]),
  });
  expect(await mirrorKey(clients, bucket, 'spooled', undefined, spooled(body))).toMatchObject({
    spool: 'used',
    source: 'spool',
  });
  const damaged = Buffer.from(body);
  damaged[0] = damaged[0]! ^ 1;
  expect(await mirrorKey(clients, bucket, 'spooled', undefined, spooled(damaged))).toMatchObject({
    spool: 'corrupt',
    source: 'main',
  });

  // The mirror's own check, without the local one: a PutObject whose Content-MD5 does not match.
  const refused = await mirror.send({
    method: 'PUT',
    bucket,
    key: 'spooled',
    headers: { 'content-length': String(damaged.length), 'content-md5': md5Base64(body) },
    body: Readable.from([damaged]),
  });
  expect(await errorOf(refused)).toMatchObject({ name: 'BadDigest', statusCode: 400 });
});

test('main answering 404: the copy deletes on the mirror', async () => {
  await putOnMain('gone', Buffer.from('x'), {});
  await mirrorKey(clients, bucket, 'gone');
  const del = await main.send({ method: 'DELETE', bucket, key: 'gone' });
  del.body.resume();
  expect(del.statusCode).toBe(204);
  expect(await mirrorKey(clients, bucket, 'gone')).toEqual({ exists: false });
  const head = await mirror.send({ method: 'HEAD', bucket, key: 'gone' });
  head.body.resume();
  expect(head.statusCode).toBe(404);
});

test('errors are read from RGW error documents', async () => {
  const res = await mirror.send({ method: 'GET', bucket: `${bucket}-none`, key: 'k' });
  expect(await errorOf(res)).toMatchObject({ name: 'NoSuchBucket', statusCode: 404 });
});

test('ListObjectsV2 over s3-http gives back every hostile key as written, page after page, as the SDK lists them', async () => {
  const listed = `s3http-list-${crypto.randomBytes(4).toString('hex')}`;
  await sdkMain.send(new CreateBucketCommand({ Bucket: listed }));
  const keys = [
    key,
    'a b',
    'a+b',
    'a%2Bb',
    '100%',
    'x<y>&z"\'',
    'tab\tkey',
    'ctl\u0001key',
    '日本/語',
    'sp ace/+plus',
  ];
  for (const k of keys) {
    const res = await main.send({
      method: 'PUT',
      bucket: listed,
      key: k,
      headers: { 'content-length': '1' },
      body: Buffer.from('x'),
    });
    if (res.statusCode !== 200) throw await errorOf(res);
    res.body.resume();
  }
  const byBytes = (a: string, b: string): number => Buffer.compare(Buffer.from(a), Buffer.from(b));
  const all = await listObjects(main, listed, { startAfter: undefined, maxKeys: 1000 });
  expect(all.isTruncated).toBe(false);
  expect(all.objects.map((o) => o.key)).toEqual([...keys].sort(byBytes));
  expect(all.objects[0]).toMatchObject({ size: 1, etag: `"${md5(Buffer.from('x'))}"` });
  expect(all.objects[0]!.lastModified).toBeInstanceOf(Date);
  // The SDK's own listing (no encoding-type) names the same keys.
  const sdk = await sdkMain.send(new ListObjectsV2Command({ Bucket: listed }));
  expect(sdk.Contents?.map((o) => o.Key)).toEqual(all.objects.map((o) => o.key));

  const paged: string[] = [];
  let after: string | undefined;
  for (;;) {
    const page = await listObjects(main, listed, { startAfter: after, maxKeys: 3 });
    paged.push(...page.objects.map((o) => o.key));
    if (!page.isTruncated) break;
    after = page.objects[page.objects.length - 1]!.key;
  }
  expect(paged).toEqual(all.objects.map((o) => o.key));

  expect(await headObject(main, listed, 'ctl\u0001key')).toMatchObject({ size: 1 });
  expect(await headObject(main, listed, 'no such key')).toBeUndefined();
  await expect(
    listObjects(main, `${listed}-none`, { startAfter: undefined, maxKeys: 1 }),
  ).rejects.toMatchObject({
    name: 'NoSuchBucket',
  });
});

test("a missing mirror bucket is created over s3-http with main's versioning, in a region RGW refuses (asked again)", async () => {
  const versioned = `s3http-ver-${crypto.randomBytes(4).toString('hex')}`;
  await sdkMain.send(new CreateBucketCommand({ Bucket: versioned }));
  await sdkMain.send(
    new PutBucketVersioningCommand({ Bucket: versioned, VersioningConfiguration: { Status: 'Enabled' } }),
  );
  const target = `${versioned}-bk`;
  // Not the gateway's zonegroup: RGW answers InvalidLocationConstraint, and the bucket is made without one.
  await ensureMirrorBucket(main, mirror, versioned, target, 'eu-west-1');
  const status = await sdkMirror.send(new GetBucketVersioningCommand({ Bucket: target }));
  expect(status.Status).toBe('Enabled');
  // Made already (another sidecar won the race): still fine.
  await ensureMirrorBucket(main, mirror, versioned, target, services.ceph.region);

  const plain = `${bucket}-plain-bk`;
  await ensureMirrorBucket(main, mirror, bucket, plain, services.ceph.region);
  expect((await sdkMirror.send(new GetBucketVersioningCommand({ Bucket: plain }))).Status).toBeUndefined();
});

async function headOnMain(k: string) {
  const res = await main.send({ method: 'HEAD', bucket, key: k });
  res.body.resume();
  return res;
}
