import fc from 'fast-check';

import { S3Error } from '../../src/s3/errors';
import {
  bucketFromHost,
  parseRequestTarget,
  upstreamPath,
  upstreamQuery,
  uriEncode,
  type RequestTarget,
} from '../../src/s3/request-target';

const BASES = ['localhost', 's3.mirror.svc'];
const parse = (rawUrl: string, host = '127.0.0.1:8080'): RequestTarget =>
  parseRequestTarget({ rawUrl, host, virtualHostBases: BASES });

function s3ErrorCode(fn: () => unknown): string {
  try {
    fn();
  } catch (err) {
    if (err instanceof S3Error) return err.code;
    throw err;
  }
  throw new Error('expected an S3Error');
}

/** What an SDK puts on the wire for a key: every segment encoded, slashes kept. */
const sdkPath = (bucket: string, key: string): string => `/${bucket}/${uriEncode(key, true)}`;

describe('path-style', () => {
  test.each([
    ['/', undefined, undefined],
    ['/bucket', 'bucket', undefined],
    ['/bucket/', 'bucket', undefined],
    ['/bucket/key.txt', 'bucket', 'key.txt'],
    ['/bucket/dir/sub/file', 'bucket', 'dir/sub/file'],
    ['/bucket//leading-slash', 'bucket', '/leading-slash'],
    ['/bucket/double//slash//', 'bucket', 'double//slash//'],
    ['/bucket/trailing/', 'bucket', 'trailing/'],
    ['/bucket/with%20space', 'bucket', 'with space'],
    ['/bucket/plus+stays+plus', 'bucket', 'plus+stays+plus'],
    ['/bucket/encoded%2Bplus', 'bucket', 'encoded+plus'],
    ['/bucket/a%2Fb', 'bucket', 'a/b'],
    ['/bucket/literal%252F', 'bucket', 'literal%2F'],
    ['/bucket/%E6%97%A5%E6%9C%AC', 'bucket', '日本'],
    ['/bucket/_$folder$', 'bucket', '_$folder$'],
    ['/bucket/a:b', 'bucket', 'a:b'],
  ])('%s → bucket %s, key %j', (raw, bucket, key) => {
    const t = parse(raw);
    expect(t.bucket).toBe(bucket);
    expect(t.key).toBe(key);
    expect(t.addressing).toBe('path');
  });

  test('a Host that is not under a base is ignored for addressing (it is an IP, a service name, anything)', () => {
    expect(parse('/bkt/k', 'evil.example.com')).toMatchObject({
      bucket: 'bkt',
      key: 'k',
      addressing: 'path',
    });
    expect(parse('/bkt/k', undefined)).toMatchObject({ bucket: 'bkt', key: 'k' });
  });

  test('absolute-form request lines lose their host: the proxy only ever talks to main', () => {
    expect(parse('http://other-endpoint.example:9000/bkt/k?acl')).toMatchObject({
      bucket: 'bkt',
      key: 'k',
      query: [['acl', null]],
    });
    expect(parse('https://x.example')).toMatchObject({ bucket: undefined, key: undefined });
  });
});

describe('virtual-hosted-style', () => {
  test.each([
    ['bucket.localhost:8080', '/key', 'bucket', 'key'],
    ['bucket.localhost', '/', 'bucket', undefined],
    ['my.dotted.bucket.localhost:8080', '/a/b', 'my.dotted.bucket', 'a/b'],
    ['BUCKET.LOCALHOST', '/k', 'bucket', 'k'],
    ['data.s3.mirror.svc:8080', '/x//y/', 'data', 'x//y/'],
    ['bucket.localhost:8080', '//leading', 'bucket', '/leading'],
  ])('Host %s, path %s → bucket %s, key %j', (host, raw, bucket, key) => {
    const t = parse(raw, host);
    expect(t).toMatchObject({ bucket, key, addressing: 'virtual-hosted' });
  });

  test('the base itself, or a host merely ending in the base text, is not virtual-hosted', () => {
    expect(bucketFromHost('localhost:8080', BASES)).toBeUndefined();
    expect(bucketFromHost('notlocalhost', BASES)).toBeUndefined();
    expect(bucketFromHost('[::1]:8080', BASES)).toBeUndefined();
    expect(bucketFromHost(undefined, BASES)).toBeUndefined();
  });
});

describe('query', () => {
  test('order kept, value-less parameters are null, + and %20 are spaces in values', () => {
    expect(parse('/bkt?list-type=2&prefix=a+b%20c&delimiter=%2F&uploads').query).toEqual([
      ['list-type', '2'],
      ['prefix', 'a b c'],
      ['delimiter', '/'],
      ['uploads', null],
    ]);
  });

  test("the app's presigned-URL parameters are dropped, whatever their case", () => {
    const t = parse(
      '/bkt/k?versionId=v1&X-Amz-Algorithm=AWS4-HMAC-SHA256&x-amz-credential=a%2Fb&X-Amz-Date=1&X-Amz-Expires=60' +
        '&X-Amz-SignedHeaders=host&X-Amz-Signature=00&X-Amz-Security-Token=t',
    );
    expect(t.query).toEqual([['versionId', 'v1']]);
  });

  test("a SigV2 presigned URL's AWSAccessKeyId, Signature and Expires are dropped (S3 allows one auth mechanism)", () => {
    const t = parse(
      '/bkt/k?AWSAccessKeyId=APP&Expires=1700000000&Signature=abc%2B%3D&response-content-type=a',
    );
    expect(t.query).toEqual([['response-content-type', 'a']]);
  });

  test('Expires alone is no SigV2 parameter and goes up unchanged', () => {
    expect(parse('/bkt/k?Expires=5').query).toEqual([['Expires', '5']]);
  });

  test.each([
    ['/bkt/x/../y', 'x/../y', '/bkt/x/../y'],
    ['/bkt/x/./y', 'x/./y', '/bkt/x/./y'],
    ['/bkt/..', '..', '/bkt/..'],
    ['/bkt/a/%2E%2E/k', 'a/../k', '/bkt/a/../k'],
  ])('a key with dot segments (%s) is a key, as S3 stores it: sent as SDKs send it', (raw, key, wire) => {
    const t = parse(raw);
    expect(t).toMatchObject({ bucket: 'bkt', key });
    expect(upstreamPath(t)).toBe(wire);
  });
});

describe('rejections are S3 errors', () => {
  test.each([
    ['/bkt/bad%zz', 'InvalidURI'],
    ['/bkt/%E0%A4%A', 'InvalidURI'],
    ['relative/path', 'InvalidURI'],
    ['/bkt?x=%', 'InvalidURI'],
    ['/-bad-bucket/k', 'InvalidBucketName'],
    ['/bkt/k', undefined],
    [`/bkt/${'k'.repeat(1025)}`, 'InvalidArgument'],
  ])('%s → %s', (raw, code) => {
    if (code === undefined) expect(() => parse(raw)).not.toThrow();
    else expect(s3ErrorCode(() => parse(raw))).toBe(code);
  });

  test('encoded CR/LF are legal key bytes; they go upstream encoded, so they can never split a header', () => {
    const t = parse('/bkt/a%0D%0Ab');
    expect(t.key).toBe('a\r\nb');
    expect(upstreamPath(t)).toBe('/bkt/a%0D%0Ab');
  });

  test('a 1024-byte key is the largest accepted, counted in UTF-8 bytes', () => {
    expect(parse(`/bkt/${'k'.repeat(1024)}`).key).toHaveLength(1024);
    const threeByte = '日'.repeat(342); // 1026 bytes
    expect(s3ErrorCode(() => parse(sdkPath('bkt', threeByte)))).toBe('InvalidArgument');
  });
});

describe('what goes upstream', () => {
  test('always path-style, encoded exactly once', () => {
    expect(upstreamPath(parse('/bkt/with%20space/a:b/_$folder$'))).toBe(
      '/bkt/with%20space/a%3Ab/_%24folder%24',
    );
    expect(upstreamPath(parse('/k%252F', 'bkt.localhost'))).toBe('/bkt/k%252F');
    expect(upstreamPath(parse('/'))).toBe('/');
    expect(upstreamPath(parse('/bkt'))).toBe('/bkt');
  });

  test('query re-encoded the way the signer encodes it', () => {
    expect(upstreamQuery(parse('/bkt?prefix=a+b&delimiter=/&uploads').query)).toBe(
      '?prefix=a%20b&delimiter=%2F&uploads',
    );
    expect(upstreamQuery([])).toBe('');
  });

  test('uriEncode keeps only unreserved characters (and / when asked)', () => {
    expect(uriEncode("A-Za-z0-9_.~ !'()*+=&?#/%", false)).toBe(
      'A-Za-z0-9_.~%20%21%27%28%29%2A%2B%3D%26%3F%23%2F%25',
    );
    expect(uriEncode('a/b', true)).toBe('a/b');
  });

  test('property: any key an SDK sends arrives byte for byte, path or virtual-hosted, and goes up unchanged', () => {
    const key = fc.string({ minLength: 1, maxLength: 120, unit: 'grapheme' });
    fc.assert(
      fc.property(key, (k) => {
        const viaPath = parse(sdkPath('bucket', k));
        const viaHost = parse(`/${uriEncode(k, true)}`, 'bucket.localhost:8080');
        expect(viaPath.key).toBe(k);
        expect(viaHost.key).toBe(k);
        expect(upstreamPath(viaPath)).toBe(sdkPath('bucket', k));
        expect(upstreamPath(viaHost)).toBe(sdkPath('bucket', k));
      }),
      { numRuns: 500 },
    );
  });
});
