/**
 * Hostile-input properties of the request-target parser (issue 7). Whatever an app or attacker puts on the
 * request line and in Host, parsing ends in a target or a clean 4xx S3Error, and every target the proxy
 * accepts maps to exactly one path on main: encoded once, with no dot segments, on main's origin.
 */
import fc from 'fast-check';
import { S3Error } from '../../src/s3/errors';
import {
  copySourceBucket,
  parseRequestTarget,
  upstreamPath,
  upstreamQuery,
  type RequestTarget,
} from '../../src/s3/request-target';

const MAIN = 'http://main.internal:7480';
const BASES = ['localhost', 's3.example.com'];

type Outcome = { target: RequestTarget } | { error: S3Error };

function parse(rawUrl: string, host: string | undefined): Outcome {
  try {
    return { target: parseRequestTarget({ rawUrl, host, virtualHostBases: BASES }) };
  } catch (err) {
    if (err instanceof S3Error) return { error: err };
    throw new Error(`non-S3 error for ${JSON.stringify({ rawUrl, host })}: ${String(err)}`, { cause: err });
  }
}

/** Pieces attackers combine: traversal in every encoding, separators, controls, absolute forms. */
const fragment = fc.oneof(
  { weight: 4, arbitrary: fc.string({ unit: 'binary', maxLength: 6 }) },
  {
    weight: 6,
    arbitrary: fc.constantFrom(
      '/',
      '//',
      '.',
      '..',
      '%2e',
      '%2E',
      '%2e%2e',
      '.%2e',
      '%2F',
      '%2f',
      '%2F..',
      '%5C',
      '\\',
      '?',
      '&',
      '=',
      '#',
      '%',
      '%zz',
      '%00',
      '\0',
      '\r\n',
      '%0d%0a',
      '+',
      ';',
      '@',
      ':',
      'http://',
      'https://evil.example',
      '//evil.example/',
      'x-amz-signature=1',
      'X-Amz-Credential=a%2Fb',
      'uploads',
      'bucket',
      'a'.repeat(300),
      '\u00e9',
      '\ud83d\ude00',
      '\ud800',
    ),
  },
);
const rawUrlArb = fc.oneof(
  fc.array(fragment, { maxLength: 12 }).map((parts) => '/' + parts.join('')),
  fc.array(fragment, { maxLength: 12 }).map((parts) => parts.join('')),
  fc
    .tuple(
      fc.constantFrom('http://', 'https://', 'HTTP://'),
      fc.string({ maxLength: 20 }),
      fc.array(fragment),
    )
    .map(([scheme, host, parts]) => `${scheme}${host}/${parts.join('')}`),
);
const hostArb = fc.option(
  fc.oneof(
    fc.string({ unit: 'binary', maxLength: 30 }),
    fc.constantFrom(
      'localhost',
      'localhost:8080',
      '127.0.0.1:8080',
      'bucket.localhost',
      'bucket.localhost:8080',
      'Bucket.S3.Example.Com',
      '.localhost',
      'a.b.localhost',
      '../x.localhost',
      'evil.example.com',
      'main.internal:7480',
      '[::1]:8080',
      '[::1',
      'my-bucket.s3.example.com:443',
    ),
  ),
  { nil: undefined },
);

const VALID_BUCKET = /^[a-z0-9][a-z0-9.\-_]{1,254}$/i;
const PRESIGN = /^x-amz-(algorithm|credential|date|expires|signedheaders|signature|security-token)$/i;

function assertSafeUpstream(target: RequestTarget): void {
  const path = upstreamPath(target);
  const wire = path + upstreamQuery(target.query);
  // Only unreserved characters, percent escapes and the structural / ? & = reach the wire.
  expect(wire).toMatch(/^\/[A-Za-z0-9\-._~%/?&=]*$/);
  // The path goes to main as undici's `path` option, never through URL parsing (which would resolve dot
  // segments): no scheme-relative trick moves the request off main, and the segments are the key's own.
  expect(new URL(wire, MAIN).origin).toBe(MAIN);
  expect(path.startsWith('//')).toBe(false);
  if (target.bucket === undefined) {
    expect(path).toBe('/');
    return;
  }
  const segments = path.split('/');
  expect(decodeURIComponent(segments[1]!)).toBe(target.bucket);
  if (target.key !== undefined) {
    expect(decodeURIComponent(segments.slice(2).join('/'))).toBe(target.key);
  } else {
    expect(segments).toHaveLength(2);
  }
}

test('any request line and Host: a target or a 4xx S3Error, and accepted targets are safe upstream', () => {
  let accepted = 0;
  let rejected = 0;
  fc.assert(
    fc.property(rawUrlArb, hostArb, (rawUrl, host) => {
      const outcome = parse(rawUrl, host);
      if ('error' in outcome) {
        rejected++;
        expect(outcome.error.statusCode).toBeGreaterThanOrEqual(400);
        expect(outcome.error.statusCode).toBeLessThan(500);
        return;
      }
      accepted++;
      const { target } = outcome;
      if (target.bucket !== undefined) expect(target.bucket).toMatch(VALID_BUCKET);
      if (target.key !== undefined) {
        expect(target.key).not.toBe('');
        expect(Buffer.byteLength(target.key)).toBeLessThanOrEqual(1024);
      }
      for (const [name] of target.query) expect(name).not.toMatch(PRESIGN);
      assertSafeUpstream(target);
    }),
    { numRuns: 5000 },
  );
  // The generator must exercise both sides, or the property above proves little.
  expect(accepted).toBeGreaterThan(500);
  expect(rejected).toBeGreaterThan(500);
});

const bucketArb = fc.stringMatching(/^[a-z0-9][a-z0-9.-]{2,20}[a-z0-9]$/);
const keyArb = fc
  .string({ unit: 'binary', minLength: 1, maxLength: 80 })
  .filter((k) => k.split('/').every((s) => s !== '.' && s !== '..'))
  // Lone surrogates cannot be percent-encoded as UTF-8; no SDK can send them.
  .filter((k) => !/[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/.test(k));

/** The ways clients encode a key: SDK-style (keep '/'), fully encoded, or encoding every byte. */
const encoders: Record<string, (key: string) => string> = {
  sdk: (k) => k.split('/').map(encodeURIComponent).join('/'),
  full: (k) => encodeURIComponent(k),
  everyByte: (k) =>
    [...Buffer.from(k, 'utf8')].map((b) => '%' + b.toString(16).padStart(2, '0').toUpperCase()).join(''),
};

test('keys survive every client encoding, path-style, virtual-hosted and absolute-form', () => {
  fc.assert(
    fc.property(bucketArb, keyArb, fc.constantFrom(...Object.keys(encoders)), (bucket, key, how) => {
      const encoded = encoders[how]!(key);
      const forms: [string, string | undefined][] = [
        [`/${bucket}/${encoded}`, '127.0.0.1:8080'],
        [`/${encoded}`, `${bucket}.localhost:8080`],
        [`http://evil.example:1/${bucket}/${encoded}`, 'evil.example:1'],
        [`/${bucket}/${encoded}?uploads`, undefined],
      ];
      const overLimit = Buffer.byteLength(key) > 1024;
      for (const [rawUrl, host] of forms) {
        const outcome = parse(rawUrl, host);
        if (overLimit) {
          expect('error' in outcome && outcome.error.code).toBe('InvalidArgument');
          continue;
        }
        if ('error' in outcome) throw outcome.error;
        expect(outcome.target.bucket).toBe(bucket);
        expect(outcome.target.key).toBe(key);
        assertSafeUpstream(outcome.target);
      }
    }),
    { numRuns: 2000 },
  );
});

test('dot segments are part of the key in every encoding and position, and go upstream as such', () => {
  const dot = fc.constantFrom('.', '%2e', '%2E');
  const dotSegment = fc.oneof(
    dot,
    fc.tuple(dot, dot).map(([a, b]) => a + b),
  );
  const segment = fc.stringMatching(/^[a-z0-9]{1,5}$/);
  fc.assert(
    fc.property(
      bucketArb,
      fc.array(segment, { maxLength: 3 }),
      dotSegment,
      fc.array(segment, { maxLength: 3 }),
      fc.boolean(),
      (bucket, before, dots, after, virtual) => {
        const raw = [...before, dots, ...after].join('/');
        const outcome = virtual
          ? parse(`/${raw}`, `${bucket}.localhost`)
          : parse(`/${bucket}/${raw}`, 'localhost:8080');
        if ('error' in outcome) throw outcome.error;
        const key = decodeURIComponent(raw);
        // S3 stores such keys as they are (x/../y is a key, not a path to resolve), as SDKs send them.
        expect(outcome.target).toMatchObject({ bucket, key });
        expect(upstreamPath(outcome.target)).toBe(`/${bucket}/${key}`);
      },
    ),
    { numRuns: 2000 },
  );
});

test('a bucket segment that is not a bucket name is refused, however it is encoded', () => {
  const bad = fc.oneof(
    fc.constantFrom('..', '.', '%2e%2e', 'a%2Fb', '%2F', '-a', '_x', 'a', 'x%00', 'a%20b', 'é', '%C3%A9'),
    fc.stringMatching(/^[a-z0-9]{256,300}$/),
  );
  fc.assert(
    fc.property(bad, fc.constantFrom('', '/key', '/a/b'), (bucket, rest) => {
      const outcome = parse(`/${bucket}${rest}`, 'localhost');
      expect('error' in outcome && outcome.error.code).toBe('InvalidBucketName');
    }),
  );
});

test('copySourceBucket names the source bucket in every documented form, and nothing for garbage', () => {
  fc.assert(
    fc.property(bucketArb, keyArb, fc.boolean(), fc.boolean(), (bucket, key, slash, version) => {
      const value = `${slash ? '/' : ''}${bucket}/${encodeURIComponent(key)}${version ? '?versionId=abc' : ''}`;
      expect(copySourceBucket(value)).toBe(bucket);
    }),
  );
  fc.assert(
    fc.property(fc.string({ unit: 'binary', maxLength: 40 }), (value) => {
      const bucket = copySourceBucket(value);
      // Whatever it returns is a valid bucket name that really is the first segment.
      if (bucket !== undefined) {
        expect(bucket).toMatch(VALID_BUCKET);
        expect(decodeURIComponent(value.trim().replace(/^\//, '').split('/')[0]!)).toBe(bucket);
      }
    }),
    { numRuns: 3000 },
  );
  for (const value of [
    'arn:aws:s3:us-east-1:1:accesspoint/ap/object/k',
    'bucket',
    '/',
    '',
    '%zz/k',
    '../x',
  ]) {
    expect(copySourceBucket(value)).toBeUndefined();
  }
});
