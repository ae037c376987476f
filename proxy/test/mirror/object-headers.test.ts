import {
  contentMd5,
  objectHeadOf,
  putObjectHeaders,
  sdkObjectParams,
  taggingHeader,
} from '../../src/mirror/object-headers';

/** UTF-8 bytes as undici reads header values: one char per byte. */
const wire = (text: string): string => Buffer.from(text, 'utf8').toString('latin1');

/** A HEAD answer of RGW, as undici hands it over (lower-case names). */
const HEAD = {
  'content-length': '5',
  'content-type': 'text/plain',
  'content-encoding': 'gzip',
  'cache-control': 'no-cache',
  'content-disposition': wire('attachment; filename="naïve Åsa.txt"'),
  'content-language': 'de',
  expires: 'Thu, 01 Jan 2037 00:00:00 GMT',
  etag: '"5d41402abc4b2a76b9719d911017c592"',
  'last-modified': 'Wed, 02 Dec 2026 10:00:00 GMT',
  'x-amz-version-id': 'v1',
  'x-amz-tagging-count': '2',
  'x-amz-meta-note': wire('crème brûlée'),
  'x-amz-request-id': 'tx1',
  'x-amz-server-side-encryption': 'AES256',
  'x-amz-storage-class': 'STANDARD',
  'accept-ranges': 'bytes',
  date: 'Wed, 02 Dec 2026 10:00:01 GMT',
  connection: 'keep-alive',
};

describe('objectHeadOf', () => {
  test('reads size, ETag, type, date, version and tag count; keeps exactly the object headers and metadata', () => {
    const head = objectHeadOf(HEAD);
    expect(head).toEqual({
      size: 5,
      etag: '"5d41402abc4b2a76b9719d911017c592"',
      contentType: 'text/plain',
      lastModified: new Date('2026-12-02T10:00:00Z'),
      versionId: 'v1',
      tagCount: 2,
      copied: {
        'content-type': 'text/plain',
        'content-encoding': 'gzip',
        'cache-control': 'no-cache',
        'content-disposition': HEAD['content-disposition'],
        'content-language': 'de',
        expires: 'Thu, 01 Jan 2037 00:00:00 GMT',
        'x-amz-meta-note': HEAD['x-amz-meta-note'],
      },
    });
  });

  test('a chunked GET has no size; bad numbers and dates are absent, not guessed', () => {
    const head = objectHeadOf({
      'content-length': '12abc',
      'last-modified': 'yesterday',
      'x-amz-tagging-count': '-1',
    });
    expect(head).toMatchObject({ size: undefined, lastModified: undefined, tagCount: 0, copied: {} });
    expect(objectHeadOf({}).size).toBeUndefined();
  });

  test('an invalid Expires is still copied as main sent it (the SDK would have parsed and rewritten it)', () => {
    expect(objectHeadOf({ expires: '0' }).copied).toEqual({ expires: '0' });
  });

  test('a header sent twice is one value, joined by a comma', () => {
    expect(objectHeadOf({ 'x-amz-meta-a': ['1', '2'] }).copied).toEqual({ 'x-amz-meta-a': '1,2' });
  });
});

describe('putObjectHeaders', () => {
  test('main headers byte for byte, tags as x-amz-tagging, Content-MD5 in base64', () => {
    const head = objectHeadOf(HEAD);
    expect(
      putObjectHeaders(head, [{ Key: 'a b', Value: 'x&y=z' }], '5d41402abc4b2a76b9719d911017c592'),
    ).toEqual({
      ...head.copied,
      'x-amz-tagging': 'a%20b=x%26y%3Dz',
      'content-md5': 'XUFAKrxLKna5cZ2REBfFkg==',
    });
  });

  test('without a content type, the SDK default; without tags or MD5, no such header', () => {
    expect(putObjectHeaders({ copied: {} }, [])).toEqual({ 'content-type': 'application/octet-stream' });
  });

  test('taggingHeader and contentMd5', () => {
    expect(taggingHeader([])).toBeUndefined();
    expect(taggingHeader([{ Key: 'é', Value: '' }])).toBe('%C3%A9=');
    expect(contentMd5('d41d8cd98f00b204e9800998ecf8427e')).toBe('1B2M2Y8AsgTpgAmY7PhCfg==');
  });
});

describe('sdkObjectParams (multipart copies over 5 GiB)', () => {
  test('the same headers as SDK parameters; metadata names without the prefix', () => {
    expect(sdkObjectParams(objectHeadOf(HEAD))).toEqual({
      ContentType: 'text/plain',
      ContentEncoding: 'gzip',
      CacheControl: 'no-cache',
      ContentDisposition: HEAD['content-disposition'],
      ContentLanguage: 'de',
      Expires: new Date('2037-01-01T00:00:00Z'),
      Metadata: { note: HEAD['x-amz-meta-note'] },
    });
    expect(sdkObjectParams({ copied: {} })).toEqual({});
  });
});
