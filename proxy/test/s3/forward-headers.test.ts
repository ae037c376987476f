import {
  downstreamResponseHeaders,
  payloadHashFor,
  upstreamRequestHeaders,
} from '../../src/s3/forward-headers';

const SHA = 'a'.repeat(64);

/** Headers as Node's rawHeaders lists them: name, value, …; a repeated header once per value. */
function raw(headers: Record<string, string | string[]>): string[] {
  return Object.entries(headers).flatMap(([name, value]) =>
    (Array.isArray(value) ? value : [value]).flatMap((v) => [name, v]),
  );
}

describe('upstreamRequestHeaders', () => {
  const appHeaders = {
    host: 'bucket.localhost:8080',
    authorization: 'AWS4-HMAC-SHA256 Credential=APPKEY/…, Signature=abc',
    'x-amz-date': '20260101T000000Z',
    'x-amz-security-token': 'app-session-token',
    'x-amz-content-sha256': SHA,
    'content-length': '11',
    'content-type': 'text/plain',
    'content-md5': 'XrY7u+Ae7tCTyyK7j1rNww==',
    'x-amz-meta-owner': 'team',
    'x-amz-checksum-crc32': 'NhCmhg==',
    'if-none-match': '*',
    connection: 'keep-alive, x-drop-me',
    'x-drop-me': 'hop',
    'keep-alive': 'timeout=5',
    'proxy-authorization': 'Basic abc',
    expect: '100-continue',
    'transfer-encoding': 'chunked',
    te: 'trailers',
    upgrade: 'h2c',
    range: 'bytes=0-1',
  };

  test("the app's signature, credentials and hop-by-hop headers never go upstream; S3 headers do", () => {
    const out = upstreamRequestHeaders(raw(appHeaders), { contentLength: 11, payloadHash: SHA });
    expect(out).toEqual({
      'content-type': 'text/plain',
      'content-md5': 'XrY7u+Ae7tCTyyK7j1rNww==',
      'x-amz-meta-owner': 'team',
      'x-amz-checksum-crc32': 'NhCmhg==',
      'if-none-match': '*',
      range: 'bytes=0-1',
      'content-length': '11',
      'x-amz-content-sha256': SHA,
    });
  });

  test('a decoded aws-chunked body loses its framing headers and keeps any other content-encoding', () => {
    const out = upstreamRequestHeaders(
      raw({
        'content-encoding': 'aws-chunked,gzip',
        'x-amz-decoded-content-length': '5',
        'x-amz-trailer': 'x-amz-checksum-crc32',
        'x-amz-sdk-checksum-algorithm': 'CRC32',
        'x-amz-content-sha256': 'STREAMING-UNSIGNED-PAYLOAD-TRAILER',
        'content-length': '60',
        'x-amz-meta-a': 'b',
      }),
      { decodedAwsChunked: { contentEncoding: 'gzip' }, contentLength: 5, payloadHash: 'UNSIGNED-PAYLOAD' },
    );
    expect(out).toEqual({
      'x-amz-meta-a': 'b',
      'content-encoding': 'gzip',
      'content-length': '5',
      'x-amz-content-sha256': 'UNSIGNED-PAYLOAD',
    });
  });

  test('repeated headers are joined into one value with `,`, as S3 and SigV4 combine them', () => {
    expect(
      upstreamRequestHeaders(raw({ 'x-amz-meta-x': ['a', 'b'] }), { payloadHash: 'UNSIGNED-PAYLOAD' }),
    ).toEqual({
      'x-amz-meta-x': 'a,b',
      'x-amz-content-sha256': 'UNSIGNED-PAYLOAD',
    });
  });
});

describe('upstreamRequestHeaders, from the raw list as the app sent it', () => {
  test('names in any case go lower-case; a name repeated in another case is still one header', () => {
    const out = upstreamRequestHeaders(
      ['Content-Type', 'text/plain', 'X-Amz-Meta-Tag', 'a', 'x-amz-meta-tag', 'b', 'HOST', 'h:1'],
      { payloadHash: 'UNSIGNED-PAYLOAD' },
    );
    expect(out).toEqual({
      'content-type': 'text/plain',
      'x-amz-meta-tag': 'a,b',
      'x-amz-content-sha256': 'UNSIGNED-PAYLOAD',
    });
  });

  test('every Connection header counts: the headers each names stay behind', () => {
    const out = upstreamRequestHeaders(
      ['Connection', 'x-one', 'X-One', '1', 'connection', 'X-Two', 'x-two', '2', 'x-three', '3'],
      { payloadHash: 'UNSIGNED-PAYLOAD' },
    );
    expect(out).toEqual({ 'x-three': '3', 'x-amz-content-sha256': 'UNSIGNED-PAYLOAD' });
  });

  test('a Connection header after the headers it names still keeps them back; keep-alive alone names none', () => {
    expect(
      upstreamRequestHeaders(['x-late', '4', 'x-kept', '5', 'Connection', 'X-Late'], {
        payloadHash: 'UNSIGNED-PAYLOAD',
      }),
    ).toEqual({ 'x-kept': '5', 'x-amz-content-sha256': 'UNSIGNED-PAYLOAD' });
    expect(
      upstreamRequestHeaders(['x-kept', '5', 'Connection', 'keep-alive'], {
        payloadHash: 'UNSIGNED-PAYLOAD',
      }),
    ).toEqual({ 'x-kept': '5', 'x-amz-content-sha256': 'UNSIGNED-PAYLOAD' });
  });

  test("as in Node's headers objects, only the first 2,000 headers count", () => {
    const raw = Array.from({ length: 2001 }, (_, i) => [`x-amz-meta-h${i}`, 'v']).flat();
    const out = upstreamRequestHeaders(raw, { payloadHash: 'UNSIGNED-PAYLOAD' });
    expect(out['x-amz-meta-h1999']).toBe('v');
    expect(out['x-amz-meta-h2000']).toBeUndefined();
  });

  test('a header named like an Object property is an ordinary header', () => {
    const out = upstreamRequestHeaders(['constructor', 'c', 'toString', 't'], {
      payloadHash: 'UNSIGNED-PAYLOAD',
    });
    expect(out).toEqual({ constructor: 'c', tostring: 't', 'x-amz-content-sha256': 'UNSIGNED-PAYLOAD' });
  });
});

describe('payloadHashFor', () => {
  test("the app's own SHA-256 is kept when the body goes up unchanged, so main still verifies it", () => {
    expect(payloadHashFor({ 'x-amz-content-sha256': SHA.toUpperCase() }, true)).toBe(SHA);
  });
  test.each([
    [{ 'x-amz-content-sha256': SHA }, false],
    [{ 'x-amz-content-sha256': 'UNSIGNED-PAYLOAD' }, true],
    [{ 'x-amz-content-sha256': 'STREAMING-UNSIGNED-PAYLOAD-TRAILER' }, false],
    [{}, true],
    [{ 'x-amz-content-sha256': 'not-a-hash' }, true],
  ])('otherwise UNSIGNED-PAYLOAD (%j, body unchanged: %s)', (headers, unchanged) => {
    expect(payloadHashFor(headers, unchanged)).toBe('UNSIGNED-PAYLOAD');
  });
});

describe('downstreamResponseHeaders', () => {
  test('S3 headers come back unchanged, hop-by-hop ones are dropped', () => {
    expect(
      downstreamResponseHeaders({
        ETag: '"abc"',
        'content-range': 'bytes 0-1/2',
        'last-modified': 'Wed, 01 Jan 2026 00:00:00 GMT',
        'x-amz-version-id': 'v1',
        'x-amz-meta-a': 'b',
        'set-cookie': ['a=1', 'b=2'],
        connection: 'keep-alive, x-hop',
        'x-hop': '1',
        'keep-alive': 'timeout=5',
        'transfer-encoding': 'chunked',
        empty: undefined,
      }),
    ).toEqual({
      etag: '"abc"',
      'content-range': 'bytes 0-1/2',
      'last-modified': 'Wed, 01 Jan 2026 00:00:00 GMT',
      'x-amz-version-id': 'v1',
      'x-amz-meta-a': 'b',
      'set-cookie': ['a=1', 'b=2'],
    });
  });
});
