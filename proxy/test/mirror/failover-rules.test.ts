import type { KeyRow } from '../../src/inventory/repository';
import {
  failoverAnswerHeaders,
  mainFailed,
  mayFailOver,
  mirrorAnswerMatches,
  mirrorRequestHeaders,
  rowRefusal,
  SERVED_FROM_HEADER,
} from '../../src/mirror/failover-rules';
import type { RequestTarget } from '../../src/s3/request-target';

const target = (query: [string, string | null][] = []): RequestTarget => ({
  bucket: 'b',
  key: 'k',
  query,
  addressing: 'path',
});

const row = (over: Partial<KeyRow> = {}): KeyRow => ({
  size: '10',
  etag: '"main"',
  mirror_etag: '"main"',
  version_id: null,
  last_modified: new Date('2026-01-02T03:04:05Z'),
  deleted: false,
  is_backed_up: true,
  ...over,
});

describe('which reads fail over', () => {
  test('GetObject and HeadObject of the current version, response-* overrides allowed', () => {
    expect(mayFailOver({ name: 'GetObject' }, target(), {})).toBe(true);
    expect(mayFailOver({ name: 'HeadObject' }, target([['response-content-type', 'x']]), {})).toBe(true);
    expect(mayFailOver({ name: 'GetObject' }, target([['versionId', 'v1']]), {})).toBe(false);
    expect(mayFailOver({ name: 'GetObject' }, target([['partNumber', '1']]), {})).toBe(false);
    expect(mayFailOver({ name: 'ListObjectsV2' }, { ...target(), key: undefined }, {})).toBe(false);
    expect(mayFailOver({ name: 'PutObject' }, target(), {})).toBe(false);
    const ssec = { 'x-amz-server-side-encryption-customer-algorithm': 'AES256' };
    expect(mayFailOver({ name: 'GetObject' }, target(), ssec)).toBe(false);
  });

  test('main failed: no answer or a 5xx', () => {
    expect(mainFailed(undefined)).toBe(true);
    expect(mainFailed(503)).toBe(true);
    expect(mainFailed(404)).toBe(false);
    expect(mainFailed(200)).toBe(false);
  });

  test('only a row backed up and not deleted', () => {
    expect(rowRefusal(row())).toBeUndefined();
    expect(rowRefusal(undefined)).toBe('not_backed_up');
    expect(rowRefusal(row({ is_backed_up: false }))).toBe('not_backed_up');
    expect(rowRefusal(row({ deleted: true }))).toBe('not_backed_up');
  });
});

describe('the mirror request and its answer', () => {
  test('Range passes; ETag conditions only when the copy has main’s ETag; date conditions never', () => {
    expect(mirrorRequestHeaders({ range: 'bytes=0-1', 'if-none-match': '"main"' }, row())).toEqual({
      range: 'bytes=0-1',
      'if-none-match': '"main"',
    });
    expect(mirrorRequestHeaders({ 'if-match': '"main"' }, row({ mirror_etag: '"parts-2"' }))).toBeUndefined();
    expect(mirrorRequestHeaders({ range: 'bytes=0-1' }, row({ mirror_etag: '"parts-2"' }))).toEqual({
      range: 'bytes=0-1',
    });
    expect(mirrorRequestHeaders({ 'if-modified-since': 'x' }, row())).toBeUndefined();
  });

  test('the answer must be the recorded object', () => {
    expect(mirrorAnswerMatches(row(), 200, { etag: '"main"', 'content-length': '10' })).toBe(true);
    expect(mirrorAnswerMatches(row(), 200, { etag: '"other"', 'content-length': '10' })).toBe(false);
    expect(mirrorAnswerMatches(row(), 200, { etag: '"main"', 'content-length': '9' })).toBe(false);
    expect(mirrorAnswerMatches(row(), 206, { etag: '"main"', 'content-range': 'bytes 0-1/10' })).toBe(true);
    expect(mirrorAnswerMatches(row(), 206, { etag: '"main"', 'content-range': 'bytes 0-1/11' })).toBe(false);
    expect(mirrorAnswerMatches(row(), 304, { etag: '"main"' })).toBe(true);
    expect(mirrorAnswerMatches(row(), 404, { etag: '"main"' })).toBe(false);
    expect(mirrorAnswerMatches(row(), 412, {})).toBe(false);
    const parts = row({ mirror_etag: '"parts-2"' });
    expect(mirrorAnswerMatches(parts, 200, { etag: '"parts-2"', 'content-length': '10' })).toBe(true);
  });

  test('answered with main’s ETag, version and Last-Modified, and marked', () => {
    const headers = failoverAnswerHeaders(
      {
        etag: '"parts-2"',
        'x-amz-version-id': 'mirror-v',
        'last-modified': 'copy time',
        'content-length': '10',
      },
      row({ mirror_etag: '"parts-2"', version_id: 'main-v' }),
    );
    expect(headers).toEqual({
      etag: '"main"',
      'x-amz-version-id': 'main-v',
      'last-modified': 'Fri, 02 Jan 2026 03:04:05 GMT',
      'content-length': '10',
      [SERVED_FROM_HEADER]: 'mirror',
    });
    expect(failoverAnswerHeaders({ 'x-amz-version-id': 'mirror-v' }, row())).not.toHaveProperty(
      'x-amz-version-id',
    );
  });
});
