import { Readable } from 'node:stream';

import { mirrorBucketNamer } from '../../src/mirror/bucket-name';
import { mirrorKey, type CopierOptions, type CopyClients } from '../../src/mirror/copier';
import { createBucketBody, MirrorBucketTaken } from '../../src/mirror/mirror-bucket';
import type { SpooledBody } from '../../src/spool';
import { fakeCopyClients, FakeS3, fakeSdk, md5Hex } from './fake-s3';

/** UTF-8 bytes as Node and undici carry header values: one char per byte. */
const wire = (text: string): string => Buffer.from(text, 'utf8').toString('latin1');

const OBJECT_HEADERS = {
  'content-type': 'text/plain; charset=utf-8',
  'content-encoding': 'identity',
  'cache-control': 'max-age=60',
  'content-disposition': wire('attachment; filename="naïve Åsa à.txt"'),
  'content-language': 'fr',
  expires: 'Thu, 01 Jan 2037 00:00:00 GMT',
  'x-amz-meta-note': wire('crème brûlée, Å à'),
  'x-amz-meta-empty': '',
};

function world(opts: { mirrorBucket?: boolean } = {}) {
  const main = new FakeS3('b');
  const mirror = new FakeS3(...(opts.mirrorBucket === false ? [] : ['b']));
  return { main, mirror, ...fakeCopyClients(main, mirror) };
}

function spooledOf(body: string | Buffer, bytes: Buffer | string = body): SpooledBody {
  const md5 = md5Hex(body);
  return {
    etag: `"${md5}"`,
    md5,
    size: Buffer.byteLength(body),
    open: () => Readable.from([Buffer.from(bytes)]),
  };
}

/** A small upload the spool holds in memory: the copier sends its bytes as they are, never a stream. */
function inMemory(body: string, bytes: string = body): SpooledBody {
  return {
    ...spooledOf(body, bytes),
    bytes: Buffer.from(bytes),
    open: () => {
      throw new Error('a body held in memory is sent as it is, not streamed');
    },
  };
}

const options = (extra: Partial<CopierOptions> = {}): CopierOptions => ({
  partSizeBytes: 5 * 1024 * 1024,
  queueSize: 1,
  ...extra,
});

describe('a spooled PutObject (the hot path)', () => {
  test('is a HEAD on main and one PUT to the mirror, with main headers, metadata bytes and Content-MD5', async () => {
    const w = world();
    w.main.put('b', 'k', 'hello', OBJECT_HEADERS);
    const result = await mirrorKey(w.clients, 'b', 'k', options(), spooledOf('hello'));

    expect(w.main.requests.map((r) => r.method)).toEqual(['HEAD']);
    expect(w.mirror.requests.map((r) => r.method)).toEqual(['PUT']);
    expect(w.mirror.object('b', 'k')).toEqual({ body: Buffer.from('hello'), headers: OBJECT_HEADERS });
    expect(w.mirror.requests[0]!.headers).toMatchObject({
      'content-length': '5',
      'content-md5': Buffer.from(md5Hex('hello'), 'hex').toString('base64'),
    });
    expect(result).toEqual({
      exists: true,
      size: 5,
      etag: `"${md5Hex('hello')}"`,
      mirrorEtag: `"${md5Hex('hello')}"`,
      contentType: 'text/plain; charset=utf-8',
      lastModified: new Date('2026-12-02T10:00:00Z'),
      versionId: 'v1',
      source: 'spool',
      spool: 'used',
    });
    expect(w.mirrorSdk.sent).toEqual([]);
  });

  test('carries the tag set: GetObjectTagging on main only when HEAD reports tags', async () => {
    const w = world();
    const tags = [
      { Key: 'team', Value: 'a&b=c' },
      { Key: 'é', Value: '' },
    ];
    w.main.put('b', 'k', 'hello', {}, tags);
    await mirrorKey(w.clients, 'b', 'k', options(), spooledOf('hello'));
    expect(w.main.count('GET', 'tagging')).toBe(1);
    expect(w.mirror.object('b', 'k')?.tags).toEqual(tags);

    w.main.put('b', 'untagged', 'hello');
    await mirrorKey(w.clients, 'b', 'untagged', options(), spooledOf('hello'));
    expect(w.main.count('GET', 'tagging')).toBe(1);
  });

  test('a backend without tagging (NotImplemented) gives none; another tagging error fails the copy', async () => {
    const w = world();
    w.main.put('b', 'k', 'hello', {}, [{ Key: 't', Value: 'v' }]);
    let code = 'NotImplemented';
    w.main.intercept = (r) =>
      r.query?.[0]?.[0] === 'tagging'
        ? {
            statusCode: code === 'NotImplemented' ? 501 : 403,
            headers: {},
            body: Readable.from([Buffer.from(`<Error><Code>${code}</Code><Message>m</Message></Error>`)]),
          }
        : undefined;
    await mirrorKey(w.clients, 'b', 'k', options(), spooledOf('hello'));
    expect(w.mirror.object('b', 'k')?.tags).toBeUndefined();
    code = 'AccessDenied';
    await expect(mirrorKey(w.clients, 'b', 'k', options(), spooledOf('hello'))).rejects.toMatchObject({
      name: 'AccessDenied',
    });
  });

  test('main holding another write: read from main, spool "changed"', async () => {
    const w = world();
    w.main.put('b', 'k', 'newer', OBJECT_HEADERS);
    const result = await mirrorKey(w.clients, 'b', 'k', options(), spooledOf('hello'));
    expect(result).toMatchObject({ exists: true, source: 'main', spool: 'changed', size: 5 });
    expect(w.main.requests.map((r) => r.method)).toEqual(['HEAD', 'GET']);
    expect(w.mirror.object('b', 'k')).toEqual({ body: Buffer.from('newer'), headers: OBJECT_HEADERS });
    // Bytes from main carry no Content-MD5: an ETag need not be the MD5 of what GET returns.
    expect(w.mirror.requests[0]!.headers?.['content-md5']).toBeUndefined();
  });

  test('main answering 404: deleted on the mirror, spool "changed"', async () => {
    const w = world();
    w.mirror.put('b', 'k', 'old');
    const result = await mirrorKey(w.clients, 'b', 'k', options(), spooledOf('hello'));
    expect(result).toEqual({ exists: false, spool: 'changed' });
    expect(w.mirror.requests.map((r) => r.method)).toEqual(['DELETE']);
    expect(w.mirror.object('b', 'k')).toBeUndefined();
  });

  test('a damaged spool file never becomes the mirror copy: the mirror refuses it, main is read', async () => {
    const w = world();
    w.main.put('b', 'k', 'hello');
    const result = await mirrorKey(w.clients, 'b', 'k', options(), spooledOf('hello', 'jello'));
    expect(result).toMatchObject({ exists: true, source: 'main', spool: 'corrupt' });
    expect(w.mirror.object('b', 'k')?.body.toString()).toBe('hello');
  });

  test('a mirror that ignores Content-MD5 and keeps a damaged file is told by its ETag: main is read over it', async () => {
    const w = world();
    w.mirror.checksContentMd5 = false;
    w.main.put('b', 'k', 'hello');
    const result = await mirrorKey(w.clients, 'b', 'k', options(), spooledOf('hello', 'jello'));
    expect(result).toMatchObject({ exists: true, source: 'main', spool: 'corrupt' });
    expect(w.mirror.object('b', 'k')?.body.toString()).toBe('hello');
  });

  test('a short spool file fails its PUT before the last byte; main is read', async () => {
    const w = world();
    w.main.put('b', 'k', 'hello');
    const stored: string[] = [];
    const mirrorPut = w.mirror.send.bind(w.mirror);
    w.mirror.send = async (r) => {
      const res = await mirrorPut(r);
      if (r.method === 'PUT') stored.push(w.mirror.object('b', 'k')!.body.toString());
      return res;
    };
    const result = await mirrorKey(w.clients, 'b', 'k', options(), spooledOf('hello', 'hell'));
    expect(result).toMatchObject({ source: 'main', spool: 'corrupt' });
    expect(stored).toEqual(['hello']);
  });
});

describe('a spooled body held in memory', () => {
  test('is the same HEAD and PUT as a file, sent as one buffer and counted once sent', async () => {
    const fromFile = world();
    const fromMemory = world();
    for (const w of [fromFile, fromMemory]) w.main.put('b', 'k', 'hello', OBJECT_HEADERS);
    const counted: number[] = [];
    const expected = await mirrorKey(fromFile.clients, 'b', 'k', options(), spooledOf('hello'));
    const result = await mirrorKey(
      fromMemory.clients,
      'b',
      'k',
      options({ onBytes: (n) => counted.push(n) }),
      inMemory('hello'),
    );
    expect(result).toEqual(expected);
    expect(result).toMatchObject({ source: 'spool', spool: 'used' });
    expect(fromMemory.mirror.requests).toEqual(fromFile.mirror.requests);
    expect(fromMemory.main.requests).toEqual(fromFile.main.requests);
    expect(fromMemory.mirror.object('b', 'k')).toEqual({
      body: Buffer.from('hello'),
      headers: OBJECT_HEADERS,
    });
    expect(counted).toEqual([5]);
  });

  test('bytes that do not match the ETag or the size never become the mirror copy: main is read', async () => {
    for (const bytes of ['jello', 'hell', 'hello!']) {
      const w = world();
      w.main.put('b', 'k', 'hello');
      const result = await mirrorKey(w.clients, 'b', 'k', options(), inMemory('hello', bytes));
      expect(result).toMatchObject({ exists: true, source: 'main', spool: 'corrupt' });
      expect(w.mirror.object('b', 'k')?.body.toString()).toBe('hello');
      // Checked before sending: the mirror saw one PUT, main's bytes.
      expect(w.mirror.requests.map((r) => r.method)).toEqual(['PUT']);
    }
  });
});

describe('a copy from main', () => {
  test('streams GetObject into one PutObject with the same headers, counting bytes', async () => {
    const w = world();
    const body = Buffer.alloc(3 * 1024 * 1024 + 5, 7);
    w.main.put('b', 'k', body, OBJECT_HEADERS);
    w.main.getBody = (o) => Readable.from([o.body.subarray(0, 1024 * 1024), o.body.subarray(1024 * 1024)]);
    let counted = 0;
    const result = await mirrorKey(w.clients, 'b', 'k', options({ onBytes: (n) => (counted += n) }));
    expect(result).toMatchObject({ exists: true, size: body.length, source: 'main' });
    expect(result).not.toHaveProperty('spool');
    // Not toEqual: jest compares a large Buffer byte by byte, slowly.
    expect(w.mirror.object('b', 'k')?.body.equals(body)).toBe(true);
    expect(w.mirror.object('b', 'k')?.headers).toEqual(OBJECT_HEADERS);
    expect(counted).toBe(body.length);
  });

  test('a paced copy (catching up while the app is busy) holds each chunk as long as the pacing says', async () => {
    const w = world();
    const body = Buffer.alloc(3 * 1024 * 1024, 9);
    w.main.put('b', 'k', body, OBJECT_HEADERS);
    const chunk = 1024 * 1024;
    w.main.getBody = (o) => Readable.from([0, 1, 2].map((i) => o.body.subarray(i * chunk, (i + 1) * chunk)));
    const asked: number[] = [];
    const paced: number[] = [];
    const started = performance.now();
    const result = await mirrorKey(
      w.clients,
      'b',
      'k',
      options({
        pacing: { waitMs: (streamed) => (asked.push(streamed), streamed > 0 ? 40 : 0) },
        onPaced: (ms) => paced.push(ms),
      }),
    );
    expect(result).toMatchObject({ exists: true, size: body.length, source: 'main' });
    expect(w.mirror.object('b', 'k')?.body.equals(body)).toBe(true);
    expect(asked).toEqual([0, chunk, 2 * chunk]);
    expect(paced).toEqual([40, 40]);
    // The chunks really waited (a lower bound only: how long the copy takes is not what is tested).
    expect(performance.now() - started).toBeGreaterThanOrEqual(75);
  });

  test('an empty object is copied without a body', async () => {
    const w = world();
    w.main.put('b', 'k', '');
    expect(await mirrorKey(w.clients, 'b', 'k')).toMatchObject({ exists: true, size: 0 });
    expect(w.mirror.object('b', 'k')?.body.length).toBe(0);
  });

  test('main answering 404 (key or bucket): deleted on the mirror; a mirror without the bucket is fine', async () => {
    const w = world({ mirrorBucket: false });
    expect(await mirrorKey(w.clients, 'b', 'gone')).toEqual({ exists: false });
    expect(w.mirror.requests.map((r) => r.method)).toEqual(['DELETE']);
    const other = world();
    other.mirror.put('nobucket', 'k', 'x');
    expect(await mirrorKey(other.clients, 'nobucket', 'k')).toEqual({ exists: false });
    expect(other.mirror.object('nobucket', 'k')).toBeUndefined();
  });

  test('keepMissing (the delete policy keeps the copy): main answering 404 leaves the mirror alone', async () => {
    const w = world();
    w.mirror.put('b', 'k', 'old');
    expect(await mirrorKey(w.clients, 'b', 'k', options({ keepMissing: true }))).toEqual({
      exists: false,
      kept: true,
    });
    const spooled = await mirrorKey(w.clients, 'b', 'k', options({ keepMissing: true }), spooledOf('hello'));
    expect(spooled).toEqual({ exists: false, kept: true, spool: 'changed' });
    expect(w.mirror.requests).toEqual([]);
    expect(w.mirror.object('b', 'k')?.body.toString()).toBe('old');
  });

  test('keepMissing does not stop a copy: main holding the key is copied as always', async () => {
    const w = world();
    w.main.put('b', 'k', 'new');
    expect(await mirrorKey(w.clients, 'b', 'k', options({ keepMissing: true }))).toMatchObject({
      exists: true,
    });
    expect(w.mirror.object('b', 'k')?.body.toString()).toBe('new');
  });

  test('a source that breaks off mid-stream aborts the PUT: the mirror never stores a short object', async () => {
    const w = world();
    w.mirror.put('b', 'k', 'previous');
    w.main.put('b', 'k', Buffer.alloc(64 * 1024, 1));
    w.main.getBody = () =>
      Readable.from(
        (async function* () {
          yield Buffer.alloc(1024, 1);
          await new Promise((r) => setTimeout(r, 5));
          throw new Error('main dropped the connection');
        })(),
      );
    await expect(mirrorKey(w.clients, 'b', 'k')).rejects.toThrow('main dropped the connection');
    expect(w.mirror.object('b', 'k')?.body.toString()).toBe('previous');
  });

  test('opts.signal aborts a running copy, and the mirror keeps what it had', async () => {
    const w = world();
    w.mirror.put('b', 'k', 'previous');
    w.main.put('b', 'k', 'hello');
    const stop = new AbortController();
    // Main's body never ends: only the abort can end the copy.
    w.main.getBody = () =>
      Readable.from(
        (async function* () {
          yield Buffer.from('he');
          await new Promise(() => undefined);
        })(),
      );
    w.mirror.onPutStarted = () => setTimeout(() => stop.abort(new Error('the proxy is stopping')), 5);
    await expect(mirrorKey(w.clients, 'b', 'k', options({ signal: stop.signal }))).rejects.toThrow(
      'the proxy is stopping',
    );
    expect(w.mirror.object('b', 'k')?.body.toString()).toBe('previous');
    // Already aborted: nothing is sent at all.
    const before = w.main.requests.length;
    await expect(mirrorKey(w.clients, 'b', 'k', options({ signal: stop.signal }))).rejects.toThrow();
    expect(w.main.requests.length).toBe(before);
  });

  test('errors are named by their S3 code, with the status alone for a HEAD', async () => {
    const w = world();
    w.main.put('b', 'k', 'hello');
    w.main.intercept = (r) =>
      r.method === 'HEAD' ? { statusCode: 403, headers: {}, body: Readable.from([]) } : undefined;
    await expect(mirrorKey(w.clients, 'b', 'k', options(), spooledOf('hello'))).rejects.toMatchObject({
      name: 'Forbidden',
      statusCode: 403,
    });
    w.main.intercept = undefined;
    w.mirror.intercept = () => ({
      statusCode: 503,
      headers: {},
      body: Readable.from([
        Buffer.from('<Error><Code>SlowDown</Code><Message>Reduce your rate</Message></Error>'),
      ]),
    });
    await expect(mirrorKey(w.clients, 'b', 'k')).rejects.toMatchObject({
      name: 'SlowDown',
      message: 'Reduce your rate',
    });
  });

  test('over 5 GiB: a multipart Upload through the SDK, with the same headers and tags', async () => {
    const w = world();
    w.main.put('b', 'big', 'tiny', OBJECT_HEADERS, [{ Key: 't', Value: 'v' }]);
    // Main claims 6 GiB; the body is what lib-storage reads (one part: it sends a PutObject).
    const mainSend = w.main.send.bind(w.main);
    w.main.send = async (r) => {
      const res = await mainSend(r);
      if (r.method === 'GET' && !r.query) res.headers['content-length'] = String(6 * 1024 ** 3);
      return res;
    };
    const puts: Record<string, unknown>[] = [];
    const mirrorSdk = fakeSdk({
      PutObjectCommand: (input) => (puts.push(input), { ETag: '"m"' }),
      PutObjectTaggingCommand: () => ({}),
    });
    const clients = { ...w.clients, mirror: { ...w.clients.mirror, sdk: mirrorSdk.client } };
    const result = await mirrorKey(clients, 'b', 'big');
    expect(result).toMatchObject({ exists: true, size: 6 * 1024 ** 3, mirrorEtag: '"m"' });
    expect(w.mirror.requests).toEqual([]);
    expect(puts[0]).toMatchObject({
      Bucket: 'b',
      Key: 'big',
      ContentType: OBJECT_HEADERS['content-type'],
      ContentDisposition: OBJECT_HEADERS['content-disposition'],
      Expires: new Date('2037-01-01T00:00:00Z'),
      Metadata: { note: OBJECT_HEADERS['x-amz-meta-note'], empty: '' },
    });
    expect(mirrorSdk.sent[1]).toMatchObject({
      name: 'PutObjectTaggingCommand',
      input: { Tagging: { TagSet: [{ Key: 't', Value: 'v' }] } },
    });
  });
});
/** The requests `s3` received on buckets themselves (CreateBucket, versioning, HeadBucket). */
const bucketCalls = (s3: FakeS3): string[] =>
  s3.requests
    .filter((r) => r.key === undefined)
    .map((r) => `${r.method} ${r.bucket}${r.query ? `?${r.query.map(([n]) => n).join('&')}` : ''}`);

const plainOk = () => ({ statusCode: 200, headers: {}, body: Readable.from([]) });

const s3Refusal = (statusCode: number, code: string, message: string) => ({
  statusCode,
  headers: {},
  body: Readable.from([Buffer.from(`<Error><Code>${code}</Code><Message>${message}</Message></Error>`)]),
});

describe('mirrorKey and a missing mirror bucket', () => {
  test('creates the bucket once (a signed PUT, no SDK) and copies again', async () => {
    const w = world({ mirrorBucket: false });
    w.main.put('b', 'k', 'hello');
    const result = await mirrorKey(w.clients, 'b', 'k');
    expect(result).toMatchObject({ exists: true, size: 5, source: 'main' });
    expect(w.mirror.requests.map((r) => `${r.method} ${r.key ?? '(bucket)'}`)).toEqual([
      'PUT k',
      'PUT (bucket)',
      'PUT k',
    ]);
    expect(bucketCalls(w.main)).toEqual(['GET b?versioning']);
    expect(w.mirrorSdk.sent).toEqual([]);
    expect(w.mirror.object('b', 'k')?.body.toString()).toBe('hello');
  });

  test.each([
    [
      'a bare 404 (its error document lost)',
      () => ({ statusCode: 404, headers: {}, body: Readable.from([]) }),
    ],
    [
      'a reset connection',
      () => {
        throw Object.assign(new Error('other side closed'), { code: 'UND_ERR_SOCKET' });
      },
    ],
  ])(
    'a PUT cut short by the missing bucket (%s): HeadBucket tells, the bucket is created',
    async (_, cut) => {
      const w = world({ mirrorBucket: false });
      w.main.put('b', 'k', 'hello');
      w.mirror.intercept = (r) =>
        r.method === 'PUT' && r.key && !w.mirror.buckets.has('b') ? cut() : undefined;
      expect(await mirrorKey(w.clients, 'b', 'k')).toMatchObject({ exists: true, source: 'main' });
      expect(w.mirror.requests.map((r) => `${r.method} ${r.key ?? '(bucket)'}`)).toEqual([
        'PUT k',
        'HEAD (bucket)',
        'PUT (bucket)',
        'PUT k',
      ]);
    },
  );

  test('a failed PUT to an existing bucket is not taken for a missing one', async () => {
    const w = world();
    w.main.put('b', 'k', 'hello');
    w.mirror.intercept = (r) => {
      if (r.method === 'PUT') throw Object.assign(new Error('other side closed'), { code: 'UND_ERR_SOCKET' });
      return undefined;
    };
    await expect(mirrorKey(w.clients, 'b', 'k')).rejects.toThrow('other side closed');
    expect(bucketCalls(w.mirror)).toEqual(['HEAD b']);
  });

  test("main's versioning status is copied onto the new bucket, with the body's Content-MD5", async () => {
    const w = world({ mirrorBucket: false });
    w.main.put('b', 'k', 'hello');
    w.main.versioning.set('b', 'Enabled');
    await mirrorKey(w.clients, 'b', 'k');
    expect(bucketCalls(w.mirror)).toEqual(['PUT b', 'PUT b?versioning']);
    expect(w.mirror.versioning.get('b')).toBe('Enabled');
    const put = w.mirror.requests.find((r) => r.query?.[0]?.[0] === 'versioning')!;
    expect(put.headers?.['content-md5']).toBe(
      Buffer.from(
        md5Hex(
          '<VersioningConfiguration xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Status>Enabled</Status></VersioningConfiguration>',
        ),
        'hex',
      ).toString('base64'),
    );
  });

  test('main that will not say its versioning (an error) leaves the new bucket unversioned', async () => {
    const w = world({ mirrorBucket: false });
    w.main.put('b', 'k', 'hello');
    w.main.intercept = (r) =>
      r.query?.[0]?.[0] === 'versioning' ? s3Refusal(403, 'AccessDenied', 'Access Denied') : undefined;
    expect(await mirrorKey(w.clients, 'b', 'k')).toMatchObject({ exists: true });
    expect(bucketCalls(w.mirror)).toEqual(['PUT b']);
  });

  test('main failing to say its versioning (a 503) fails the copy before CreateBucket: the retry sets the bucket up whole', async () => {
    const w = world({ mirrorBucket: false });
    w.main.put('b', 'k', 'hello');
    w.main.versioning.set('b', 'Enabled');
    let busy = true;
    w.main.intercept = (r) =>
      busy && r.query?.[0]?.[0] === 'versioning'
        ? s3Refusal(503, 'SlowDown', 'Please reduce your request rate.')
        : undefined;
    await expect(mirrorKey(w.clients, 'b', 'k')).rejects.toMatchObject({ name: 'SlowDown' });
    expect(bucketCalls(w.mirror)).toEqual([]);
    busy = false;
    expect(await mirrorKey(w.clients, 'b', 'k')).toMatchObject({ exists: true });
    expect(w.mirror.versioning.get('b')).toBe('Enabled');
  });

  test('PutBucketVersioning is tried again; failing three times it names what is left to do by hand', async () => {
    const w = world({ mirrorBucket: false });
    w.main.put('b', 'k', 'hello');
    w.main.versioning.set('b', 'Enabled');
    let failures = 1;
    w.mirror.intercept = (r) =>
      r.query?.[0]?.[0] === 'versioning' && failures-- > 0
        ? s3Refusal(500, 'InternalError', 'oops')
        : undefined;
    expect(await mirrorKey(w.clients, 'b', 'k')).toMatchObject({ exists: true });
    expect(bucketCalls(w.mirror)).toEqual(['PUT b', 'PUT b?versioning', 'PUT b?versioning']);
    expect(w.mirror.versioning.get('b')).toBe('Enabled');

    const v = world({ mirrorBucket: false });
    v.main.put('b', 'k', 'hello');
    v.main.versioning.set('b', 'Suspended');
    v.mirror.intercept = (r) =>
      r.query?.[0]?.[0] === 'versioning' ? s3Refusal(500, 'InternalError', 'oops') : undefined;
    await expect(mirrorKey(v.clients, 'b', 'k')).rejects.toThrow(
      /mirror bucket b was created, but setting its versioning to Suspended .* failed 3 times: set it on the mirror by hand \(oops\)/,
    );
  });

  test('a mirror still answering NoSuchBucket after CreateBucket fails with a clear error, after one retry', async () => {
    const w = world({ mirrorBucket: false });
    w.main.put('b', 'k', 'hello');
    // The gateway says it made the bucket, yet does not hold it.
    w.mirror.intercept = (r) => (r.key === undefined && r.method === 'PUT' ? plainOk() : undefined);
    await expect(mirrorKey(w.clients, 'b', 'k')).rejects.toThrow(/mirror bucket b.*still.*NoSuchBucket/);
    expect(bucketCalls(w.mirror)).toEqual(['PUT b']);
    expect(w.mirror.count('PUT')).toBe(3);
  });

  test('the same bound holds when the bytes come from the upload spool', async () => {
    const w = world({ mirrorBucket: false });
    w.main.put('b', 'k', 'hello');
    w.mirror.intercept = (r) => (r.key === undefined && r.method === 'PUT' ? plainOk() : undefined);
    await expect(mirrorKey(w.clients, 'b', 'k', options(), spooledOf('hello'))).rejects.toThrow(
      /NoSuchBucket/,
    );
    expect(bucketCalls(w.mirror)).toEqual(['PUT b']);
    expect(w.mirror.count('PUT')).toBe(3);
  });

  test('CreateBucket racing another sidecar (BucketAlreadyOwnedByYou) still copies', async () => {
    const w = world({ mirrorBucket: false });
    w.main.put('b', 'k', 'hello');
    w.mirror.intercept = (r) => {
      if (r.key !== undefined || r.method !== 'PUT') return undefined;
      w.mirror.buckets.add('b');
      return s3Refusal(
        409,
        'BucketAlreadyOwnedByYou',
        'Your previous request to create the named bucket succeeded',
      );
    };
    expect(await mirrorKey(w.clients, 'b', 'k')).toMatchObject({ exists: true });
    expect(w.mirror.object('b', 'k')?.body.toString()).toBe('hello');
  });
});

describe('a mirror bucket named by MIRROR_BUCKET_TEMPLATE', () => {
  /** Main holds b; the mirror holds b-bk, or nothing (created on demand), and never b. */
  function named(opts: { mirrorBucket?: boolean; region?: string; versioning?: string } = {}) {
    const w = world({ mirrorBucket: false });
    if (opts.mirrorBucket !== false) w.mirror.buckets.add('b-bk');
    if (opts.versioning) w.main.versioning.set('b', opts.versioning);
    const mirrorSdk = fakeSdk({ PutObjectCommand: () => ({ ETag: '"m"' }) });
    const clients: CopyClients = {
      main: { http: w.main },
      mirror: { http: w.mirror, sdk: mirrorSdk.client },
      mirrorBucket: mirrorBucketNamer('{bucket}-bk'),
      mirrorRegion: opts.region ?? 'us-east-1',
    };
    return { ...w, mirrorSdk, clients };
  }

  test('PUT (spooled and from main), tag reads and DELETE address b-bk on the mirror, b on main', async () => {
    const w = named();
    w.main.put('b', 'k', 'hello', OBJECT_HEADERS, [{ Key: 't', Value: 'v' }]);
    await mirrorKey(w.clients, 'b', 'k', options(), spooledOf('hello'));
    w.main.put('b', 'k2', 'hi');
    await mirrorKey(w.clients, 'b', 'k2');
    expect(w.mirror.object('b-bk', 'k')?.body).toEqual(Buffer.from('hello'));
    expect(w.mirror.object('b-bk', 'k2')?.body).toEqual(Buffer.from('hi'));
    w.main.objects.clear();
    expect(await mirrorKey(w.clients, 'b', 'k')).toEqual({ exists: false });
    expect(await mirrorKey(w.clients, 'b', 'k2', options(), spooledOf('hi'))).toMatchObject({
      exists: false,
    });
    expect(w.mirror.object('b-bk', 'k')).toBeUndefined();
    expect(w.mirror.object('b-bk', 'k2')).toBeUndefined();
    expect(new Set(w.main.requests.map((r) => r.bucket))).toEqual(new Set(['b']));
    expect(new Set(w.mirror.requests.map((r) => r.bucket))).toEqual(new Set(['b-bk']));
    expect(w.mirror.requests.map((r) => r.method)).toEqual(['PUT', 'PUT', 'DELETE', 'DELETE']);
  });

  test('over 5 GiB: the multipart Upload goes to b-bk', async () => {
    const w = named();
    w.main.put('b', 'big', 'tiny');
    const mainSend = w.main.send.bind(w.main);
    w.main.send = async (r) => {
      const res = await mainSend(r);
      if (r.method === 'GET') res.headers['content-length'] = String(6 * 1024 ** 3);
      return res;
    };
    expect(await mirrorKey(w.clients, 'b', 'big')).toMatchObject({ exists: true, mirrorEtag: '"m"' });
    expect(w.mirrorSdk.sent).toEqual([
      { name: 'PutObjectCommand', input: expect.objectContaining({ Bucket: 'b-bk', Key: 'big' }) },
    ]);
  });

  test("a missing b-bk is created in the mirror's region with main b's versioning, then copied", async () => {
    const w = named({ mirrorBucket: false, region: 'eu-west-1', versioning: 'Suspended' });
    w.main.put('b', 'k', 'hello');
    expect(await mirrorKey(w.clients, 'b', 'k')).toMatchObject({ exists: true });
    expect(bucketCalls(w.mirror)).toEqual(['PUT b-bk', 'PUT b-bk?versioning']);
    expect(w.mirror.createdIn.get('b-bk')).toBe('eu-west-1');
    expect(w.mirror.versioning.get('b-bk')).toBe('Suspended');
    expect(bucketCalls(w.main)).toEqual(['GET b?versioning']);
    expect(w.mirror.object('b-bk', 'k')?.body).toEqual(Buffer.from('hello'));
    expect(w.mirror.buckets.has('b')).toBe(false);
    expect(w.mirrorSdk.sent).toEqual([]);
  });

  test('in us-east-1 CreateBucket has no body (AWS refuses the LocationConstraint spelled out)', () => {
    expect(createBucketBody('us-east-1')).toBeUndefined();
    expect(createBucketBody('eu-central-1')).toBe(
      '<CreateBucketConfiguration xmlns="http://s3.amazonaws.com/doc/2006-03-01/">' +
        '<LocationConstraint>eu-central-1</LocationConstraint></CreateBucketConfiguration>',
    );
  });

  test('a gateway refusing the LocationConstraint (RGW: only its zonegroup) is asked again without one', async () => {
    const w = named({ mirrorBucket: false, region: 'eu-west-1' });
    w.main.put('b', 'k', 'hello');
    w.mirror.intercept = (r) =>
      r.key === undefined && r.method === 'PUT' && r.headers?.['content-length'] !== '0'
        ? s3Refusal(400, 'InvalidLocationConstraint', 'The specified location-constraint is not valid')
        : undefined;
    expect(await mirrorKey(w.clients, 'b', 'k')).toMatchObject({ exists: true });
    expect(bucketCalls(w.mirror)).toEqual(['PUT b-bk', 'PUT b-bk']);
    expect(w.mirror.createdIn.get('b-bk')).toBe('');
    expect(w.mirror.object('b-bk', 'k')?.body).toEqual(Buffer.from('hello'));
  });

  test("BucketAlreadyExists (another account's bucket) fails the copy, naming the bucket; nothing is written", async () => {
    const w = named({ mirrorBucket: false });
    w.main.put('b', 'k', 'hello');
    w.mirror.intercept = (r) =>
      r.key === undefined && r.method === 'PUT'
        ? s3Refusal(409, 'BucketAlreadyExists', 'The requested bucket name is not available')
        : undefined;
    const failure = mirrorKey(w.clients, 'b', 'k');
    await expect(failure).rejects.toBeInstanceOf(MirrorBucketTaken);
    await expect(failure).rejects.toThrow(/mirror bucket b-bk .*another account.*MIRROR_BUCKET_TEMPLATE/);
    expect(bucketCalls(w.mirror)).toEqual(['PUT b-bk']);
    expect(w.mirror.count('PUT')).toBe(2);
  });
});
