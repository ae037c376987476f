import { classifyOperation } from '../../src/s3/operation';
import { parseRequestTarget } from '../../src/s3/request-target';
import {
  DeletedEntryScanner,
  eventsFromBody,
  eventsFromHeaders,
  isTrackedSuccess,
  provisionalEvent,
} from '../../src/tracking/write-events';
import { isErrorDocument } from '../../src/s3/response-body';

const at = new Date(0);

function request(method: string, url: string, copySource = false) {
  const target = parseRequestTarget({ rawUrl: url, host: '127.0.0.1:8080', virtualHostBases: ['localhost'] });
  return { target, op: classifyOperation(method, target, copySource) };
}

const DELETE_RESULT = `<?xml version="1.0" encoding="UTF-8"?>
<DeleteResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/">
  <Error><Key>locked</Key><Code>AccessDenied</Code><Message>Access Denied</Message></Error>
  <Deleted><Key>a&amp;b</Key></Deleted>
  <Deleted><Key>v</Key><VersionId>v-1</VersionId><DeleteMarker>true</DeleteMarker></Deleted>
</DeleteResult>`;

describe('which responses are tracked', () => {
  test.each([
    ['PUT', '/bkt/k', false, 200, true],
    ['PUT', '/bkt/k', false, 403, false],
    ['PUT', '/bkt/k', false, 500, false],
    ['DELETE', '/bkt/k', false, 204, true],
    ['GET', '/bkt/k', false, 200, false],
    ['PUT', '/bkt/k?partNumber=1&uploadId=u', false, 200, false],
    ['POST', '/bkt?delete', false, 200, true],
  ])('%s %s -> %s: %s', (method, url, copy, status, tracked) => {
    const { op } = request(method, url, copy);
    expect(isTrackedSuccess(op, status)).toBe(tracked);
  });
});

describe('events from response headers', () => {
  test('PutObject carries ETag, version, size, content type and checksums', () => {
    const { op, target } = request('PUT', '/bucket/dir/file.txt');
    const events = eventsFromHeaders(
      op,
      target,
      { etag: '"e"', 'x-amz-version-id': 'v9' },
      { contentLength: 5, contentType: 'text/plain', checksums: { CRC32: 'x' } },
      at,
    );
    expect(events).toEqual([
      {
        bucket: 'bucket',
        key: 'dir/file.txt',
        kind: 'put',
        operation: 'PutObject',
        acknowledgedAt: at,
        versionId: 'v9',
        etag: '"e"',
        size: 5,
        contentType: 'text/plain',
        checksums: { CRC32: 'x' },
      },
    ]);
  });

  test('DeleteObject is a delete with the delete marker version; tagging is a put', () => {
    const del = request('DELETE', '/bucket/k');
    expect(eventsFromHeaders(del.op, del.target, { 'x-amz-version-id': 'dm' }, {}, at)).toEqual([
      {
        bucket: 'bucket',
        key: 'k',
        kind: 'delete',
        operation: 'DeleteObject',
        acknowledgedAt: at,
        versionId: 'dm',
      },
    ]);
    const tag = request('PUT', '/bucket/k?tagging');
    expect(eventsFromHeaders(tag.op, tag.target, {}, {}, at)).toEqual([
      { bucket: 'bucket', key: 'k', kind: 'put', operation: 'PutObjectTagging', acknowledgedAt: at },
    ]);
  });
});

describe('events from response bodies', () => {
  test('CopyObject: the destination, with the result ETag', () => {
    const { op, target } = request('PUT', '/bucket/dest', true);
    const body =
      '<CopyObjectResult><LastModified>x</LastModified><ETag>&quot;abc&quot;</ETag></CopyObjectResult>';
    expect(eventsFromBody(op, target, { 'x-amz-version-id': 'v2' }, body, at)).toEqual([
      {
        bucket: 'bucket',
        key: 'dest',
        kind: 'put',
        operation: 'CopyObject',
        acknowledgedAt: at,
        versionId: 'v2',
        etag: '"abc"',
      },
    ]);
  });

  test('a 200 carrying an error document records nothing', () => {
    const { op, target } = request('POST', '/bucket/k?uploadId=u');
    const body = '<?xml version="1.0" encoding="UTF-8"?>\n\n   <Error><Code>InternalError</Code></Error>';
    expect(eventsFromBody(op, target, {}, body, at)).toEqual([]);
    // Whitespace keep-alive before the document does not hide it.
    expect(isErrorDocument(`${' '.repeat(5000)}<Error><Code>SlowDown</Code></Error>`)).toBe(true);
  });

  test('DeleteObjects: per-key errors do not hide the keys that were deleted', () => {
    const { op, target } = request('POST', '/bucket?delete');
    expect(isErrorDocument(DELETE_RESULT)).toBe(false);
    expect(eventsFromBody(op, target, {}, DELETE_RESULT, at)).toEqual([
      { bucket: 'bucket', key: 'a&b', kind: 'delete', operation: 'DeleteObjects', acknowledgedAt: at },
      {
        bucket: 'bucket',
        key: 'v',
        kind: 'delete',
        operation: 'DeleteObjects',
        acknowledgedAt: at,
        versionId: 'v-1',
      },
    ]);
  });

  test('a provisional event exists for copies and completions, not for multi-delete', () => {
    const copy = request('PUT', '/bucket/k', true);
    expect(provisionalEvent(copy.op, copy.target, {}, at)).toMatchObject({ key: 'k', kind: 'put' });
    const md = request('POST', '/bucket?delete');
    expect(provisionalEvent(md.op, md.target, {}, at)).toBeUndefined();
  });
});

describe('DeletedEntryScanner', () => {
  test('finds the same entries whatever the chunking, keeping only a bounded tail', () => {
    for (const size of [1, 2, 3, 7, 16, 64, DELETE_RESULT.length]) {
      const scanner = new DeletedEntryScanner();
      const found = [];
      for (let i = 0; i < DELETE_RESULT.length; i += size)
        found.push(...scanner.push(DELETE_RESULT.slice(i, i + size)));
      expect(found).toEqual([{ key: 'a&b' }, { key: 'v', versionId: 'v-1' }]);
    }
  });

  test('memory stays bounded over a long body without entries', () => {
    const scanner = new DeletedEntryScanner();
    for (let i = 0; i < 1000; i++) scanner.push(' '.repeat(1000));
    expect((scanner as unknown as { tail: string }).tail.length).toBeLessThanOrEqual(8);
  });
});
