import type { Logger } from '../../src/log';
import { RefreshingCredentials, type Clock, type Credentials } from '../../src/credentials';

/** Timers run only when the test moves the clock. */
function fakeClock(): Clock & {
  advance(ms: number): Promise<void>;
  pending(): number[];
  keptAlive(): boolean[];
} {
  let now = 1_000_000;
  let timers: { at: number; fn: () => void; keepAlive: boolean }[] = [];
  const settle = async (): Promise<void> => {
    for (let i = 0; i < 10; i++) await Promise.resolve();
  };
  return {
    now: () => now,
    setTimer(fn, ms, keepAlive = false) {
      const timer = { at: now + ms, fn, keepAlive };
      timers.push(timer);
      return () => void (timers = timers.filter((t) => t !== timer));
    },
    async advance(ms) {
      const end = now + ms;
      for (;;) {
        await settle();
        const due = timers.filter((t) => t.at <= end).sort((a, b) => a.at - b.at)[0];
        if (!due) break;
        timers = timers.filter((t) => t !== due);
        now = due.at;
        due.fn();
      }
      now = end;
      await settle();
    },
    pending: () => timers.map((t) => t.at - now),
    keptAlive: () => timers.map((t) => t.keepAlive),
  };
}

function recordingLogger(): { logger: Logger; lines: { level: string; message: string; fields: object }[] } {
  const lines: { level: string; message: string; fields: object }[] = [];
  const at =
    (level: string) =>
    (message: string, fields: object = {}) =>
      void lines.push({ level, message, fields });
  const logger = {
    debug: at('debug'),
    info: at('info'),
    warn: at('warn'),
    error: at('error'),
  } as unknown as Logger;
  return { logger, lines };
}

function deferred<T>(): { promise: Promise<T>; resolve(v: T): void; reject(e: Error): void } {
  let resolve!: (v: T) => void;
  let reject!: (e: Error) => void;
  const promise = new Promise<T>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}

/** Credentials number `n`, valid for `lifeMs` from `now`. */
const creds = (n: number, now: number, lifeMs: number): Credentials => ({
  accessKeyId: `KEY${n}`,
  secretAccessKey: `secret-number-${n}`,
  sessionToken: `token-${n}`,
  expiration: new Date(now + lifeMs),
});

describe('RefreshingCredentials', () => {
  test('fetched at start, refreshed at half-life; current() never waits for a fetch in flight', async () => {
    const clock = fakeClock();
    const fetches: ReturnType<typeof deferred<Credentials>>[] = [];
    const fetch = (): Promise<Credentials> => {
      fetches.push(deferred<Credentials>());
      return fetches[fetches.length - 1]!.promise;
    };
    const source = new RefreshingCredentials('main', () => fetch, clock);
    const started = source.start(recordingLogger());
    await clock.advance(0);
    expect(source.health()).toMatchObject({ ok: false, reason: 'not resolved yet' });
    fetches[0]!.resolve(creds(1, clock.now(), 10_000));
    await started;
    expect(source.current().accessKeyId).toBe('KEY1');
    expect(await source.provider()).toBe(source.current());
    expect(clock.pending()).toEqual([5_000]);

    await clock.advance(4_999);
    expect(fetches).toHaveLength(1);
    await clock.advance(1);
    expect(fetches).toHaveLength(2);
    // The fetch is in flight: the hot path still gets the credentials in hand, at once.
    expect(source.current().accessKeyId).toBe('KEY1');
    fetches[1]!.resolve(creds(2, clock.now(), 10_000));
    await clock.advance(0);
    expect(source.current()).toMatchObject({ accessKeyId: 'KEY2', sessionToken: 'token-2' });
    expect(source.health()).toMatchObject({ ok: true, kind: 'refreshing' });
    source.stop();
    expect(clock.pending()).toEqual([]);
  });

  test('a failed refresh is retried with backoff, counted and logged without a secret; /readyz turns once they expire', async () => {
    const clock = fakeClock();
    const { logger, lines } = recordingLogger();
    const failures: string[] = [];
    const redacted: string[] = [];
    let calls = 0;
    let failing = false;
    const fetch = (): Promise<Credentials> => {
      calls += 1;
      // An endpoint that echoes what it was sent: the secret and token in hand end up in the error.
      if (failing)
        return Promise.reject(
          new Error('Server responded with status: 500 (signed with secret-number-1, token token-1)'),
        );
      return Promise.resolve(creds(calls, clock.now(), 20_000));
    };
    const source = new RefreshingCredentials('mirror', () => fetch, clock);
    await source.start({
      logger,
      onFailure: (side) => failures.push(side),
      onSecrets: (holder, values) => redacted.push(holder, ...values),
    });
    // The log redactor learns each fetched secret before anything could print it.
    expect(redacted).toEqual(['mirror', 'secret-number-1', 'token-1']);
    failing = true;
    await clock.advance(10_000); // half-life: the refresh fails
    expect(failures).toEqual(['mirror']);
    expect(source.current().accessKeyId).toBe('KEY1');
    expect(source.health()).toMatchObject({ ok: true, failures: 1 });
    expect(clock.pending()).toEqual([1_000]);
    // 2 s, then 3.5 s rather than 4 s: half of the 7 s left.
    await clock.advance(1_000 + 2_000 + 3_500);
    expect(failures).toHaveLength(4);
    expect(clock.pending()).toEqual([1_750]);
    await clock.advance(3_500);
    expect(source.health()).toMatchObject({
      ok: false,
      reason: expect.stringMatching(
        /^expired at .*; last fetch failed: Error: Server responded with status: 500 \(signed with \[REDACTED\], token \[REDACTED\]\)$/,
      ),
    });
    failing = false;
    await clock.advance(60_000);
    expect(source.health()).toMatchObject({ ok: true });
    expect(source.health().failures).toBeUndefined();
    const warned = lines.filter((l) => l.level === 'warn');
    expect(warned.length).toBe(failures.length);
    expect(warned[0]).toMatchObject({
      message: 'credentials: fetching failed; retrying',
      fields: { side: 'mirror' },
    });
    expect(JSON.stringify(lines)).not.toMatch(/secret-number|token-\d/);
    source.stop();
  });

  test('the first fetch is retried until it works; start() resolves only then', async () => {
    const clock = fakeClock();
    let calls = 0;
    const fetch = (): Promise<Credentials> =>
      ++calls < 3
        ? Promise.reject(new Error('no credentials yet'))
        : Promise.resolve(creds(calls, clock.now(), 60 * 60_000));
    const source = new RefreshingCredentials('main', () => fetch, clock);
    let resolved = false;
    const started = source.start(recordingLogger()).then(() => void (resolved = true));
    await clock.advance(999);
    expect(resolved).toBe(false);
    // Waiting to retry at start holds the process open (nothing else does yet); refreshes later do not.
    expect(clock.keptAlive()).toEqual([true]);
    expect(source.health().reason).toBe('not resolved yet; last fetch failed: Error: no credentials yet');
    await clock.advance(1 + 2_000);
    await started;
    expect(source.current().accessKeyId).toBe('KEY3');
    // An hour-long session: refreshed 5 minutes before it ends.
    expect(clock.pending()).toEqual([55 * 60_000]);
    expect(clock.keptAlive()).toEqual([false]);
    source.stop();
  });

  test('a fetch that never answers fails after the timeout, is counted, and the next try recovers', async () => {
    const clock = fakeClock();
    const { logger, lines } = recordingLogger();
    const failures: string[] = [];
    let calls = 0;
    let hang = false;
    const fetch = (): Promise<Credentials> => {
      calls += 1;
      if (hang) return new Promise<Credentials>(() => undefined);
      return Promise.resolve(creds(calls, clock.now(), 60 * 60_000));
    };
    const source = new RefreshingCredentials('main', () => fetch, clock, { fetchTimeoutMs: 30_000 });
    await source.start({ logger, onFailure: (side) => failures.push(side) });
    hang = true;
    await clock.advance(55 * 60_000); // the refresh starts and hangs
    expect(calls).toBe(2);
    expect(failures).toEqual([]);
    await clock.advance(30_000);
    expect(failures).toEqual(['main']);
    expect(source.health()).toMatchObject({ ok: true, failures: 1 });
    expect(source.health().reason).toBeUndefined();
    expect(lines.find((l) => l.level === 'warn')).toMatchObject({
      message: 'credentials: fetching failed; retrying',
      fields: { side: 'main', error: 'Error: no answer within 30000 ms' },
    });
    hang = false;
    await clock.advance(1_000);
    expect(calls).toBe(3);
    expect(source.current().accessKeyId).toBe('KEY3');
    expect(source.health().failures).toBeUndefined();
    source.stop();
  });

  test('a hung first fetch times out too: start() retries instead of waiting for ever', async () => {
    const clock = fakeClock();
    let calls = 0;
    const fetch = (): Promise<Credentials> =>
      ++calls === 1
        ? new Promise<Credentials>(() => undefined)
        : Promise.resolve(creds(calls, clock.now(), 60 * 60_000));
    const source = new RefreshingCredentials('mirror', () => fetch, clock, { fetchTimeoutMs: 5_000 });
    const started = source.start(recordingLogger());
    // Nothing else holds the process open at start: the timeout's timer does.
    await clock.advance(0);
    expect(clock.keptAlive()).toEqual([true]);
    await clock.advance(5_000 + 1_000);
    await started;
    expect(source.current().accessKeyId).toBe('KEY2');
    source.stop();
  });

  test('credentials that arrive expired are a failed fetch with backoff, not a fetch loop', async () => {
    const clock = fakeClock();
    const failures: string[] = [];
    let calls = 0;
    let stale = false;
    const times: number[] = [];
    const fetch = (): Promise<Credentials> => {
      calls += 1;
      times.push(clock.now());
      // A stale cache: the same expired (or about to expire) credentials again and again.
      return Promise.resolve(creds(calls, clock.now(), stale ? -60_000 : 60 * 60_000));
    };
    const source = new RefreshingCredentials('main', () => fetch, clock);
    await source.start({ logger: recordingLogger().logger, onFailure: (side) => failures.push(side) });
    stale = true;
    await clock.advance(55 * 60_000);
    expect(calls).toBe(2);
    expect(failures).toEqual(['main']);
    expect(source.current().accessKeyId).toBe('KEY1');
    expect(source.health().reason).toBeUndefined();
    // Backoff while the held ones last: 1 s, 2 s, 4 s...
    await clock.advance(1_000 + 2_000 + 4_000);
    expect(calls).toBe(5);
    // Once the held ones expired too (at 60 min): tries at most 10 s apart, so recovery is quick, but never
    // a loop.
    await clock.advance(5 * 60_000);
    expect(source.health().ok).toBe(false);
    const before = times.length;
    await clock.advance(10 * 60_000);
    const gaps = times.slice(before).map((t, i) => t - times[before + i - 1]!);
    expect(Math.max(...gaps)).toBe(10_000);
    expect(Math.min(...gaps)).toBeGreaterThanOrEqual(1_000);
    expect(source.health()).toMatchObject({
      ok: false,
      reason: expect.stringMatching(
        /last fetch failed: Error: the credentials fetched expire at .*too soon/,
      ) as string,
    });
    stale = false;
    await clock.advance(10_000);
    expect(source.health()).toMatchObject({ ok: true });
    source.stop();
  });

  test('credentials expiring within seconds of arrival are not held either', async () => {
    const clock = fakeClock();
    let calls = 0;
    const fetch = (): Promise<Credentials> =>
      Promise.resolve(creds(++calls, clock.now(), calls < 3 ? 2_000 : 60 * 60_000));
    const source = new RefreshingCredentials('main', () => fetch, clock);
    let resolved = false;
    const started = source.start(recordingLogger()).then(() => void (resolved = true));
    await clock.advance(999);
    expect(resolved).toBe(false);
    expect(calls).toBe(1);
    await clock.advance(1 + 2_000);
    await started;
    expect(calls).toBe(3);
    expect(source.current().accessKeyId).toBe('KEY3');
    source.stop();
  });

  test('stop() while start() waits to retry the first fetch makes start() reject', async () => {
    const clock = fakeClock();
    const source = new RefreshingCredentials(
      'mirror',
      () => () => Promise.reject(new Error('no credentials yet')),
      clock,
    );
    const started = source.start(recordingLogger());
    await clock.advance(0);
    source.stop();
    await expect(started).rejects.toThrow('mirror credentials: stopped before they were resolved');
    expect(clock.pending()).toEqual([]);
  });

  test('stop() during the first fetch makes start() reject too', async () => {
    const clock = fakeClock();
    const source = new RefreshingCredentials(
      'main',
      () => () => new Promise<Credentials>(() => undefined),
      clock,
    );
    const started = source.start(recordingLogger());
    await clock.advance(0);
    source.stop();
    await expect(started).rejects.toThrow('main credentials: stopped before they were resolved');
    expect(clock.pending()).toEqual([]);
  });

  test('credentials without an expiration are kept: no refresh timer', async () => {
    const clock = fakeClock();
    const source = new RefreshingCredentials(
      'main',
      () => () => Promise.resolve({ accessKeyId: 'PROFILE', secretAccessKey: 's' }),
      clock,
    );
    await source.start(recordingLogger());
    expect(clock.pending()).toEqual([]);
    expect(source.health()).toEqual({ ok: true, kind: 'refreshing' });
  });
});
