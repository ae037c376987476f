import { randomBytes } from 'node:crypto';
import { getDefaultHighWaterMark, PassThrough, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { S3Error } from '../../src/s3/errors';
import { checksumAlgorithms, computeChecksum } from '../../src/chunked/checksums';
import { createAwsChunkedDecoder } from '../../src/chunked/decoder';
import { AwsChunkedParser, type AwsChunkedOptions } from '../../src/chunked/parser';
import { ChunkSigner, encodeAwsChunked } from './encode';
import { bytewise, decodePieces, decodeStream, splitAt } from './helpers';

// The S3 SigV4 streaming example ("Example: PUT Object"): 65 KiB of 'a' in 64 KiB chunks.
const awsSeed = '4f232c4386841ef735655705268965c44a0e4690baa4adea153f7db9fa80a0a9';
const awsSigner = () =>
  new ChunkSigner(
    'wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY',
    '20130524T000000Z',
    '20130524/us-east-1/s3/aws4_request',
    awsSeed,
  );

const unsignedTrailer = (payload: Buffer, names: string[] = []): AwsChunkedOptions => ({
  decodedLength: payload.length,
  signedChunks: false,
  trailer: true,
  trailerNames: names,
});

function expectS3Error(result: { error?: S3Error }, code: string): void {
  expect(result.error).toBeInstanceOf(S3Error);
  expect(result.error?.code).toBe(code);
}

/** The hold-back guarantee: on failure, what was released is a strict prefix of the payload. */
function expectNoLastByte(result: { out: Buffer }, payload: Buffer): void {
  expect(result.out.length).toBeLessThan(Math.max(payload.length, 1));
  expect(payload.subarray(0, result.out.length).equals(result.out)).toBe(true);
}

describe('AWS published example (STREAMING-AWS4-HMAC-SHA256-PAYLOAD)', () => {
  const payload = Buffer.alloc(65 * 1024, 'a');
  const body = encodeAwsChunked(payload, { chunkSizes: [64 * 1024], signer: awsSigner() });
  const options: AwsChunkedOptions = {
    decodedLength: payload.length,
    signedChunks: true,
    trailer: false,
  };

  test('the test encoder reproduces the documented body', () => {
    // Documented Content-Length and chunk signatures.
    expect(body.length).toBe(66824);
    const text = body.toString('latin1');
    expect(
      text.startsWith(
        '10000;chunk-signature=ad80c730a21e5b8d04586a2213dd63b9a0e99e0e2307b0ade35a65485a288648\r\n',
      ),
    ).toBe(true);
    expect(text).toContain(
      '\r\n400;chunk-signature=0055627c9e194cb4542bae2aa5492e3c1575bbb81b612b7d234b86a503ef5497\r\n',
    );
    expect(
      text.endsWith(
        '\r\n0;chunk-signature=b6c6ea8a5354eaf15b3cb7646744f4275b71ea724fed81ceb9323e279d449df9\r\n\r\n',
      ),
    ).toBe(true);
  });

  test('decodes whole, byte by byte and via the stream', async () => {
    expect(decodePieces([body], options).out.equals(payload)).toBe(true);
    expect(decodePieces(bytewise(body), options).out.equals(payload)).toBe(true);
    const s = await decodeStream([body], options);
    expect(s.error).toBeUndefined();
    expect(s.out.equals(payload)).toBe(true);
  });

  test('split in two at framing offsets gives identical output', () => {
    const offsets: number[] = [];
    for (let i = 0; i <= body.length; i++) {
      const nearFraming = i < 120 || Math.abs(i - 65623) < 120 || i > body.length - 200;
      if (nearFraming || i % 251 === 0) offsets.push(i);
    }
    for (const o of offsets) {
      const r = decodePieces(splitAt(body, [o]), options);
      expect(r.error).toBeUndefined();
      expect(r.out.equals(payload)).toBe(true);
    }
  });

  test('a corrupted chunk signature is not verified (dropped), a missing one is rejected', () => {
    const bad = Buffer.from(body);
    bad.write('f', 30, 'latin1'); // inside the first signature: still 64 hex
    expect(decodePieces([bad], options).out.equals(payload)).toBe(true);
    const unsignedBody = encodeAwsChunked(payload, { chunkSizes: [64 * 1024] });
    expectS3Error(decodePieces([unsignedBody], options), 'InvalidRequest');
  });
});

describe('STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER', () => {
  const payload = randomBytes(20000);
  const options: AwsChunkedOptions = {
    decodedLength: payload.length,
    signedChunks: true,
    trailer: true,
    trailerNames: ['x-amz-checksum-crc32c'],
  };
  const body = encodeAwsChunked(payload, {
    chunkSizes: [8192, 8192],
    signer: awsSigner(),
    trailers: ['CRC32C'],
  });

  test('decodes and verifies the trailing checksum', () => {
    const r = decodePieces([body], options);
    expect(r.error).toBeUndefined();
    expect(r.out.equals(payload)).toBe(true);
    expect(r.checksums).toEqual({ CRC32C: computeChecksum('CRC32C', payload) });
    expect(body.toString('latin1')).toMatch(/x-amz-trailer-signature:[0-9a-f]{64}\r\n\r\n$/);
  });

  test('split at every offset of the framing tail', () => {
    for (let o = body.length - 200; o <= body.length; o++) {
      const r = decodePieces(splitAt(body, [o]), options);
      expect(r.error).toBeUndefined();
      expect(r.out.equals(payload)).toBe(true);
    }
  });

  test('the trailer signature is required', () => {
    const noSig = encodeAwsChunked(payload, { chunkSizes: [8192], signer: awsSigner() });
    const withTrailerOnly = Buffer.concat([
      noSig.subarray(0, noSig.length - 2),
      Buffer.from(`x-amz-checksum-crc32c:${computeChecksum('CRC32C', payload)}\r\n\r\n`),
    ]);
    expectS3Error(decodePieces([withTrailerOnly], options), 'MalformedTrailerError');
  });

  test('ECDSA (SigV4a) variants: hex DER signatures padded with * are accepted and dropped', () => {
    const sig = 'ab'.repeat(70) + '****';
    const trailer = `x-amz-checksum-crc32c:${computeChecksum('CRC32C', payload)}\r\n`;
    const ecdsaBody = Buffer.concat([
      Buffer.from(`4e20;chunk-signature=${sig}\r\n`),
      payload,
      Buffer.from(`\r\n0;chunk-signature=${sig}\r\n${trailer}x-amz-trailer-signature:${sig}\r\n\r\n`),
    ]);
    const r = decodePieces(bytewise(ecdsaBody), options);
    expect(r.error).toBeUndefined();
    expect(r.out.equals(payload)).toBe(true);
    const badSig = Buffer.from(
      ecdsaBody.toString('latin1').replace(`4e20;chunk-signature=${sig}`, `4e20;chunk-signature=${sig}a`),
      'latin1',
    );
    expectS3Error(decodePieces([badSig], options), 'InvalidRequest');
  });
});

describe('STREAMING-UNSIGNED-PAYLOAD-TRAILER', () => {
  test.each(checksumAlgorithms)('%s trailer verified, at every split offset', (alg) => {
    const payload = randomBytes(37);
    const body = encodeAwsChunked(payload, { chunkSizes: [10, 1, 20], trailers: [alg] });
    const options = unsignedTrailer(payload, [`x-amz-checksum-${alg.toLowerCase()}`]);
    for (let o = 0; o <= body.length; o++) {
      const r = decodePieces(splitAt(body, [o]), options);
      expect(r.error).toBeUndefined();
      expect(r.out.equals(payload)).toBe(true);
      expect(r.checksums).toEqual({ [alg]: computeChecksum(alg, payload) });
    }
    expect(decodePieces(bytewise(body), options).out.equals(payload)).toBe(true);
  });

  test.each(checksumAlgorithms)('%s mismatch → BadDigest, last byte never released', (alg) => {
    const payload = randomBytes(100);
    const other = Buffer.from(payload);
    other[99] = other[99]! ^ 1;
    const body = encodeAwsChunked(payload, {
      chunkSizes: [30, 30],
      rawTrailerLines: [`x-amz-checksum-${alg.toLowerCase()}:${computeChecksum(alg, other)}`],
    });
    const options = unsignedTrailer(payload, [`x-amz-checksum-${alg.toLowerCase()}`]);
    for (const pieces of [[body], bytewise(body)]) {
      const r = decodePieces(pieces, options);
      expectS3Error(r, 'BadDigest');
      expect(r.error?.statusCode).toBe(400);
      expectNoLastByte(r, payload);
    }
  });

  test('without the final CRLF after the trailers (lenient)', () => {
    const payload = Buffer.from('hello world');
    const body = encodeAwsChunked(payload, { trailers: ['CRC32'], finalCrlf: false });
    const r = decodePieces([body], unsignedTrailer(payload, ['x-amz-checksum-crc32']));
    expect(r.error).toBeUndefined();
    expect(r.out.equals(payload)).toBe(true);
  });

  test('a half-written trailer line at end of input is incomplete', () => {
    const payload = Buffer.from('hello world');
    const body = encodeAwsChunked(payload, { trailers: ['CRC32'], finalCrlf: false });
    const r = decodePieces(
      [body.subarray(0, body.length - 2)],
      unsignedTrailer(payload, ['x-amz-checksum-crc32']),
    );
    expectS3Error(r, 'IncompleteBody');
    expectNoLastByte(r, payload);
  });

  test('empty payload', () => {
    const payload = Buffer.alloc(0);
    const body = encodeAwsChunked(payload, { trailers: ['CRC64NVME'] });
    expect(body.toString()).toBe('0\r\nx-amz-checksum-crc64nvme:AAAAAAAAAAA=\r\n\r\n');
    const r = decodePieces([body], unsignedTrailer(payload, ['x-amz-checksum-crc64nvme']));
    expect(r.error).toBeUndefined();
    expect(r.out.length).toBe(0);
  });

  test('header checksum is verified too', () => {
    const payload = randomBytes(50);
    const body = encodeAwsChunked(payload, {});
    const ok = decodePieces([body], {
      ...unsignedTrailer(payload),
      headerChecksums: { SHA1: computeChecksum('SHA1', payload) },
    });
    expect(ok.checksums).toEqual({ SHA1: computeChecksum('SHA1', payload) });
    const bad = decodePieces([body], {
      ...unsignedTrailer(payload),
      headerChecksums: { SHA1: computeChecksum('SHA1', Buffer.from('x')) },
    });
    expectS3Error(bad, 'BadDigest');
    expectNoLastByte(bad, payload);
  });

  test('uppercase hex sizes are accepted', () => {
    const payload = randomBytes(300);
    const body = encodeAwsChunked(payload, { upperHex: true, chunkSizes: [171] });
    expect(body.toString('latin1').startsWith('AB\r\n')).toBe(true);
    expect(decodePieces([body], unsignedTrailer(payload)).out.equals(payload)).toBe(true);
  });
});

describe('malformed input → S3 errors', () => {
  const payload = Buffer.from('0123456789abcdef');
  const opts = unsignedTrailer(payload, ['x-amz-checksum-crc32']);
  const good = encodeAwsChunked(payload, { chunkSizes: [10], trailers: ['CRC32'] });
  const raw = (s: string) => Buffer.from(s, 'latin1');
  const crc = computeChecksum('CRC32', payload);

  test.each([
    ['bad hex', `zz\r\n`, 'InvalidRequest'],
    ['0x prefix', `0x10\r\n`, 'InvalidRequest'],
    ['negative', `-10\r\n`, 'InvalidRequest'],
    ['space before CRLF', `10 \r\n`, 'InvalidRequest'],
    ['bare LF header', `10\n0123456789abcdef\r\n0\r\n\r\n`, 'InvalidRequest'],
    ['empty header line', `\r\n`, 'InvalidRequest'],
    ['unexpected chunk signature', `10;chunk-signature=${'a'.repeat(64)}\r\n`, 'InvalidRequest'],
    ['chunk extension', `10;foo=bar\r\n`, 'InvalidRequest'],
    ['missing CRLF after data', `10\r\n0123456789abcdefX\r\n0\r\n\r\n`, 'InvalidRequest'],
    ['LF only after data', `10\r\n0123456789abcdef\n0\r\n\r\n`, 'InvalidRequest'],
    ['longer than decoded length', `11\r\n0123456789abcdefg\r\n0\r\n\r\n`, 'InvalidRequest'],
    ['shorter than decoded length', `f\r\n0123456789abcde\r\n0\r\n\r\n`, 'IncompleteBody'],
    ['missing terminator', `10\r\n0123456789abcdef\r\n`, 'IncompleteBody'],
    ['truncated in data', `10\r\n0123456789`, 'IncompleteBody'],
    ['truncated in header', `1`, 'IncompleteBody'],
    ['empty body', ``, 'IncompleteBody'],
    ['trailer garbage', `10\r\n0123456789abcdef\r\n0\r\ngarbage\r\n\r\n`, 'MalformedTrailerError'],
    ['missing declared trailer', `10\r\n0123456789abcdef\r\n0\r\n\r\n`, 'MalformedTrailerError'],
    [
      'undeclared trailer',
      `10\r\n0123456789abcdef\r\n0\r\nx-amz-checksum-sha1:2jmj7l5rSw0yVb/vlWAYkK/YBwk=\r\nx-amz-checksum-crc32:${crc}\r\n\r\n`,
      'InvalidRequest',
    ],
    [
      'duplicate trailer',
      `10\r\n0123456789abcdef\r\n0\r\nx-amz-checksum-crc32:${crc}\r\nx-amz-checksum-crc32:${crc}\r\n\r\n`,
      'MalformedTrailerError',
    ],
    [
      'malformed checksum value',
      `10\r\n0123456789abcdef\r\n0\r\nx-amz-checksum-crc32:nope\r\n\r\n`,
      'InvalidRequest',
    ],
    [
      'trailer signature on unsigned',
      `10\r\n0123456789abcdef\r\n0\r\nx-amz-checksum-crc32:${crc}\r\nx-amz-trailer-signature:${'a'.repeat(64)}\r\n\r\n`,
      'MalformedTrailerError',
    ],
    [
      'data after the end',
      `10\r\n0123456789abcdef\r\n0\r\nx-amz-checksum-crc32:${crc}\r\n\r\nX`,
      'InvalidRequest',
    ],
    [
      'bare LF in trailer',
      `10\r\n0123456789abcdef\r\n0\r\nx-amz-checksum-crc32:${crc}\n\r\n`,
      'MalformedTrailerError',
    ],
  ])('%s', (_name, body, code) => {
    for (const pieces of [[raw(body)], bytewise(raw(body))]) {
      const r = decodePieces(pieces, opts);
      expectS3Error(r, code);
      expectNoLastByte(r, payload);
    }
  });

  test('the good body decodes (the table above can fail)', () => {
    expect(decodePieces([good], opts).out.equals(payload)).toBe(true);
  });

  test('oversized chunk header is rejected before the line ends', () => {
    const r = decodePieces([raw('1'.repeat(5000))], opts);
    expectS3Error(r, 'InvalidRequest');
    const long = decodePieces([raw(`10;${'x'.repeat(4200)}\r\n`)], opts);
    expectS3Error(long, 'InvalidRequest');
  });

  test('oversized trailer section is rejected', () => {
    const lines = Array.from({ length: 100 }, () => `x-amz-checksum-crc32:${'A'.repeat(200)}`);
    const body = raw(`10\r\n0123456789abcdef\r\n0\r\n${lines.join('\r\n')}\r\n\r\n`);
    expectS3Error(decodePieces([body], opts), 'MalformedTrailerError');
  });

  test('trailers in a non-trailer variant are rejected', () => {
    const r = decodePieces([good], { decodedLength: 16, signedChunks: false, trailer: false });
    expectS3Error(r, 'InvalidRequest');
  });

  test('bad options throw S3 errors synchronously', () => {
    expect(() => createAwsChunkedDecoder({ ...opts, decodedLength: -1 })).toThrow(S3Error);
    expect(() => createAwsChunkedDecoder({ ...opts, trailerNames: ['x-amz-meta-a'] })).toThrow(S3Error);
    expect(() => createAwsChunkedDecoder({ ...opts, headerChecksums: { CRC32: 'not base64!' } })).toThrow(
      S3Error,
    );
  });

  test('the parser stays failed after an error', () => {
    const r = decodePieces([raw('zz\r\n'), good], opts);
    expectS3Error(r, 'InvalidRequest');
    expect(r.out.length).toBe(0);
  });
});

describe('Transform behaviour', () => {
  test('errors destroy the stream with the S3Error; the sink never gets the last byte', async () => {
    const payload = randomBytes(5000);
    const body = encodeAwsChunked(payload, {
      chunkSizes: [1000, 1000],
      rawTrailerLines: [`x-amz-checksum-crc32:${computeChecksum('CRC32', Buffer.from('x'))}`],
    });
    const r = await decodeStream(
      bytewise(body).slice(0, body.length),
      unsignedTrailer(payload, ['x-amz-checksum-crc32']),
    );
    expectS3Error(r, 'BadDigest');
    expectNoLastByte(r, payload);
  });

  test('respects backpressure through a slow sink and delivers every byte', async () => {
    const payload = randomBytes(1 << 20);
    const body = encodeAwsChunked(payload, { chunkSizes: Array(100).fill(7919), trailers: ['SHA256'] });
    const source = new PassThrough({ highWaterMark: 1024 });
    const decoder = createAwsChunkedDecoder(unsignedTrailer(payload, ['x-amz-checksum-sha256']));
    const received: Buffer[] = [];
    let maxBuffered = 0;
    const sink = new Writable({
      highWaterMark: 4096,
      write(chunk: Buffer, _enc, cb) {
        received.push(chunk);
        maxBuffered = Math.max(maxBuffered, decoder.readableLength);
        setImmediate(cb);
      },
    });
    let checksumsEvent: unknown;
    decoder.on('checksums', (c: unknown) => (checksumsEvent = c));
    const feeding = (async () => {
      for (let i = 0; i < body.length; i += 3000) {
        if (!source.write(body.subarray(i, i + 3000))) {
          await new Promise((r) => source.once('drain', r));
        }
      }
      source.end();
    })();
    await Promise.all([pipeline(source, decoder, sink), feeding]);
    expect(Buffer.concat(received).equals(payload)).toBe(true);
    expect(decoder.verifiedChecksums()).toEqual({ SHA256: computeChecksum('SHA256', payload) });
    expect(checksumsEvent).toEqual({ SHA256: computeChecksum('SHA256', payload) });
    // The decoder never piled up more than its buffer bound and a few input pieces' worth of output (the
    // default highWaterMark is 16 KiB up to Node 20, 64 KiB from Node 22), far from the 1 MiB payload.
    expect(maxBuffered).toBeLessThan(2 * getDefaultHighWaterMark(false) + 4 * 7919);
  });
});

test('the pure parser releases all but the latest slice, and counts received bytes', () => {
  const parser = new AwsChunkedParser({ decodedLength: 16, signedChunks: false, trailer: true });
  expect(parser.feed(Buffer.from('10\r\n01234'))).toEqual([]);
  expect(parser.receivedBytes).toBe(5);
  expect(Buffer.concat(parser.feed(Buffer.from('56789abcdef\r\n0\r\n\r\n'))).toString()).toBe('01234');
  expect(parser.complete).toBe(true);
  expect(parser.verifiedChecksums()).toEqual({});
  expect(Buffer.concat(parser.finish()).toString()).toBe('56789abcdef');
});
