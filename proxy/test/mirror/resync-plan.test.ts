import { formatReport, parseArgs } from '../../src/cli/resync';
import { planResync, sameObject } from '../../src/mirror/resync';

const row = (over: Partial<Parameters<typeof sameObject>[2] & object> = {}) => ({
  path: 'k',
  size: '3',
  etag: '"abc"',
  mirror_etag: '"abc"',
  deleted: false,
  is_backed_up: true,
  ...over,
});

describe('sameObject', () => {
  test('single-part: equal size and ETag', () => {
    expect(sameObject({ size: 3, etag: '"abc"' }, { size: 3, etag: '"abc"' }, undefined)).toBe(true);
    expect(sameObject({ size: 3, etag: '"abc"' }, { size: 3, etag: '"abd"' }, undefined)).toBe(false);
    expect(sameObject({ size: 3, etag: '"abc"' }, { size: 4, etag: '"abc"' }, undefined)).toBe(false);
    expect(sameObject({ size: 3, etag: '"abc"' }, undefined, undefined)).toBe(false);
  });
  test('multipart: only when the row recorded this exact copied pair', () => {
    const main = { size: 10, etag: '"m-3"' };
    const mirror = { size: 10, etag: '"x-2"' };
    expect(sameObject(main, mirror, row({ etag: '"m-3"', mirror_etag: '"x-2"' }))).toBe(true);
    expect(sameObject(main, mirror, row({ etag: '"m-3"', mirror_etag: '"y-2"' }))).toBe(false);
    expect(sameObject(main, mirror, row({ etag: '"old-3"', mirror_etag: '"x-2"' }))).toBe(false);
    expect(sameObject(main, mirror, undefined)).toBe(false);
  });
});

describe('planResync', () => {
  test('one action per difference, none when equal', () => {
    const main = new Map([
      ['same', { size: 1, etag: '"a"' }],
      ['missing', { size: 1, etag: '"b"' }],
      ['norow', { size: 1, etag: '"c"' }],
    ]);
    const mirror = new Map([
      ['same', { size: 1, etag: '"a"' }],
      ['norow', { size: 1, etag: '"c"' }],
      ['extra', { size: 1, etag: '"d"' }],
    ]);
    const rows = new Map([
      ['same', row({ path: 'same', size: '1', etag: '"a"' })],
      ['ghost', row({ path: 'ghost' })],
      ['gone', row({ path: 'gone', deleted: true })],
    ]);
    expect(planResync(main, mirror, rows).map((a) => [a.action, a.key])).toEqual([
      ['copy', 'missing'],
      ['fix-row', 'norow'],
      ['delete-on-mirror', 'extra'],
      ['mark-deleted', 'ghost'],
    ]);
  });
});

describe('resync CLI', () => {
  test('arguments', () => {
    expect(parseArgs(['--bucket', 'b', '--dry-run'])).toEqual({ buckets: ['b'], dryRun: true });
    expect(parseArgs(['--bucket=a', '--bucket', 'b'])).toEqual({ buckets: ['a', 'b'], dryRun: false });
    expect(() => parseArgs([])).toThrow(/--bucket/);
    expect(() => parseArgs(['--bucket', 'b', '--force'])).toThrow(/unknown/);
  });
  test('report', () => {
    const text = formatReport({
      bucket: 'b',
      mirrorBucket: 'b',
      dryRun: true,
      counts: { main: 1, mirror: 0, inventoryRows: 0 },
      mirrorBucketExisted: false,
      actions: [{ action: 'copy', key: 'k', reason: 'missing on mirror', done: false }],
    });
    expect(text).toMatch(/dry run/);
    expect(text).toMatch(/would copy "k"/);
  });
});

describe('planResync under the delete policy', () => {
  const keep = { kind: 'keep' } as const;
  const delay = { kind: 'delay', seconds: 3600 } as const;
  // On the mirror only: `kept` was deleted through the proxy long ago (row deleted, backed up), `fresh` an
  // instant ago (row deleted, pending), `behind` behind the proxy's back (row still says present),
  // `norow` with no row at all.
  const main = new Map<string, { size: number; etag: string }>();
  const mirror = new Map([
    ['kept', { size: 3, etag: '"abc"' }],
    ['fresh', { size: 3, etag: '"abc"' }],
    ['behind', { size: 3, etag: '"abc"' }],
    ['norow', { size: 3, etag: '"abc"' }],
    ['keptEarlier', { size: 3, etag: '"abc"' }],
    ['waiting', { size: 3, etag: '"abc"' }],
  ]);
  const rows = new Map([
    ['kept', row({ path: 'kept', deleted: true, deleted_for_seconds: 86_400 })],
    [
      'keptEarlier',
      row({ path: 'keptEarlier', deleted: true, delete_kept: true, deleted_for_seconds: 86_400 }),
    ],
    ['fresh', row({ path: 'fresh', deleted: true, is_backed_up: false, deleted_for_seconds: 1 })],
    ['behind', row({ path: 'behind' })],
    [
      'waiting',
      row({
        path: 'waiting',
        deleted: true,
        is_backed_up: false,
        delete_delayed: true,
        deleted_for_seconds: 1,
      }),
    ],
  ]);
  const actions = (policy?: Parameters<typeof planResync>[3]) =>
    planResync(main, mirror, rows, policy).map((a) => `${a.action} ${a.key}`);

  test('mirror (the default): every key only the mirror holds is deleted there', () => {
    expect(actions()).toEqual([
      'delete-on-mirror kept',
      'delete-on-mirror fresh',
      'delete-on-mirror behind',
      'delete-on-mirror norow',
    ]);
    expect(actions({ kind: 'mirror' })).toEqual(actions());
  });

  test('keep: never a delete on the mirror; rows not yet saying deleted are marked', () => {
    expect(actions(keep)).toEqual(['mark-deleted behind', 'mark-deleted norow']);
  });

  test('delay: only deletes older than the delay reach the mirror; younger ones are left', () => {
    expect(actions(delay)).toEqual(['delete-on-mirror kept', 'mark-deleted behind', 'mark-deleted norow']);
  });

  test('keep: a kept key whose row says deleted and backed up needs nothing, on every later plan', () => {
    const onlyKept = new Map([['kept', mirror.get('kept')!]]);
    const keptRow = new Map([['kept', rows.get('kept')!]]);
    expect(planResync(main, onlyKept, keptRow, keep)).toEqual([]);
  });

  test('a delete still waiting out the delay it was recorded with is left whatever the policy now', () => {
    for (const policy of [undefined, keep, delay])
      expect(actions(policy)).not.toContain('delete-on-mirror waiting');
  });

  test('a delete settled as kept stays kept whatever the policy now (resync or scan under mirror too)', () => {
    for (const policy of [undefined, keep, delay])
      expect(actions(policy)).not.toContain('delete-on-mirror keptEarlier');
  });
});
