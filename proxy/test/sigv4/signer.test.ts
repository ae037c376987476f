import fc from 'fast-check';

import type { S3Endpoint } from '../../src/config';
import { upstreamPath, upstreamQuery, type RequestTarget } from '../../src/s3/request-target';
import { amzDate, RequestSigner, sortNames } from '../../src/sigv4/signer';
import { parseAuthorization, referenceSignature } from './reference';
import { staticCredentials, type Credentials } from '../../src/credentials';

// AWS's documented example credentials and date for the S3 SigV4 examples
// (docs.aws.amazon.com/AmazonS3/latest/API/sig-v4-header-based-auth.html).
const S3_EXAMPLE: S3Endpoint = {
  url: new URL('https://examplebucket.s3.amazonaws.com'),
  region: 'us-east-1',
  credentials: staticCredentials('main', {
    accessKeyId: 'AKIAIOSFODNN7EXAMPLE',
    secretAccessKey: 'wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY',
  }),
};
const S3_EXAMPLE_DATE = new Date('2013-05-24T00:00:00Z');
const EMPTY_SHA256 = 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855';

describe('RequestSigner against the S3 examples AWS publishes', () => {
  const signer = new RequestSigner(S3_EXAMPLE);
  const cases: {
    name: string;
    method: string;
    path: string;
    query: [string, string | null][];
    headers: Record<string, string>;
    signedHeaders: string;
    signature: string;
  }[] = [
    {
      name: 'GET Object with Range',
      method: 'GET',
      path: '/test.txt',
      query: [],
      headers: { range: 'bytes=0-9', 'x-amz-content-sha256': EMPTY_SHA256 },
      signedHeaders: 'host;range;x-amz-content-sha256;x-amz-date',
      signature: 'f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41',
    },
    {
      name: 'GET Bucket lifecycle (a value-less subresource)',
      method: 'GET',
      path: '/',
      query: [['lifecycle', null]],
      headers: { 'x-amz-content-sha256': EMPTY_SHA256 },
      signedHeaders: 'host;x-amz-content-sha256;x-amz-date',
      signature: 'fea454ca298b7da1c68078a5d1bdbfbbe0d65c699e0f91ac7a200a0136783543',
    },
    {
      name: 'GET Bucket (list objects) with query parameters',
      method: 'GET',
      path: '/',
      query: [
        ['max-keys', '2'],
        ['prefix', 'J'],
      ],
      headers: { 'x-amz-content-sha256': EMPTY_SHA256 },
      signedHeaders: 'host;x-amz-content-sha256;x-amz-date',
      signature: '34b48302e7b5fa45bde8084f4b7868a86f0a534bc59db6670ed5711ef69dc6f7',
    },
  ];

  test.each(cases)('$name', async (c) => {
    const signed = signer.sign(
      { method: c.method, path: c.path, query: c.query, headers: c.headers },
      S3_EXAMPLE_DATE,
    );
    const auth = parseAuthorization(signed.authorization!);
    expect(auth.credential).toBe('AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request');
    expect(auth.signedHeaders).toBe(c.signedHeaders);
    expect(auth.signature).toBe(c.signature);
    expect(signed['x-amz-date']).toBe('20130524T000000Z');
    expect(signed.host).toBe('examplebucket.s3.amazonaws.com');
  });

  // The published PUT example also signs a `Date` header, which the proxy replaces by x-amz-date, so it pins
  // the reference implementation only; the proxy's PUT signing is then checked against the reference.
  const putExample = {
    name: 'PUT Object (key with $, Date and storage class headers)',
    method: 'PUT',
    path: '/test%24file.text',
    query: [] as [string, string | null][],
    headers: {
      date: 'Fri, 24 May 2013 00:00:00 GMT',
      'x-amz-storage-class': 'REDUCED_REDUNDANCY',
      'x-amz-content-sha256': '44ce7dd67c959e0d3524ffac1771dfbba87d2b6b4b4e99e42034a8b803f8b072',
    } as Record<string, string>,
    signedHeaders: 'date;host;x-amz-content-sha256;x-amz-date;x-amz-storage-class',
    signature: '98ad721746da40c64f1a55b78f14c238d841ea1380cd77a1b5971af0ece108bd',
  };

  test('the reference implementation used below reproduces all four published signatures', () => {
    for (const c of [...cases, putExample]) {
      const query = c.query.map(([n, v]) => `${n}=${v ?? ''}`);
      const ref = referenceSignature({
        method: c.method,
        canonicalUri: c.path,
        canonicalQueryPairs: query,
        headers: { ...c.headers, host: 'examplebucket.s3.amazonaws.com', 'x-amz-date': '20130524T000000Z' },
        payloadHash: c.headers['x-amz-content-sha256']!,
        amzDate: '20130524T000000Z',
        region: 'us-east-1',
        service: 's3',
        secretAccessKey: S3_EXAMPLE.credentials.current().secretAccessKey,
      });
      expect(ref.signature).toBe(c.signature);
    }
  });
});

describe('what the proxy signs', () => {
  const endpoint: S3Endpoint = {
    url: new URL('http://127.0.0.1:7480'),
    region: 'eu-central-1',
    credentials: staticCredentials('main', { accessKeyId: 'MAINKEY', secretAccessKey: 'main-secret' }),
  };
  const signer = new RequestSigner(endpoint);
  const at = new Date('2026-01-02T03:04:05Z');

  async function signTarget(target: RequestTarget, headers: Record<string, string>) {
    const path = upstreamPath(target);
    const signed = signer.sign({ method: 'PUT', path, query: target.query, headers }, at);
    const queryString = upstreamQuery(target.query);
    const ref = referenceSignature({
      method: 'PUT',
      canonicalUri: path,
      canonicalQueryPairs: queryString === '' ? [] : queryString.slice(1).split('&').map(withEquals),
      headers: { ...headers, host: '127.0.0.1:7480', 'x-amz-date': '20260102T030405Z' },
      payloadHash: headers['x-amz-content-sha256']!,
      amzDate: '20260102T030405Z',
      region: 'eu-central-1',
      service: 's3',
      secretAccessKey: 'main-secret',
    });
    return { path, auth: parseAuthorization(signed.authorization!), ref };
  }
  const withEquals = (pair: string): string => (pair.includes('=') ? pair : `${pair}=`);

  test('every forwarded x-amz-* header and Content-MD5 is signed, host carries the port', async () => {
    const { auth } = await signTarget(
      { bucket: 'b', key: 'k', query: [], addressing: 'path' },
      {
        'content-md5': 'XrY7u+Ae7tCTyyK7j1rNww==',
        'content-type': 'text/plain',
        'x-amz-meta-owner': 'team a',
        'x-amz-tagging': 'a=b',
        'x-amz-server-side-encryption': 'AES256',
        'x-amz-content-sha256': 'UNSIGNED-PAYLOAD',
      },
    );
    expect(auth.signedHeaders.split(';')).toEqual([
      'content-md5',
      'content-type',
      'host',
      'x-amz-content-sha256',
      'x-amz-date',
      'x-amz-meta-owner',
      'x-amz-server-side-encryption',
      'x-amz-tagging',
    ]);
    expect(auth.credential).toBe('MAINKEY/20260102/eu-central-1/s3/aws4_request');
  });

  test.each([
    ['a:b', '/bucket/a%3Ab'],
    ['literal%2Fpercent', '/bucket/literal%252Fpercent'],
    ['_$folder$', '/bucket/_%24folder%24'],
    ['with space+plus', '/bucket/with%20space%2Bplus'],
    ['double//slash/', '/bucket/double//slash/'],
    ['ключ/日本', '/bucket/%D0%BA%D0%BB%D1%8E%D1%87/%E6%97%A5%E6%9C%AC'],
    ["tilde~!'()*", '/bucket/tilde~%21%27%28%29%2A'],
  ])('key %j goes on the wire as %s and is signed as sent (encoded once)', async (key, wire) => {
    const { path, auth, ref } = await signTarget(
      { bucket: 'bucket', key, query: [], addressing: 'path' },
      { 'x-amz-content-sha256': 'UNSIGNED-PAYLOAD' },
    );
    expect(path).toBe(wire);
    expect(auth.signature).toBe(ref.signature);
  });

  test('query values are encoded once and sorted; value-less subresources sign as name=', async () => {
    const { auth, ref } = await signTarget(
      {
        bucket: 'bucket',
        key: 'k',
        query: [
          ['uploadId', 'abc+/='],
          ['partNumber', '2'],
          ['tagging', null],
        ],
        addressing: 'path',
      },
      { 'x-amz-content-sha256': 'UNSIGNED-PAYLOAD' },
    );
    expect(auth.signature).toBe(ref.signature);
  });

  test('property: for any key and query, the signature equals the from-the-spec computation', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.string({ minLength: 1, maxLength: 60, unit: 'grapheme' }),
        fc.array(
          fc.tuple(fc.string({ minLength: 1, maxLength: 8 }), fc.option(fc.string({ maxLength: 8 }))),
          {
            maxLength: 3,
          },
        ),
        async (key, query) => {
          const { auth, ref } = await signTarget(
            { bucket: 'bucket', key, query, addressing: 'path' },
            { 'x-amz-content-sha256': 'UNSIGNED-PAYLOAD', 'x-amz-meta-k': 'v' },
          );
          expect(auth.signature).toBe(ref.signature);
        },
      ),
      { numRuns: 300 },
    );
  });
});

describe('what main receives is what was signed', () => {
  const endpoint: S3Endpoint = {
    url: new URL('http://127.0.0.1:7480'),
    region: 'us-east-1',
    credentials: staticCredentials('main', { accessKeyId: 'MAINKEY', secretAccessKey: 'main-secret' }),
  };
  const signer = new RequestSigner(endpoint);
  const at = new Date('2026-03-04T05:06:07Z');
  const reference = (headers: Record<string, string>, signedNames: string[], date = at) => {
    const amzDate = date
      .toISOString()
      .replace(/[-:]/g, '')
      .replace(/\.\d{3}/, '');
    const signed: Record<string, string> = { host: '127.0.0.1:7480', 'x-amz-date': amzDate };
    for (const name of signedNames) signed[name] = headers[name]!;
    return referenceSignature({
      method: 'DELETE',
      canonicalUri: '/b/k',
      canonicalQueryPairs: [],
      headers: signed,
      payloadHash: 'UNSIGNED-PAYLOAD',
      amzDate,
      region: 'us-east-1',
      service: 's3',
      secretAccessKey: 'main-secret',
    }).signature;
  };

  test('framing and hop headers are sent unsigned: a zero Content-Length that the client drops breaks nothing', () => {
    const headers = {
      'content-length': '0',
      'user-agent': 'Boto3/1.26.27',
      'x-amz-content-sha256': 'UNSIGNED-PAYLOAD',
    };
    const sent = signer.sign({ method: 'DELETE', path: '/b/k', query: [], headers }, at);
    const auth = parseAuthorization(sent.authorization!);
    expect(auth.signedHeaders).toBe('host;x-amz-content-sha256;x-amz-date');
    expect(sent['content-length']).toBe('0');
    expect(sent['user-agent']).toBe('Boto3/1.26.27');
    expect(auth.signature).toBe(reference(headers, ['x-amz-content-sha256']));
  });

  test('a non-ASCII header value is signed as the bytes that go on the wire (Node hands them over as latin1)', () => {
    const utf8 = 'attachment; filename="résumé-日本.pdf"';
    const wire = Buffer.from(utf8, 'utf8').toString('latin1');
    const headers = { 'content-disposition': wire, 'x-amz-content-sha256': 'UNSIGNED-PAYLOAD' };
    const sent = signer.sign({ method: 'DELETE', path: '/b/k', query: [], headers }, at);
    expect(sent['content-disposition']).toBe(wire);
    // The reference hashes its text as UTF-8: the same bytes as the latin1 string on the wire.
    expect(parseAuthorization(sent.authorization!).signature).toBe(
      reference({ 'content-disposition': utf8, 'x-amz-content-sha256': 'UNSIGNED-PAYLOAD' }, [
        'content-disposition',
        'x-amz-content-sha256',
      ]),
    );
  });

  // Each of the first values needs exactly one of the rules, so a check that skips values with nothing to
  // fold misses none.
  test.each([
    ['a lone tab', 'a\tb', 'a b'],
    ['a run of spaces', 'a  b', 'a b'],
    ['a leading space', ' a', 'a'],
    ['a trailing space', 'a ', 'a'],
    ['nothing to fold', 'a b', 'a b'],
    // Folded for signing only; other bytes (UTF-8 continuation 0x85, 0xA0) are not whitespace here.
    [
      'all of them, around UTF-8 bytes',
      Buffer.from('  a   b\t\tc à …  ', 'utf8').toString('latin1'),
      'a b c à …',
    ],
  ])('trimall with %s', (_name, value, canonical) => {
    const headers = { 'x-amz-meta-s': value, 'x-amz-content-sha256': 'UNSIGNED-PAYLOAD' };
    const sent = signer.sign({ method: 'DELETE', path: '/b/k', query: [], headers }, at);
    expect(sent['x-amz-meta-s']).toBe(value);
    expect(parseAuthorization(sent.authorization!).signature).toBe(
      reference({ 'x-amz-meta-s': canonical, 'x-amz-content-sha256': 'UNSIGNED-PAYLOAD' }, [
        'x-amz-meta-s',
        'x-amz-content-sha256',
      ]),
    );
  });

  test('the cached signing key follows the date', () => {
    const headers = { 'x-amz-content-sha256': 'UNSIGNED-PAYLOAD' };
    for (const date of [at, new Date('2026-03-05T00:00:01Z'), at]) {
      const sent = signer.sign({ method: 'DELETE', path: '/b/k', query: [], headers }, date);
      expect(parseAuthorization(sent.authorization!).signature).toBe(
        reference(headers, ['x-amz-content-sha256'], date),
      );
    }
  });
});

describe('temporary credentials', () => {
  const at = new Date('2026-03-04T05:06:07Z');
  const reference = (headers: Record<string, string>, secretAccessKey: string) =>
    referenceSignature({
      method: 'GET',
      canonicalUri: '/b/k',
      canonicalQueryPairs: [],
      headers: { ...headers, host: '127.0.0.1:7480', 'x-amz-date': '20260304T050607Z' },
      payloadHash: 'UNSIGNED-PAYLOAD',
      amzDate: '20260304T050607Z',
      region: 'us-east-1',
      service: 's3',
      secretAccessKey,
    }).signature;

  test('the session token is sent and signed; each request signs with the credentials in hand then', () => {
    let held: Credentials = { accessKeyId: 'TEMP1', secretAccessKey: 'secret-1', sessionToken: 'token-1' };
    const source = { ...staticCredentials('main', held), current: () => held };
    const signer = new RequestSigner({
      url: new URL('http://127.0.0.1:7480'),
      region: 'us-east-1',
      credentials: source,
    });
    const headers = { 'x-amz-content-sha256': 'UNSIGNED-PAYLOAD' };
    const first = signer.sign({ method: 'GET', path: '/b/k', query: [], headers }, at);
    expect(first['x-amz-security-token']).toBe('token-1');
    const auth = parseAuthorization(first.authorization!);
    expect(auth.credential).toMatch(/^TEMP1\//);
    expect(auth.signedHeaders).toBe('host;x-amz-content-sha256;x-amz-date;x-amz-security-token');
    expect(auth.signature).toBe(reference({ ...headers, 'x-amz-security-token': 'token-1' }, 'secret-1'));

    // Refreshed, the same day: the signing key is derived again from the new secret.
    held = { accessKeyId: 'TEMP2', secretAccessKey: 'secret-2', sessionToken: 'token-2' };
    const second = signer.sign({ method: 'GET', path: '/b/k', query: [], headers }, at);
    expect(second['x-amz-security-token']).toBe('token-2');
    expect(parseAuthorization(second.authorization!).signature).toBe(
      reference({ ...headers, 'x-amz-security-token': 'token-2' }, 'secret-2'),
    );

    // Static keys: no token, even when the request brought one.
    held = { accessKeyId: 'STATIC', secretAccessKey: 'secret-3' };
    const third = signer.sign(
      {
        method: 'GET',
        path: '/b/k',
        query: [],
        headers: { ...headers, 'x-amz-security-token': 'app-token' },
      },
      at,
    );
    expect(third['x-amz-security-token']).toBeUndefined();
    expect(parseAuthorization(third.authorization!).signature).toBe(reference(headers, 'secret-3'));
  });
});

describe('amzDate', () => {
  it('formats each second, also when calls alternate between seconds (the cache holds one)', () => {
    const a = new Date('2013-05-24T00:00:00.999Z');
    const b = new Date('2013-05-24T00:00:01.000Z');
    expect(amzDate(a)).toBe('20130524T000000Z');
    expect(amzDate(b)).toBe('20130524T000001Z');
    expect(amzDate(new Date('2013-05-24T00:00:01.500Z'))).toBe('20130524T000001Z');
    expect(amzDate(a)).toBe('20130524T000000Z');
    // Before 1970 a second's milliseconds are negative: flooring keeps them in their own second.
    expect(amzDate(new Date('1969-12-31T23:59:59.500Z'))).toBe('19691231T235959Z');
    expect(amzDate(new Date('1970-01-01T00:00:00.000Z'))).toBe('19700101T000000Z');
  });
});

describe('sortNames', () => {
  test('property: puts names in the order Array.prototype.sort does', () => {
    fc.assert(
      fc.property(fc.array(fc.string({ maxLength: 12, unit: 'binary' }), { maxLength: 40 }), (names) => {
        const sorted = [...names];
        sortNames(sorted);
        expect(sorted).toEqual([...names].sort());
      }),
      { numRuns: 500 },
    );
  });
});
