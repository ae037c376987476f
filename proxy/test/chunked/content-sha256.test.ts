import { S3Error } from '../../src/s3/errors';
import {
  classifyContentSha256,
  parseTrailerNames,
  planAwsChunked,
  stripAwsChunked,
} from '../../src/chunked/content-sha256';

describe('classifyContentSha256', () => {
  test.each([
    ['STREAMING-AWS4-HMAC-SHA256-PAYLOAD', true, false],
    ['STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER', true, true],
    ['STREAMING-UNSIGNED-PAYLOAD-TRAILER', false, true],
    ['STREAMING-AWS4-ECDSA-P256-SHA256-PAYLOAD', true, false],
    ['STREAMING-AWS4-ECDSA-P256-SHA256-PAYLOAD-TRAILER', true, true],
  ])('%s', (value, signedChunks, trailer) => {
    expect(classifyContentSha256(value)).toEqual({ streaming: true, signedChunks, trailer, value });
  });

  test('non-streaming values', () => {
    expect(classifyContentSha256('UNSIGNED-PAYLOAD')).toMatchObject({ streaming: false, kind: 'unsigned' });
    expect(
      classifyContentSha256('e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855'),
    ).toMatchObject({
      streaming: false,
      kind: 'sha256',
    });
    expect(classifyContentSha256(undefined)).toMatchObject({ streaming: false, kind: 'absent' });
    expect(classifyContentSha256('nonsense')).toMatchObject({ streaming: false, kind: 'other' });
  });

  test.each(['STREAMING-UNSIGNED-PAYLOAD', 'STREAMING-', 'STREAMING-AWS4-HMAC-SHA256-PAYLOAD-X'])(
    'unknown STREAMING- value %s → InvalidArgument',
    (value) => {
      expect(() => classifyContentSha256(value)).toThrow(S3Error);
      try {
        classifyContentSha256(value);
      } catch (err) {
        expect((err as S3Error).code).toBe('InvalidArgument');
        expect((err as S3Error).statusCode).toBe(400);
      }
    },
  );
});

describe('planAwsChunked', () => {
  const base = {
    'x-amz-content-sha256': 'STREAMING-UNSIGNED-PAYLOAD-TRAILER',
    'x-amz-decoded-content-length': '11',
    'x-amz-trailer': 'x-amz-checksum-crc64nvme',
    'content-encoding': 'aws-chunked',
  };

  test('the headers the JS SDK sends', () => {
    expect(planAwsChunked(base)).toEqual({
      signedChunks: false,
      trailer: true,
      decodedLength: 11,
      trailerNames: ['x-amz-checksum-crc64nvme'],
      headerChecksums: {},
      contentEncoding: null,
    });
  });

  test('detection is by the STREAMING- prefix, not Content-Encoding', () => {
    const { 'content-encoding': _ce, ...rest } = base;
    expect(planAwsChunked(rest)?.decodedLength).toBe(11);
    expect(planAwsChunked({ 'content-encoding': 'aws-chunked', 'content-length': '3' })).toBeNull();
  });

  test('other encodings are kept, header checksums collected', () => {
    const plan = planAwsChunked({
      ...base,
      'content-encoding': 'aws-chunked, gzip',
      'x-amz-checksum-crc32': 'DUoRhQ==',
    });
    expect(plan?.contentEncoding).toBe('gzip');
    expect(plan?.headerChecksums).toEqual({ CRC32: 'DUoRhQ==' });
  });

  test.each([
    [{ 'x-amz-decoded-content-length': undefined }, 'MissingContentLength', 411],
    [{ 'x-amz-decoded-content-length': '-1' }, 'InvalidArgument', 400],
    [{ 'x-amz-decoded-content-length': '1.5' }, 'InvalidArgument', 400],
    [{ 'x-amz-decoded-content-length': '' }, 'InvalidArgument', 400],
    [{ 'x-amz-decoded-content-length': '99999999999999999' }, 'InvalidArgument', 400],
    [{ 'x-amz-trailer': 'x-amz-meta-foo' }, 'InvalidArgument', 400],
    [{ 'x-amz-trailer': 'x-amz-checksum-crc32,x-amz-checksum-crc32' }, 'InvalidArgument', 400],
    [{ 'x-amz-content-sha256': 'STREAMING-AWS4-HMAC-SHA256-PAYLOAD' }, 'InvalidArgument', 400],
  ])('%j → %s', (override, code, status) => {
    const headers: Record<string, string | undefined> = { ...base, ...override };
    try {
      planAwsChunked(headers);
      throw new Error('expected an S3Error');
    } catch (err) {
      expect(err).toBeInstanceOf(S3Error);
      expect((err as S3Error).code).toBe(code);
      expect((err as S3Error).statusCode).toBe(status);
    }
  });

  test('helpers', () => {
    expect(stripAwsChunked(undefined)).toBeNull();
    expect(stripAwsChunked('aws-chunked')).toBeNull();
    expect(stripAwsChunked('gzip,aws-chunked')).toBe('gzip');
    expect(parseTrailerNames(' X-Amz-Checksum-CRC32 , x-amz-checksum-sha1 ')).toEqual([
      'x-amz-checksum-crc32',
      'x-amz-checksum-sha1',
    ]);
  });
});
