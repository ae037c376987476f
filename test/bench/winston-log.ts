// The proxy's winston logger as it was before issue 12 replaced it (proxy/src/log.ts at ec0556f): the
// reference arm of log-cost.ts. Not used by the proxy.
import winston from 'winston';
import type { LogLevel } from '@k8s-s3-mirror/proxy/dist/config';

type Logger = winston.Logger;

/** Deeper than this, a value is dropped rather than walked (log metadata is never legitimately that deep). */
const MAX_DEPTH = 8;

/**
 * Replaces every occurrence of a secret in any string, however deep in the log line it got there. Nested
 * values are copied, never changed in place: they belong to the caller.
 */
function redactor(secrets: Secrets) {
  const fixed = typeof secrets === 'function' ? undefined : secrets.filter((s) => s.length >= 4);
  let live: readonly string[] = fixed ?? [];
  const scrubString = (value: string): string => {
    let out = value;
    for (const secret of live) out = out.split(secret).join('[REDACTED]');
    return out;
  };
  // `ancestors`: the objects on the path here, so a cycle ends as JSON output would show it.
  const scrub = (value: unknown, depth: number, ancestors: object[]): unknown => {
    if (typeof value === 'string') return scrubString(value);
    if (typeof value !== 'object' || value === null) return value;
    if (ancestors.includes(value)) return '[Circular]';
    if (depth >= MAX_DEPTH) return '[Truncated]';
    const inner = [...ancestors, value];
    const walk = (v: unknown): unknown => scrub(v, depth + 1, inner);
    if (Array.isArray(value)) return value.map(walk);
    // What JSON output would use (a URL's href, a Date's ISO string), scrubbed in turn.
    const toJSON = (value as { toJSON?: unknown }).toJSON;
    if (typeof toJSON === 'function') return walk(toJSON.call(value));
    const out: Record<string, unknown> = {};
    // An Error's name and message are not enumerable: JSON would drop them, yet they say what went wrong.
    if (value instanceof Error) Object.assign(out, { name: value.name, message: walk(value.message) });
    for (const [k, v] of Object.entries(value)) out[k] = walk(v);
    return out;
  };
  return winston.format((info) => {
    if (typeof secrets === 'function') live = secrets().filter((s) => s.length >= 4);
    if (live.length === 0) return info;
    for (const key of Object.keys(info)) info[key] = scrub(info[key], 0, [info]);
    return info;
  })();
}

/** Values to redact; a function when they change at run time (fetched temporary credentials). */
type Secrets = readonly string[] | (() => readonly string[]);

/** JSON logs on stdout, one object per line. */
export function createWinstonLogger(level: LogLevel, secrets: Secrets = []): Logger {
  return winston.createLogger({
    level: level === 'off' ? 'error' : level,
    silent: level === 'off',
    format: winston.format.combine(
      winston.format.timestamp(),
      winston.format.errors({ stack: false }),
      redactor(secrets),
      winston.format.json(),
    ),
    transports: [new winston.transports.Console()],
  });
}
