/**
 * Clock skew between the proxy and an S3 endpoint, corrected as the AWS SDK v3 does it (@aws-sdk/core's
 * AwsSdkSigV4Signer with @smithy/core's retry): an answer refusing a request whose signing time was off by
 * at least 4 minutes gives the server's offset from its Date header; later requests are signed with it.
 * S3 refuses a signature more than 15 minutes from its own clock (RequestTimeTooSkewed).
 */
import { headerValue, type ResponseHeaders } from './object-headers';

/** The SDK's threshold (240 000 ms): a smaller difference is rounding and latency, not a skewed clock. */
export const CLOCK_SKEW_THRESHOLD_MS = 4 * 60_000;

/** As the SDK: an answer this long after its request cannot tell the server's clock at signing time. */
const MAX_ROUND_TRIP_MS = 15 * 60_000;

/** Server time minus local time `now`, from a Date header; undefined when absent or unparseable. */
export function clockOffsetFrom(dateHeader: string | undefined, now: number): number | undefined {
  if (dateHeader === undefined) return undefined;
  const serverTime = Date.parse(dateHeader);
  return Number.isNaN(serverTime) ? undefined : serverTime - now;
}

export interface SignedAnswer {
  statusCode: number;
  headers: ResponseHeaders;
  /** The clock offset the request was signed with (signing time = sentAt + offsetMs). */
  offsetMs: number;
  sentAt: number;
  receivedAt: number;
}

/**
 * The server's clock offset when `answer` refused its request for a signing time too far from the server's
 * clock; undefined otherwise. S3 and RGW refuse a skewed signature with 403 (RequestTimeTooSkewed,
 * RequestExpired, SignatureDoesNotMatch; a HEAD's has no error code), and the SDK (3.9xx) goes by the
 * Date header, not the code. Unlike the SDK, any other status is left alone: that request was authenticated,
 * so its clock was fine. An Age header means a cache answered (the SDK ignores it too).
 */
export function skewedClockOffset(answer: SignedAnswer): number | undefined {
  const { statusCode, headers, offsetMs, sentAt, receivedAt } = answer;
  if (statusCode !== 403 || headerValue(headers, 'age') !== undefined) return undefined;
  if (receivedAt - sentAt > MAX_ROUND_TRIP_MS) return undefined;
  const serverOffset = clockOffsetFrom(headerValue(headers, 'date'), receivedAt);
  if (serverOffset === undefined || Math.abs(serverOffset - offsetMs) < CLOCK_SKEW_THRESHOLD_MS)
    return undefined;
  return serverOffset;
}
