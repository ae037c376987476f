import { REFRESH_AHEAD_MS, refreshAt, retryDelay } from '../../src/credentials/refresh-timing';

const MIN = 60_000;

describe('refreshAt', () => {
  test('an hour-long STS session is replaced 5 minutes before it expires', () => {
    expect(refreshAt(0, 60 * MIN)).toBe(60 * MIN - REFRESH_AHEAD_MS);
  });

  test('a short-lived one at half its life', () => {
    expect(refreshAt(1_000, 9_000)).toBe(5_000);
    expect(refreshAt(0, 8 * MIN)).toBe(4 * MIN);
  });

  test('one already expired: now', () => {
    expect(refreshAt(10_000, 5_000)).toBe(5_000);
  });
});

describe('retryDelay', () => {
  test('doubles from 1 s to at most a minute', () => {
    expect([1, 2, 3, 7, 8, 20].map((n) => retryDelay(n, 0, undefined))).toEqual([
      1_000, 2_000, 4_000, 60_000, 60_000, 60_000,
    ]);
  });

  test('never later than half the time the credentials in hand have left', () => {
    expect(retryDelay(6, 0, 10_000)).toBe(5_000);
    expect(retryDelay(1, 0, 600)).toBe(300);
    expect(retryDelay(1, 0, 100)).toBe(100);
    // Already expired: plain backoff.
    expect(retryDelay(3, 10_000, 5_000)).toBe(4_000);
  });
});
