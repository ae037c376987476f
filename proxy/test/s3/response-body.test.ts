import { renderS3ErrorXml, s3Errors, s3ResponseError } from '../../src/s3/errors';
import {
  isErrorDocument,
  isListing,
  parseDeletedKeys,
  parseErrorDocument,
  parseObjectListing,
  parseTagSet,
  parseVersioningStatus,
  unescapeXml,
} from '../../src/s3/response-body';

describe('DeleteObjects responses', () => {
  test('each deleted key, with entities decoded and version ids; errors are not deleted keys', () => {
    const body = `<?xml version="1.0" encoding="UTF-8"?>
<DeleteResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/">
  <Deleted><Key>a &amp; b.txt</Key></Deleted>
  <Deleted><Key>quote&apos;s &lt;x&gt; &#x65E5;&#26412;</Key><VersionId>v-1</VersionId></Deleted>
  <Deleted><Key>marker</Key><DeleteMarker>true</DeleteMarker><DeleteMarkerVersionId>dm</DeleteMarkerVersionId></Deleted>
  <Error><Key>denied</Key><Code>AccessDenied</Code><Message>Access Denied</Message></Error>
</DeleteResult>`;
    expect(parseDeletedKeys(body)).toEqual([
      { key: 'a & b.txt' },
      { key: "quote's <x> 日本", versionId: 'v-1' },
      { key: 'marker' },
    ]);
  });

  test('an empty result has no keys', () => {
    expect(parseDeletedKeys('<DeleteResult/>')).toEqual([]);
  });

  test('unescapeXml leaves unknown entities out rather than guessing', () => {
    expect(unescapeXml('a&bogus;b&quot;')).toBe('a&bogus;b"');
  });
});

describe('200 responses that are errors', () => {
  test('CompleteMultipartUpload and CopyObject can answer 200 with an Error document', () => {
    expect(isErrorDocument('<?xml version="1.0"?>\n<Error><Code>InternalError</Code></Error>')).toBe(true);
    expect(isErrorDocument('<CopyObjectResult><ETag>"x"</ETag></CopyObjectResult>')).toBe(false);
    expect(
      isErrorDocument('<DeleteResult><Error><Key>k</Key><Code>AccessDenied</Code></Error></DeleteResult>'),
    ).toBe(false);
  });
});

describe('errors the proxy answers itself', () => {
  test('are S3 XML with escaped text', () => {
    const xml = renderS3ErrorXml(s3Errors.accessDenied('bucket <a&b>'), '/a&b/"k"', 'REQ1');
    expect(xml).toBe(
      '<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>AccessDenied</Code>' +
        '<Message>bucket &lt;a&amp;b&gt;</Message><Resource>/a&amp;b/&quot;k&quot;</Resource>' +
        '<RequestId>REQ1</RequestId></Error>',
    );
    expect(s3Errors.accessDenied().statusCode).toBe(403);
    expect(s3Errors.badDigest().statusCode).toBe(400);
    expect(s3Errors.missingContentLength().statusCode).toBe(411);
  });
});

describe('error documents and tag sets', () => {
  test('parseErrorDocument: code and message, entities decoded; anything else is no error document', () => {
    const body = `<?xml version="1.0" encoding="UTF-8"?>
<Error><Code>NoSuchBucket</Code><Message>The bucket &quot;b&quot; does not exist</Message><BucketName>b</BucketName><RequestId>tx</RequestId></Error>`;
    expect(parseErrorDocument(body)).toEqual({
      code: 'NoSuchBucket',
      message: 'The bucket "b" does not exist',
    });
    expect(parseErrorDocument('')).toEqual({});
    expect(parseErrorDocument('<html><body>502 Bad Gateway</body></html>')).toEqual({});
    expect(parseErrorDocument('<Error><Code>SlowDown</Code></Error>')).toEqual({ code: 'SlowDown' });
  });

  test('parseTagSet: every tag, entities decoded, an empty value kept', () => {
    const body = `<?xml version="1.0" encoding="UTF-8"?>
<Tagging xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><TagSet>
  <Tag><Key>team &amp; owner</Key><Value>a=b&lt;c</Value></Tag>
  <Tag><Key>&#xE9;t&#233;</Key><Value></Value></Tag>
  <Tag><Key>self-closed</Key><Value/></Tag>
</TagSet></Tagging>`;
    expect(parseTagSet(body)).toEqual([
      { Key: 'team & owner', Value: 'a=b<c' },
      { Key: 'été', Value: '' },
      { Key: 'self-closed', Value: '' },
    ]);
    expect(parseTagSet('<Tagging><TagSet/></Tagging>')).toEqual([]);
  });

  test('s3ResponseError: named by the document code, else by the status (HEAD has no body)', () => {
    const err = s3ResponseError(404, '<Error><Code>NoSuchBucket</Code><Message>gone</Message></Error>');
    expect(err).toMatchObject({
      name: 'NoSuchBucket',
      code: 'NoSuchBucket',
      statusCode: 404,
      message: 'gone',
    });
    expect(s3ResponseError(404, '')).toMatchObject({ name: 'NotFound', statusCode: 404 });
    expect(s3ResponseError(403, '')).toMatchObject({ name: 'Forbidden' });
    expect(s3ResponseError(418, 'teapot')).toMatchObject({
      name: 'Http418',
      message: 'S3 answered HTTP 418 without an error document',
    });
  });
});

describe('ListObjectsV2 answers', () => {
  const contents = (key: string, extra = '') =>
    `<Contents><Key>${key}</Key><LastModified>2026-12-02T10:00:00.000Z</LastModified>` +
    `<ETag>&quot;abc&quot;</ETag><Size>42</Size>${extra}<StorageClass>STANDARD</StorageClass></Contents>`;

  test('URL-encoded keys are decoded: AWS writes a space as +, RGW as %20; both write + as %2B', () => {
    const body =
      '<?xml version="1.0" encoding="UTF-8"?><ListBucketResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/">' +
      '<Name>b</Name><EncodingType>url</EncodingType><IsTruncated>true</IsTruncated>' +
      contents('a+b%2Bc') +
      contents('a%20b%2Bc%2Fd') +
      contents('%E6%97%A5%01%26%3C') +
      '<StartAfter>x</StartAfter></ListBucketResult>';
    expect(parseObjectListing(body)).toEqual({
      isTruncated: true,
      objects: [
        { key: 'a b+c', size: 42, etag: '"abc"', lastModified: new Date('2026-12-02T10:00:00Z') },
        { key: 'a b+c/d', size: 42, etag: '"abc"', lastModified: new Date('2026-12-02T10:00:00Z') },
        { key: '日\u0001&<', size: 42, etag: '"abc"', lastModified: new Date('2026-12-02T10:00:00Z') },
      ],
    });
  });

  test('a backend that ignores encoding-type sends keys as XML text: taken as they are', () => {
    const body =
      '<ListBucketResult><IsTruncated>false</IsTruncated>' +
      contents('a+b &amp; 100%') +
      contents('<Owner>', '<Owner><ID>x</ID></Owner>').replace(
        '<Key><Owner></Key>',
        '<Key>&lt;Owner&gt;</Key>',
      ) +
      '</ListBucketResult>';
    expect(parseObjectListing(body).objects.map((o) => o.key)).toEqual(['a+b & 100%', '<Owner>']);
    expect(parseObjectListing(body).isTruncated).toBe(false);
  });

  test('isListing: a ListBucketResult root, not an error document or another page', () => {
    expect(
      isListing('<?xml version="1.0" encoding="UTF-8"?>\n<ListBucketResult xmlns="x"></ListBucketResult>'),
    ).toBe(true);
    expect(isListing('<ListBucketResult/>')).toBe(true);
    expect(isListing('<Error><Code>NoSuchBucket</Code></Error>')).toBe(false);
    expect(isListing('<html><ListBucketResult></ListBucketResult></html>')).toBe(false);
    expect(isListing('')).toBe(false);
  });

  test('an empty bucket; a malformed escape throws rather than naming another key', () => {
    expect(parseObjectListing('<ListBucketResult><KeyCount>0</KeyCount></ListBucketResult>')).toEqual({
      objects: [],
      isTruncated: false,
    });
    const bad = `<ListBucketResult><EncodingType>url</EncodingType>${contents('%E6%97')}</ListBucketResult>`;
    expect(() => parseObjectListing(bad)).toThrow(URIError);
  });
});

test('GetBucketVersioning: Enabled, Suspended, or none for a bucket never versioned', () => {
  const doc = (inner: string) =>
    `<?xml version="1.0" encoding="UTF-8"?><VersioningConfiguration xmlns="http://s3.amazonaws.com/doc/2006-03-01/">${inner}</VersioningConfiguration>`;
  expect(parseVersioningStatus(doc('<Status>Enabled</Status>'))).toBe('Enabled');
  expect(parseVersioningStatus(doc('<Status>Suspended</Status><MfaDelete>Disabled</MfaDelete>'))).toBe(
    'Suspended',
  );
  expect(parseVersioningStatus(doc(''))).toBeUndefined();
});
