import { planScanPage, type ScannedObject, type ScannedRow } from '../../src/scan/plan';

const OLD = new Date('2026-01-01T00:00:00Z');
const CUTOFF = new Date('2026-06-01T00:00:00Z');
const FRESH = new Date('2026-06-01T00:00:05Z');

const obj = (etag: string, size = 1, lastModified = OLD): ScannedObject => ({ etag, size, lastModified });
const row = (over: Partial<ScannedRow> = {}): ScannedRow => ({
  path: 'k',
  size: '1',
  etag: '"a"',
  mirror_etag: '"a"',
  deleted: false,
  is_backed_up: true,
  parked: false,
  recent: false,
  ...over,
});

describe('planScanPage', () => {
  test('a bucket where main, mirror and inventory agree needs nothing', () => {
    const main = new Map([['k', obj('"a"')]]);
    const mirror = new Map([['k', { etag: '"a"', size: 1 }]]);
    expect(planScanPage(main, mirror, new Map([['k', row()]]), CUTOFF)).toEqual([]);
  });

  test('a write made to main behind the proxy: no row, not on the mirror → re-queued as a copy', () => {
    const main = new Map([['behind', obj('"b"', 7)]]);
    expect(planScanPage(main, new Map(), new Map(), CUTOFF)).toEqual([
      { key: 'behind', kind: 'copy', deleted: false, size: 7 },
    ]);
  });

  test('a row backed up but the mirror lost the object → copy; a mirror-only key → delete on the mirror', () => {
    const main = new Map([['k', obj('"a"')]]);
    const mirror = new Map([['gone', { etag: '"g"', size: 1 }]]);
    const rows = new Map([['k', row()]]);
    expect(planScanPage(main, mirror, rows, CUTOFF)).toEqual([
      { key: 'k', kind: 'copy', deleted: false, size: 1 },
      { key: 'gone', kind: 'delete-on-mirror', deleted: true, size: undefined },
    ]);
  });

  test('a row says present and backed up, main no longer has the key → re-queued as a delete', () => {
    expect(planScanPage(new Map(), new Map(), new Map([['k', row()]]), CUTOFF)).toEqual([
      { key: 'k', kind: 'mark-deleted', deleted: true, size: undefined },
    ]);
  });

  test('pending rows are already on their way, and fresh writes may still be in a proxy queue: left alone', () => {
    const main = new Map([
      ['pending', obj('"p"')],
      ['fresh', obj('"f"', 1, FRESH)],
      ['recent-row', obj('"r"')],
    ]);
    const rows = new Map([
      ['pending', row({ path: 'pending', etag: '"old"', is_backed_up: false })],
      ['recent-row', row({ path: 'recent-row', etag: '"old"', recent: true })],
    ]);
    expect(planScanPage(main, new Map(), rows, CUTOFF)).toEqual([]);
  });

  test('parked rows are re-queued, whether or not anything else differs', () => {
    const main = new Map([
      ['stuck', obj('"s"')],
      ['same', obj('"a"')],
    ]);
    const mirror = new Map([['same', { etag: '"a"', size: 1 }]]);
    const rows = new Map([
      ['stuck', row({ path: 'stuck', etag: '"s"', is_backed_up: false, parked: true })],
      ['same', row({ path: 'same', is_backed_up: false, parked: true })],
    ]);
    expect(planScanPage(main, mirror, rows, CUTOFF)).toEqual([
      { key: 'stuck', kind: 'parked', deleted: false, size: 1 },
      { key: 'same', kind: 'parked', deleted: false, size: 1 },
    ]);
  });
});

describe('planScanPage under the delete policy', () => {
  const mirror = new Map([
    ['kept', { etag: '"a"', size: 1 }],
    ['behind', { etag: '"a"', size: 1 }],
  ]);
  const rows = new Map([
    ['kept', row({ path: 'kept', deleted: true, deleted_for_seconds: 600 })],
    ['behind', row({ path: 'behind' })],
  ]);

  test('mirror: a key main deleted is re-queued as a delete on the mirror', () => {
    expect(planScanPage(new Map(), mirror, rows, CUTOFF).map((q) => `${q.kind} ${q.key}`)).toEqual([
      'delete-on-mirror kept',
      'delete-on-mirror behind',
    ]);
  });

  test('keep: a scan never deletes what keep kept; a delete behind the proxy is only marked', () => {
    const plan = planScanPage(new Map(), mirror, rows, CUTOFF, { kind: 'keep' });
    expect(plan).toEqual([{ key: 'behind', kind: 'mark-deleted', deleted: true, size: undefined }]);
  });

  test('delay: a delete not yet due is left; one past the delay is re-queued', () => {
    expect(planScanPage(new Map(), mirror, rows, CUTOFF, { kind: 'delay', seconds: 3600 })).toEqual([
      { key: 'behind', kind: 'mark-deleted', deleted: true, size: undefined },
    ]);
    expect(
      planScanPage(new Map(), mirror, rows, CUTOFF, { kind: 'delay', seconds: 60 }).map((q) => q.key),
    ).toEqual(['kept', 'behind']);
  });
});
