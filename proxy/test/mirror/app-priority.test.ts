import { AppPriority, DEFAULT_APP_PRIORITY, type AppPrioritySettings } from '../../src/mirror/app-priority';

const KiB = 1024;
const MiB = 1024 * KiB;

function priority(settings: Partial<AppPrioritySettings> = {}) {
  let now = 10_000;
  const p = new AppPriority({ ...DEFAULT_APP_PRIORITY, ...settings }, () => now);
  return { p, at: (t: number) => void (now = t) };
}

/** Sends `chunks` chunks of `size` at time `t` (each after the previous one's wait); returns the waits. */
function sendAt(p: AppPriority, chunks: number, size: number): number[] {
  return Array.from({ length: chunks }, () => p.waitMs(MiB, size));
}

describe('catch-up copies while the app is busy', () => {
  test('stream at the rate, all copies together: 1 MiB/s lets a 64 KiB chunk go every 62.5 ms after the burst', () => {
    const { p, at } = priority({ bytesPerSecond: MiB, burstMs: 0 });
    p.requestStarted();
    at(20_000);
    // Four chunks asked at once (say, of four copies): each waits for the ones before it.
    expect(sendAt(p, 4, 64 * KiB)).toEqual([0, 62.5, 125, 187.5]);
    // Later, with the budget paid off, the next goes at once.
    at(21_000);
    expect(p.waitMs(MiB, 64 * KiB)).toBe(0);
  });

  test('after a pause, a burst of burstMs worth of bytes goes at once, then the rate again', () => {
    const { p, at } = priority({ bytesPerSecond: MiB, burstMs: 125 });
    p.requestStarted();
    at(20_000);
    expect(sendAt(p, 3, 64 * KiB)).toEqual([0, 0, 0]);
    expect(p.waitMs(MiB, 64 * KiB)).toBe(62.5);
  });

  test('over a long run they average the rate', () => {
    const { p, at } = priority({ bytesPerSecond: 8 * MiB, burstMs: 50 });
    p.requestStarted();
    let t = 50_000;
    let sent = 0;
    while (t < 60_000) {
      at(t);
      t += p.waitMs(MiB, 64 * KiB) + 1; // the chunk goes after its wait, and takes 1 ms to write
      sent += 64 * KiB;
    }
    expect(sent / 10 / MiB).toBeGreaterThan(7.5);
    expect(sent / 10 / MiB).toBeLessThan(8.5);
  });

  test("never wait for a copy's first bytes, so small copies keep their lag", () => {
    const { p, at } = priority({ bytesPerSecond: 1, freeBytes: 256 * KiB, burstMs: 0 });
    p.requestStarted();
    at(20_000);
    expect(p.waitMs(0, 64 * KiB)).toBe(0);
    expect(p.waitMs(256 * KiB - 1, 64 * KiB)).toBe(0);
    // The free chunks drew nothing from the budget: the first paid one goes at once, the next waits.
    expect(p.waitMs(256 * KiB, 64 * KiB)).toBe(0);
    expect(p.waitMs(320 * KiB, 64 * KiB)).toBeGreaterThan(0);
  });

  test('a rate of 0 never gives way', () => {
    const { p, at } = priority({ bytesPerSecond: 0 });
    p.requestStarted();
    at(20_000);
    expect(sendAt(p, 100, MiB).every((w) => w === 0)).toBe(true);
  });
});

describe('when the app counts as busy', () => {
  const slow = { bytesPerSecond: 1024, burstMs: 0 };

  test('not before its first request', () => {
    const { p, at } = priority(slow);
    at(20_000);
    expect(sendAt(p, 3, 64 * KiB)).toEqual([0, 0, 0]);
  });

  test('while any request is in flight, and for quietMs after the last one ends', () => {
    const { p, at } = priority({ ...slow, quietMs: 200 });
    p.requestStarted();
    p.requestStarted();
    at(20_000);
    p.requestEnded();
    expect(sendAt(p, 2, 1024)[1]).toBeGreaterThan(0); // one still in flight
    p.requestEnded();
    at(20_199);
    expect(p.waitMs(MiB, 1024)).toBeGreaterThan(0); // quiet for 199 ms: still busy
    at(20_200);
    expect(p.waitMs(MiB, 1024)).toBe(0);
  });

  test('an end without a start (a response closed twice) does not hide a request in flight', () => {
    const { p, at } = priority({ ...slow, quietMs: 200 });
    p.requestEnded();
    p.requestStarted();
    at(30_000);
    expect(sendAt(p, 2, 1024)[1]).toBeGreaterThan(0);
    p.requestEnded();
    at(40_000);
    expect(p.waitMs(MiB, 1024)).toBe(0);
  });
});
