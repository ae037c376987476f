import {
  deleteDelaySeconds,
  extraOnMirror,
  formatDeletePolicy,
  missingKeyAction,
  parseDeletePolicy,
  type DeletePolicy,
} from '../../src/mirror/delete-policy';

const parsed = (text: string): DeletePolicy => {
  const p = parseDeletePolicy(text);
  if ('error' in p) throw new Error(p.error);
  return p;
};

describe('parseDeletePolicy', () => {
  test.each([
    ['mirror', { kind: 'mirror' }],
    ['keep', { kind: 'keep' }],
    [' keep ', { kind: 'keep' }],
    ['delay:5s', { kind: 'delay', seconds: 5 }],
    ['delay:90m', { kind: 'delay', seconds: 5400 }],
    ['delay:24h', { kind: 'delay', seconds: 86_400 }],
    ['delay:7d', { kind: 'delay', seconds: 604_800 }],
    ['delay:366d', { kind: 'delay', seconds: 366 * 86_400 }],
  ])('%s', (text, policy) => {
    expect(parseDeletePolicy(text)).toEqual(policy);
  });

  test.each([
    '',
    'Mirror',
    'KEEP',
    'delete',
    'delay',
    'delay:',
    'delay:0s',
    'delay:05s',
    'delay:5',
    'delay:1.5h',
    'delay:-1h',
    'delay:1 h',
    'delay: 1h',
    'delay:1h30m',
    'delay:1w',
    'delay:24H',
    'delay:367d',
    'delay:9999999999s',
    'keep,delay:1h',
  ])('refuses %j', (text) => {
    expect(parseDeletePolicy(text)).toEqual({ error: expect.any(String) });
  });

  test('formats back to a text that parses to the same policy', () => {
    for (const text of ['mirror', 'keep', 'delay:5s', 'delay:90m', 'delay:24h', 'delay:7d', 'delay:61s']) {
      const p = parsed(text);
      expect(parsed(formatDeletePolicy(p))).toEqual(p);
    }
    expect(formatDeletePolicy(parsed('delay:3600s'))).toBe('delay:1h');
  });

  test('the delay recorded deletes wait: only for delay', () => {
    expect(deleteDelaySeconds(parsed('mirror'))).toBe(0);
    expect(deleteDelaySeconds(parsed('keep'))).toBe(0);
    expect(deleteDelaySeconds(parsed('delay:2m'))).toBe(120);
  });
});

describe('missingKeyAction', () => {
  test('mirror deletes at once, whatever the row says', () => {
    expect(missingKeyAction(parsed('mirror'), undefined)).toEqual({ kind: 'delete' });
    expect(missingKeyAction(parsed('mirror'), 0)).toEqual({ kind: 'delete' });
  });
  test('keep never deletes', () => {
    expect(missingKeyAction(parsed('keep'), undefined)).toEqual({ kind: 'keep' });
    expect(missingKeyAction(parsed('keep'), 1e9)).toEqual({ kind: 'keep' });
  });
  test('delay defers until the delete is as old as the delay', () => {
    const p = parsed('delay:1m');
    expect(missingKeyAction(p, undefined)).toEqual({ kind: 'defer', inSeconds: 60 });
    expect(missingKeyAction(p, 0)).toEqual({ kind: 'defer', inSeconds: 60 });
    expect(missingKeyAction(p, 45)).toEqual({ kind: 'defer', inSeconds: 15 });
    expect(missingKeyAction(p, 59.9).kind).toBe('defer');
    expect(missingKeyAction(p, 60)).toEqual({ kind: 'delete' });
    expect(missingKeyAction(p, 3600)).toEqual({ kind: 'delete' });
  });
  test('delay: a delete time ahead of the clock (skew) counts as just now', () => {
    expect(missingKeyAction(parsed('delay:1m'), -30)).toEqual({ kind: 'defer', inSeconds: 60 });
  });
});

describe('extraOnMirror: a key only the mirror holds', () => {
  const deleted = (forSeconds: number | null) => ({ deleted: true, deleted_for_seconds: forSeconds });
  const live = { deleted: false, deleted_for_seconds: null };
  test('mirror: delete it', () => {
    expect(extraOnMirror(parsed('mirror'), undefined)).toBe('delete-on-mirror');
    expect(extraOnMirror(parsed('mirror'), live)).toBe('delete-on-mirror');
    expect(extraOnMirror(parsed('mirror'), deleted(0))).toBe('delete-on-mirror');
  });
  test('keep: record the delete, then leave it for good', () => {
    expect(extraOnMirror(parsed('keep'), undefined)).toBe('mark-deleted');
    expect(extraOnMirror(parsed('keep'), live)).toBe('mark-deleted');
    expect(extraOnMirror(parsed('keep'), deleted(0))).toBe('leave');
    expect(extraOnMirror(parsed('keep'), deleted(1e9))).toBe('leave');
    expect(extraOnMirror(parsed('keep'), deleted(null))).toBe('leave');
  });
  test('delay: record the delete (its delay starts), leave it until due, then delete it', () => {
    const p = parsed('delay:1h');
    expect(extraOnMirror(p, undefined)).toBe('mark-deleted');
    expect(extraOnMirror(p, live)).toBe('mark-deleted');
    expect(extraOnMirror(p, deleted(10))).toBe('leave');
    expect(extraOnMirror(p, deleted(null))).toBe('leave');
    expect(extraOnMirror(p, deleted(3600))).toBe('delete-on-mirror');
  });
  test('a delete settled as kept is left under every policy (switching keep to mirror deletes nothing)', () => {
    const kept = { deleted: true, deleted_for_seconds: 1e9, delete_kept: true };
    for (const text of ['mirror', 'keep', 'delay:1m'])
      expect(extraOnMirror(parsed(text), kept)).toBe('leave');
    // A row that says present again (written after the kept delete) is no longer kept.
    expect(extraOnMirror(parsed('mirror'), { ...kept, deleted: false })).toBe('delete-on-mirror');
  });
});
