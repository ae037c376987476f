import {
  expiresTooSoon,
  MIN_LIFE_MS,
  MIN_REFRESH_DELAY_MS,
  REFRESH_AHEAD_MS,
  refreshAt,
  RETRY_MAX_EXPIRED_MS,
  retryDelay,
} from '../../src/credentials/refresh-timing';

const MIN = 60_000;

describe('refreshAt', () => {
  test('an hour-long STS session is replaced 5 minutes before it expires', () => {
    expect(refreshAt(0, 60 * MIN)).toBe(60 * MIN - REFRESH_AHEAD_MS);
  });

  test('a short-lived one at half its life', () => {
    expect(refreshAt(1_000, 21_000)).toBe(11_000);
    expect(refreshAt(0, 8 * MIN)).toBe(4 * MIN);
  });

  test('never sooner than 5 s after they were obtained, even for ones already expired (no fetch loop)', () => {
    expect(refreshAt(10_000, 5_000)).toBe(10_000 + MIN_REFRESH_DELAY_MS);
    expect(refreshAt(10_000, 10_001)).toBe(15_000);
    expect(refreshAt(0, 12_000)).toBe(6_000);
  });

  test('credentials with less than 10 s left are too short-lived to hold', () => {
    expect(expiresTooSoon(10_000, 5_000)).toBe(true);
    expect(expiresTooSoon(10_000, 10_000 + MIN_LIFE_MS - 1)).toBe(true);
    expect(expiresTooSoon(10_000, 10_000 + MIN_LIFE_MS)).toBe(false);
  });
});

describe('retryDelay', () => {
  test('doubles from 1 s to at most a minute while the credentials in hand last', () => {
    const hour = 60 * MIN;
    expect([1, 2, 3, 7, 8, 20].map((n) => retryDelay(n, 0, hour))).toEqual([
      1_000, 2_000, 4_000, 60_000, 60_000, 60_000,
    ]);
  });

  test('never later than half the time the credentials in hand have left', () => {
    expect(retryDelay(6, 0, 10_000)).toBe(5_000);
    expect(retryDelay(3, 0, 6_000)).toBe(3_000);
    // ...but at least 1 s apart: no burst of retries in the last second.
    expect(retryDelay(1, 0, 600)).toBe(1_000);
    expect(retryDelay(9, 0, 100)).toBe(1_000);
  });

  test('with nothing valid in hand (at start, or expired), at most 10 s apart: recovery is quick', () => {
    expect(retryDelay(3, 10_000, 5_000)).toBe(4_000);
    expect([5, 8, 20].map((n) => retryDelay(n, 10_000, 5_000))).toEqual([
      RETRY_MAX_EXPIRED_MS,
      RETRY_MAX_EXPIRED_MS,
      RETRY_MAX_EXPIRED_MS,
    ]);
    expect(retryDelay(20, 0, undefined)).toBe(RETRY_MAX_EXPIRED_MS);
    expect(RETRY_MAX_EXPIRED_MS).toBe(10_000);
  });
});
