/**
 * Hostile aws-chunked input beyond property.test.ts (issue 7): the outcome must not depend on how the
 * bytes are split on the wire, the stream decoder must always settle, buffering stays bounded whatever
 * sizes a chunk header claims, and header planning never fails with anything but an S3Error.
 */
import fc from 'fast-check';
import { randomBytes } from 'node:crypto';
import { S3Error } from '../../src/s3/errors';
import { checksumAlgorithms, computeChecksum } from '../../src/chunked/checksums';
import { planAwsChunked } from '../../src/chunked/content-sha256';
import { AwsChunkedParser, type AwsChunkedOptions } from '../../src/chunked/parser';
import { encodeAwsChunked } from './encode';
import { bytewise, decodePieces, decodeStream, splitAt, type DecodeResult } from './helpers';

const sig = 'a'.repeat(64);

/** Random bodies: valid encodings with random damage, plus plain garbage near the framing alphabet. */
const framingByte = fc.constantFrom(
  ...'0123456789abcdefABCDEFxz;:=-\r\n '.split('').map((c) => c.charCodeAt(0)),
  0,
  0xff,
);
const hostileBody = fc.oneof(
  fc
    .record({
      payload: fc.uint8Array({ maxLength: 400 }),
      sizes: fc.array(fc.integer({ min: 1, max: 200 }), { maxLength: 5 }),
      alg: fc.constantFrom(...checksumAlgorithms),
      cut: fc.nat(),
      damage: fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { maxLength: 3 }),
      insert: fc.option(
        fc.tuple(fc.nat(), fc.constantFrom('\r\n', '0\r\n', 'zz', '\n', 'x-amz-checksum-crc32:AAAAAA==\r\n')),
      ),
    })
    .map(({ payload, sizes, alg, cut, damage, insert }) => {
      const p = Buffer.from(payload);
      let body = encodeAwsChunked(p, { chunkSizes: sizes, trailers: [alg] });
      for (const [at, value] of damage) if (body.length) body[at % body.length] = value;
      if (insert) {
        const at = insert[0] % (body.length + 1);
        body = Buffer.concat([body.subarray(0, at), Buffer.from(insert[1]), body.subarray(at)]);
      }
      if (cut % 4 === 0) body = body.subarray(0, cut % (body.length + 1));
      return {
        body,
        options: {
          decodedLength: p.length,
          signedChunks: false,
          trailer: true,
          trailerNames: [`x-amz-checksum-${alg.toLowerCase()}`],
        } as AwsChunkedOptions,
      };
    }),
  fc
    .tuple(fc.array(framingByte, { maxLength: 120 }), fc.nat({ max: 64 }), fc.boolean())
    .map(([bytes, decodedLength, signedChunks]) => ({
      body: Buffer.from(bytes),
      options: { decodedLength, signedChunks, trailer: true, trailerNames: ['x-amz-checksum-crc32'] },
    })),
);

const summary = (r: DecodeResult) =>
  r.error ? { error: r.error.code } : { out: r.out.toString('hex'), checksums: r.checksums };

test('the outcome never depends on where the input is split', () => {
  fc.assert(
    fc.property(hostileBody, fc.array(fc.nat(), { maxLength: 5 }), ({ body, options }, cuts) => {
      const whole = summary(decodePieces([body], options));
      expect(
        summary(
          decodePieces(
            splitAt(
              body,
              cuts.map((c) => c % (body.length + 1)),
            ),
            options,
          ),
        ),
      ).toEqual(whole);
      expect(summary(decodePieces(bytewise(body), options))).toEqual(whole);
    }),
    { numRuns: 1500 },
  );
});

test('split in two at every offset: a damaged body gives the same error wherever it is cut', () => {
  // No framing-like bytes in the payload, so each replacement below hits the framing.
  const payload = Buffer.alloc(300, 'p');
  const good = encodeAwsChunked(payload, { chunkSizes: [100, 77], trailers: ['CRC32C'] });
  const options: AwsChunkedOptions = {
    decodedLength: payload.length,
    signedChunks: false,
    trailer: true,
    trailerNames: ['x-amz-checksum-crc32c'],
  };
  const damaged: [string, Buffer][] = [
    [
      'bad hex in second header',
      Buffer.from(good.toString('latin1').replace('\r\n4d\r\n', '\r\n4g\r\n'), 'latin1'),
    ],
    [
      'CR missing after data',
      Buffer.from(good.toString('latin1').replace('\r\n4d\r\n', '\n4d\r\n'), 'latin1'),
    ],
    ['payload byte flipped', Buffer.from(good).fill(0x41, 150, 151)],
    ['terminator dropped', Buffer.from(good.toString('latin1').replace('\r\n0\r\n', '\r\n'), 'latin1')],
  ];
  expect(decodePieces([good], options).out.equals(payload)).toBe(true);
  for (const [name, body] of damaged) {
    const whole = decodePieces([body], options);
    expect({ name, error: whole.error?.code }).toEqual({ name, error: expect.any(String) });
    for (let o = 0; o <= body.length; o++) {
      const r = decodePieces(splitAt(body, [o]), options);
      expect({ name, o, error: r.error?.code }).toEqual({ name, o, error: whole.error!.code });
      expect(r.out.length).toBeLessThan(payload.length);
    }
  }
});

test('the stream decoder always settles (end or S3Error) and agrees with the pure parser', async () => {
  await fc.assert(
    fc.asyncProperty(hostileBody, fc.array(fc.nat(), { maxLength: 4 }), async ({ body, options }, cuts) => {
      const pieces = splitAt(
        body,
        cuts.map((c) => c % (body.length + 1)),
      ).filter((p) => p.length > 0);
      const streamed = await decodeStream(pieces, options);
      if (streamed.error) expect(streamed.error).toBeInstanceOf(S3Error);
      expect(summary(streamed)).toEqual(summary(decodePieces([body], options)));
    }),
    { numRuns: 400 },
  );
});

describe('bounded buffering', () => {
  test('the parser holds back at most the newest input piece, whatever the chunk sizes', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 150_000 }),
        fc.array(fc.integer({ min: 1, max: 70_000 }), { maxLength: 6 }),
        fc.integer({ min: 7, max: 20_000 }),
        (length, sizes, pieceSize) => {
          const payload = randomBytes(length);
          const body = encodeAwsChunked(payload, { chunkSizes: sizes, trailers: ['CRC32'] });
          const parser = new AwsChunkedParser({
            decodedLength: length,
            signedChunks: false,
            trailer: true,
            trailerNames: ['x-amz-checksum-crc32'],
          });
          let released = 0;
          for (let i = 0; i < body.length; i += pieceSize) {
            const piece = body.subarray(i, i + pieceSize);
            for (const s of parser.feed(piece)) released += s.length;
            // Everything received but the newest data slice (part of one input piece) went out already.
            const held = parser.receivedBytes - released;
            if (held > pieceSize) throw new Error(`holding ${held} bytes with ${pieceSize}-byte pieces`);
          }
          for (const s of parser.finish()) released += s.length;
          expect(released).toBe(length);
        },
      ),
      { numRuns: 60 },
    );
  });

  test('a chunk header claiming more than the declared length is refused before any of its data', () => {
    for (const size of ['11', 'ffff', 'fffffffffffff', '1fffffffffffff']) {
      const parser = new AwsChunkedParser({ decodedLength: 16, signedChunks: false, trailer: true });
      expect(() => parser.feed(Buffer.from(`${size}\r\n`))).toThrow(
        expect.objectContaining({ code: 'InvalidRequest' }),
      );
    }
  });

  test('hex sizes: 16 digits with leading zeros are fine, 17 digits or beyond 2^53 are refused', () => {
    const payload = Buffer.from('0123456789abcdef');
    const opts: AwsChunkedOptions = { decodedLength: 16, signedChunks: false, trailer: false };
    const body = (size: string) => Buffer.from(`${size}\r\n${payload.toString()}\r\n0\r\n\r\n`);
    expect(decodePieces([body('0000000000000010')], opts).out.equals(payload)).toBe(true);
    expect(decodePieces([body('00000000000000010')], opts).error?.code).toBe('InvalidRequest');
    const huge = decodePieces([Buffer.from('ffffffffffffffff\r\n')], {
      ...opts,
      decodedLength: Number.MAX_SAFE_INTEGER,
    });
    expect(huge.error?.code).toBe('InvalidRequest');
    expect(huge.error?.message).toMatch(/too large/);
  });

  test('a header line that never ends is cut at the line limit, not buffered', () => {
    const parser = new AwsChunkedParser({
      decodedLength: 10,
      signedChunks: true,
      trailer: false,
      maxLineLength: 256,
    });
    const piece = Buffer.from('a'.repeat(100));
    expect(() => parser.feed(piece)).not.toThrow();
    expect(() => parser.feed(piece)).not.toThrow();
    expect(() => parser.feed(piece)).toThrow(expect.objectContaining({ code: 'InvalidRequest' }));
  });

  test('endless trailer lines are cut at the trailer limit', () => {
    const parser = new AwsChunkedParser({
      decodedLength: 0,
      signedChunks: false,
      trailer: true,
      trailerNames: ['x-amz-checksum-crc32'],
      maxTrailerBytes: 1000,
    });
    parser.feed(Buffer.from('0\r\n'));
    let error: unknown;
    try {
      for (let i = 0; i < 100; i++) parser.feed(Buffer.from('x-amz-checksum-crc32:AAAAAA==\r\n'));
    } catch (err) {
      error = err;
    }
    expect(error).toMatchObject({ code: 'MalformedTrailerError' });
  });
});

test.each([
  [63, 'InvalidRequest'],
  [64, undefined],
  [256, undefined],
  [257, 'InvalidRequest'],
])('chunk signature of %i hex digits → %s', (length, code) => {
  const payload = Buffer.from('hello');
  const s = 'b'.repeat(length);
  const body = Buffer.from(`5;chunk-signature=${s}\r\nhello\r\n0;chunk-signature=${sig}\r\n\r\n`);
  const r = decodePieces([body], { decodedLength: 5, signedChunks: true, trailer: false });
  expect(r.error?.code).toBe(code);
  if (!code) expect(r.out.equals(payload)).toBe(true);
});

test('trailer garbage in every shape is a MalformedTrailerError or InvalidRequest, never a success', () => {
  const payload = Buffer.from('payload!');
  const crc = computeChecksum('CRC32', payload);
  const lines = fc.oneof(
    fc.string({ unit: 'binary-ascii', maxLength: 40 }).filter((s) => !s.includes('\n')),
    fc.constantFrom(
      ':',
      ':value',
      'x-amz-checksum-crc32',
      `x-amz-checksum-crc32 :${crc}x`,
      `X-AMZ-CHECKSUM-CRC32:${crc}=`,
      `x-amz-checksum-crc32:${crc}\0`,
      'x-amz-trailer-signature:' + sig,
    ),
  );
  fc.assert(
    fc.property(fc.array(lines, { minLength: 1, maxLength: 4 }), (garbage) => {
      const text = `8\r\npayload!\r\n0\r\n${garbage.map((l) => l + '\r\n').join('')}\r\n`;
      const r = decodePieces([Buffer.from(text, 'latin1')], {
        decodedLength: 8,
        signedChunks: false,
        trailer: true,
        trailerNames: ['x-amz-checksum-crc32'],
      });
      // Success only when the garbage happens to be exactly the one valid trailer (modulo case and spaces).
      if (!r.error) {
        expect(garbage).toHaveLength(1);
        expect(garbage[0]!.split(':')[0]!.trim().toLowerCase()).toBe('x-amz-checksum-crc32');
        expect(garbage[0]!.split(':')[1]!.trim()).toBe(crc);
      } else {
        expect(r.error).toBeInstanceOf(S3Error);
        expect(['MalformedTrailerError', 'InvalidRequest', 'BadDigest']).toContain(r.error.code);
        expect(r.out.length).toBeLessThan(payload.length);
      }
    }),
    { numRuns: 1500 },
  );
});

test('planning from arbitrary headers yields a plan or an S3Error, and a plan is always decodable', () => {
  const value = fc.oneof(
    fc.string({ unit: 'binary', maxLength: 30 }),
    fc.constantFrom(
      'STREAMING-UNSIGNED-PAYLOAD-TRAILER',
      'STREAMING-AWS4-HMAC-SHA256-PAYLOAD',
      'STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER',
      'STREAMING-BOGUS',
      'UNSIGNED-PAYLOAD',
      '0',
      '-1',
      '1e3',
      '0x10',
      ' 12 ',
      '99999999999999999',
      '9007199254740993',
      'x-amz-checksum-crc32',
      'x-amz-checksum-crc32,x-amz-checksum-crc32',
      'x-amz-checksum-md5',
      'aws-chunked',
      'gzip, aws-chunked',
      'AAAAAA==',
    ),
  );
  const headerNames = [
    'x-amz-content-sha256',
    'x-amz-decoded-content-length',
    'x-amz-trailer',
    'content-encoding',
    'x-amz-checksum-crc32',
    'x-amz-checksum-sha256',
  ];
  fc.assert(
    fc.property(
      fc.dictionary(fc.constantFrom(...headerNames), fc.oneof(value, fc.array(value, { maxLength: 2 }))),
      (headers) => {
        let plan;
        try {
          plan = planAwsChunked(headers);
        } catch (err) {
          if (!(err instanceof S3Error)) throw err;
          expect(err.statusCode).toBeGreaterThanOrEqual(400);
          expect(err.statusCode).toBeLessThan(500);
          return;
        }
        if (plan === null) return;
        expect(Number.isSafeInteger(plan.decodedLength)).toBe(true);
        // A plan either builds a decoder or is refused with an S3Error, never anything else.
        try {
          new AwsChunkedParser(plan);
        } catch (err) {
          if (!(err instanceof S3Error)) throw err;
        }
      },
    ),
    { numRuns: 3000 },
  );
});
