import { diskBytesFor, SPOOL_BLOCK_BYTES, SpoolBudget } from '../../src/spool/budget';

describe('diskBytesFor', () => {
  test('whole blocks, at least one', () => {
    expect(diskBytesFor(0)).toBe(SPOOL_BLOCK_BYTES);
    expect(diskBytesFor(1)).toBe(SPOOL_BLOCK_BYTES);
    expect(diskBytesFor(SPOOL_BLOCK_BYTES)).toBe(SPOOL_BLOCK_BYTES);
    expect(diskBytesFor(SPOOL_BLOCK_BYTES + 1)).toBe(2 * SPOOL_BLOCK_BYTES);
  });
});

describe('SpoolBudget', () => {
  test('reserves block-rounded space until the total bound, then refuses as full', () => {
    const b = new SpoolBudget(3 * SPOOL_BLOCK_BYTES, 10 * SPOOL_BLOCK_BYTES);
    expect(b.reserve(10)).toEqual({ ok: true, bytes: SPOOL_BLOCK_BYTES });
    expect(b.reserve(SPOOL_BLOCK_BYTES + 1)).toEqual({ ok: true, bytes: 2 * SPOOL_BLOCK_BYTES });
    expect(b.used).toBe(3 * SPOOL_BLOCK_BYTES);
    expect(b.reserve(1)).toEqual({ ok: false, reason: 'full' });
    b.release(SPOOL_BLOCK_BYTES);
    expect(b.reserve(1)).toEqual({ ok: true, bytes: SPOOL_BLOCK_BYTES });
  });

  test('an object above the per-object bound, or larger than the whole spool, is too large', () => {
    const b = new SpoolBudget(8 * SPOOL_BLOCK_BYTES, 1000);
    expect(b.reserve(1000)).toMatchObject({ ok: true });
    expect(b.reserve(1001)).toEqual({ ok: false, reason: 'too_large' });
    const small = new SpoolBudget(SPOOL_BLOCK_BYTES, 1 << 30);
    expect(small.reserve(SPOOL_BLOCK_BYTES + 1)).toEqual({ ok: false, reason: 'too_large' });
    expect(small.used).toBe(0);
  });

  test('release never goes below zero', () => {
    const b = new SpoolBudget(SPOOL_BLOCK_BYTES, SPOOL_BLOCK_BYTES);
    b.release(5);
    expect(b.used).toBe(0);
  });
});
