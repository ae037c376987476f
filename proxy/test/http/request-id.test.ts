import { newRequestId } from '../../src/http/request-id';

describe('newRequestId', () => {
  it('is 16 upper-case hex digits, as S3 prints request ids', () => {
    expect(newRequestId()).toMatch(/^[0-9A-F]{16}$/);
  });

  it('never repeats across many draws from the system random source', () => {
    // 2,000 ids span several draws of the pool: each id is new, also across the pool's refills.
    const ids = Array.from({ length: 2000 }, () => newRequestId());
    expect(new Set(ids).size).toBe(ids.length);
  });
});
