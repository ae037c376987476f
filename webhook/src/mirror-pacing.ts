/**
 * How fast an injected proxy mirrors: its copy workers (MIRROR_CONCURRENCY) and what its catch-up copies
 * stream while the app is busy (MIRROR_CATCHUP_BYTES_PER_SECOND). A team whose mirror is elsewhere than its
 * main storage raises the rate so a backlog drains sooner; one that shares a busy cluster lowers it. Pure:
 * the value a config key or annotation holds → the value the proxy is given, or undefined when invalid.
 */

/** More copy workers than this in one sidecar is taken for a typo (each holds sockets to main and the mirror). */
export const MAX_MIRROR_CONCURRENCY = 256;

/** What a valid MIRROR_CONCURRENCY is, for errors and warnings. */
export const MIRROR_CONCURRENCY_RULE = `a whole number from 1 to ${MAX_MIRROR_CONCURRENCY}`;

/** A whole number of copy workers, 1 to MAX_MIRROR_CONCURRENCY, as the proxy's decimal string. */
export function parseMirrorConcurrency(v: string): string | undefined {
  if (!/^[1-9][0-9]{0,3}$/.test(v) || Number(v) > MAX_MIRROR_CONCURRENCY) return undefined;
  return v;
}

const BYTE_UNITS: Readonly<Record<string, number>> = {
  '': 1,
  k: 1e3,
  M: 1e6,
  G: 1e9,
  Ki: 1024,
  Mi: 1024 ** 2,
  Gi: 1024 ** 3,
};

/** The highest rate accepted: 100 GiB/s is beyond any NIC; a larger figure is a typo. */
const MAX_BYTES_PER_SECOND = 100 * 1024 ** 3;

/** What a valid MIRROR_CATCHUP_BYTES_PER_SECOND is, for errors and warnings. */
export const BYTE_RATE_RULE =
  'bytes per second, a whole number or a quantity such as 32Mi (0: never give way)';

/** Below this a backlog all but stops while the app is busy: most likely MiB/s meant, bytes written. */
export const LOWEST_USEFUL_BYTES_PER_SECOND = 64 * 1024;

/** A warning for a catch-up rate that is valid but most likely a slip (`8` for 8 MiB/s), or undefined. */
export function byteRateWarning(key: string, bytes: string): string | undefined {
  const n = Number(bytes);
  if (n === 0 || n >= LOWEST_USEFUL_BYTES_PER_SECOND) return undefined;
  return (
    `${key} is ${n} bytes per second: a backlog barely drains while the app is busy ` +
    '(for MiB per second write e.g. 8Mi)'
  );
}

/**
 * Bytes per second as a whole number or a whole Kubernetes-style quantity (`32Mi`, `50M`), as the proxy's
 * decimal string of bytes; `0`: catch-up copies never give way to the app.
 */
export function parseByteRate(v: string): string | undefined {
  const m = /^([0-9]{1,12})(k|M|G|Ki|Mi|Gi)?$/.exec(v);
  if (!m) return undefined;
  const bytes = Number(m[1]) * BYTE_UNITS[m[2] ?? '']!;
  return bytes <= MAX_BYTES_PER_SECOND ? String(bytes) : undefined;
}
