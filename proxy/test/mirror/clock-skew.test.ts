import { CLOCK_SKEW_THRESHOLD_MS, clockOffsetFrom, skewedClockOffset } from '../../src/mirror/clock-skew';

// On a whole second, as a Date header is.
const now = Date.parse('2026-03-04T10:00:00Z');
const minutes = (n: number): number => n * 60_000;
const httpDate = (ms: number): string => new Date(ms).toUTCString();

/** A 403 to a request signed on local time (no offset), answered at once. */
const refusal = (
  headers: Record<string, string>,
  more: Partial<Parameters<typeof skewedClockOffset>[0]> = {},
) => ({
  statusCode: 403,
  headers,
  offsetMs: 0,
  sentAt: now - 30,
  receivedAt: now,
  ...more,
});

test('clockOffsetFrom: server time minus ours, from an HTTP date; nothing from a missing or bad one', () => {
  expect(clockOffsetFrom('Wed, 04 Mar 2026 09:40:00 GMT', now)).toBe(-minutes(20));
  expect(clockOffsetFrom(httpDate(now + minutes(90)), now)).toBe(minutes(90));
  expect(clockOffsetFrom(undefined, now)).toBeUndefined();
  expect(clockOffsetFrom('yesterday', now)).toBeUndefined();
});

test('a 403 from a server whose clock is at least 4 minutes from the signing time gives its offset', () => {
  expect(CLOCK_SKEW_THRESHOLD_MS).toBe(240_000); // @aws-sdk/core's AwsSdkSigV4Signer
  expect(skewedClockOffset(refusal({ date: httpDate(now - minutes(20)) }))).toBe(-minutes(20));
  expect(skewedClockOffset(refusal({ date: httpDate(now + minutes(4)) }))).toBe(minutes(4));
  // Below the threshold: latency and rounding, not skew.
  expect(skewedClockOffset(refusal({ date: httpDate(now + minutes(4) - 1000) }))).toBeUndefined();
  expect(skewedClockOffset(refusal({ date: httpDate(now - minutes(3)) }))).toBeUndefined();
});

test('the skew is measured from the time the request was signed with, not local time', () => {
  // Signed on the offset learnt before: the server agrees with it.
  const signedOnServerTime = { offsetMs: -minutes(20) };
  expect(
    skewedClockOffset(refusal({ date: httpDate(now - minutes(20)) }, signedOnServerTime)),
  ).toBeUndefined();
  // The server's clock was set right since: back to (about) no offset.
  expect(skewedClockOffset(refusal({ date: httpDate(now) }, signedOnServerTime))).toBe(0);
});

test('no offset from an answer that was not refused, had no usable Date, came from a cache or too late', () => {
  const skewedDate = { date: httpDate(now - minutes(20)) };
  for (const statusCode of [200, 204, 400, 404, 500]) {
    expect(skewedClockOffset(refusal(skewedDate, { statusCode }))).toBeUndefined();
  }
  expect(skewedClockOffset(refusal({}))).toBeUndefined();
  expect(skewedClockOffset(refusal({ date: 'soon' }))).toBeUndefined();
  expect(skewedClockOffset(refusal({ ...skewedDate, age: '3' }))).toBeUndefined();
  // 15 minutes between sending and the answer: the Date cannot tell the clock at signing time.
  expect(skewedClockOffset(refusal(skewedDate, { sentAt: now - minutes(15) - 1 }))).toBeUndefined();
  expect(skewedClockOffset(refusal(skewedDate, { sentAt: now - minutes(15) }))).toBe(-minutes(20));
});
