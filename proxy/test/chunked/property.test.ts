import fc from 'fast-check';
import { S3Error } from '../../src/s3/errors';
import { checksumAlgorithms, type ChecksumAlgorithm } from '../../src/chunked/checksums';
import type { AwsChunkedOptions } from '../../src/chunked/parser';
import { ChunkSigner, encodeAwsChunked, type EncodeOptions } from './encode';
import { decodePieces, splitAt } from './helpers';

const seed = '0'.repeat(64);

interface Case {
  payload: Buffer;
  chunkSizes: number[];
  variant: 'unsigned-trailer' | 'signed' | 'signed-trailer';
  algs: ChecksumAlgorithm[];
  finalCrlf: boolean;
  cuts: number[];
}

const caseArb: fc.Arbitrary<Case> = fc.record({
  payload: fc.uint8Array({ maxLength: 3000 }).map((a) => Buffer.from(a)),
  chunkSizes: fc.array(fc.integer({ min: 1, max: 1500 }), { maxLength: 8 }),
  variant: fc.constantFrom('unsigned-trailer', 'signed', 'signed-trailer'),
  algs: fc.subarray([...checksumAlgorithms]),
  finalCrlf: fc.boolean(),
  cuts: fc.array(fc.nat(), { maxLength: 6 }),
});

function build(c: Case): { body: Buffer; options: AwsChunkedOptions } {
  const signed = c.variant !== 'unsigned-trailer';
  const trailer = c.variant !== 'signed';
  const enc: EncodeOptions = { chunkSizes: c.chunkSizes, finalCrlf: c.finalCrlf };
  if (signed)
    enc.signer = new ChunkSigner('secret', '20260101T000000Z', '20260101/us-east-1/s3/aws4_request', seed);
  if (trailer) enc.trailers = c.algs;
  return {
    body: encodeAwsChunked(c.payload, enc),
    options: {
      decodedLength: c.payload.length,
      signedChunks: signed,
      trailer,
      trailerNames: trailer ? c.algs.map((a) => `x-amz-checksum-${a.toLowerCase()}`) : [],
    },
  };
}

const pieces = (body: Buffer, cuts: number[]) =>
  splitAt(
    body,
    cuts.map((c) => c % (body.length + 1)),
  );

test('encode → decode roundtrip under random chunkings and input splits', () => {
  fc.assert(
    fc.property(caseArb, (c) => {
      const { body, options } = build(c);
      const r = decodePieces(pieces(body, c.cuts), options);
      expect(r.error).toBeUndefined();
      expect(r.out.equals(c.payload)).toBe(true);
      if (options.trailer) expect(Object.keys(r.checksums ?? {}).sort()).toEqual([...c.algs].sort());
    }),
    { numRuns: 300 },
  );
});

type Mutation =
  | { kind: 'flip'; at: number; bit: number }
  | { kind: 'delete'; at: number; len: number }
  | { kind: 'insert'; at: number; bytes: Uint8Array }
  | { kind: 'truncate'; at: number }
  | { kind: 'length'; delta: number };

const mutationArb: fc.Arbitrary<Mutation> = fc.oneof(
  fc.record({ kind: fc.constant('flip' as const), at: fc.nat(), bit: fc.integer({ min: 0, max: 7 }) }),
  fc.record({ kind: fc.constant('delete' as const), at: fc.nat(), len: fc.integer({ min: 1, max: 8 }) }),
  fc.record({
    kind: fc.constant('insert' as const),
    at: fc.nat(),
    bytes: fc.oneof(
      fc.uint8Array({ minLength: 1, maxLength: 8 }),
      fc.constantFrom(
        ...['\r\n', '\r', '\n', '0\r\n', ';', ':', 'x-amz-checksum-crc32:AAAAAA==\r\n'].map(
          (s) => new Uint8Array(Buffer.from(s)),
        ),
      ),
    ),
  }),
  fc.record({ kind: fc.constant('truncate' as const), at: fc.nat() }),
  fc.record({
    kind: fc.constant('length' as const),
    delta: fc.integer({ min: -3, max: 3 }).filter((d) => d !== 0),
  }),
);

function mutate(
  body: Buffer,
  m: Mutation,
  options: AwsChunkedOptions,
): { body: Buffer; options: AwsChunkedOptions } {
  const at = m.kind === 'length' ? 0 : m.at % (body.length + 1);
  switch (m.kind) {
    case 'flip': {
      if (body.length === 0) return { body, options };
      const b = Buffer.from(body);
      const i = at % body.length;
      b[i] = b[i]! ^ (1 << m.bit);
      return { body: b, options };
    }
    case 'delete':
      return { body: Buffer.concat([body.subarray(0, at), body.subarray(at + m.len)]), options };
    case 'insert':
      return {
        body: Buffer.concat([body.subarray(0, at), Buffer.from(m.bytes), body.subarray(at)]),
        options,
      };
    case 'truncate':
      return { body: body.subarray(0, at), options };
    case 'length':
      return { body, options: { ...options, decodedLength: Math.max(0, options.decodedLength + m.delta) } };
  }
}

test('random corruption ends in the exact payload or an S3Error, never more output', () => {
  fc.assert(
    fc.property(caseArb, mutationArb, (c, m) => {
      const built = build(c);
      const { body, options } = mutate(built.body, m, built.options);
      let r;
      try {
        r = decodePieces(pieces(body, c.cuts), options);
      } catch (err) {
        // decodePieces rethrows anything that is not an S3Error: that is a failure.
        throw new Error(`non-S3 error: ${String(err)}`, { cause: err });
      }
      if (r.error) {
        expect(r.error).toBeInstanceOf(S3Error);
        // Hold-back: a failed decode never released the full payload.
        expect(r.out.length).toBeLessThan(Math.max(options.decodedLength, 1));
        expect(r.out.length).toBeLessThanOrEqual(c.payload.length);
      } else {
        // Success is only possible with exactly decodedLength bytes, all checksums verified.
        expect(r.out.length).toBe(options.decodedLength);
        if (options.trailer && c.algs.length > 0) {
          expect(r.out.equals(c.payload)).toBe(true);
        }
      }
    }),
    { numRuns: 2000 },
  );
});

test('arbitrary bytes never hang, throw a non-S3 error or exceed the declared length', () => {
  fc.assert(
    fc.property(
      fc.uint8Array({ maxLength: 200 }),
      fc.nat({ max: 100 }),
      fc.boolean(),
      fc.array(fc.nat(), { maxLength: 4 }),
      (bytes, decodedLength, signed, cuts) => {
        const body = Buffer.from(bytes);
        const r = decodePieces(pieces(body, cuts), {
          decodedLength,
          signedChunks: signed,
          trailer: true,
          trailerNames: ['x-amz-checksum-crc32'],
        });
        if (r.error) expect(r.out.length).toBeLessThan(Math.max(decodedLength, 1));
        else expect(r.out.length).toBe(decodedLength);
      },
    ),
    { numRuns: 2000 },
  );
});
