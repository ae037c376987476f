import type { LogLevel } from './config';

type Meta = Record<string, unknown>;

/** What the proxy logs with: a message and its metadata, one JSON line each. */
export interface Logger {
  error(message: string, meta?: Meta): void;
  warn(message: string, meta?: Meta): void;
  info(message: string, meta?: Meta): void;
  debug(message: string, meta?: Meta): void;
}

/** Values to redact; a function when they change at run time (fetched temporary credentials). */
export type Secrets = readonly string[] | (() => readonly string[]);

/** Deeper than this, a value is dropped rather than walked (log metadata is never legitimately that deep). */
const MAX_DEPTH = 8;
const SEVERITY = { error: 0, warn: 1, info: 2, debug: 3 } as const;
type Level = keyof typeof SEVERITY;

/**
 * A copy of `value` that JSON.stringify can print and that holds no secret: every occurrence of one in any
 * string, however deep, is replaced. Cycles end as "[Circular]", depth at MAX_DEPTH; toJSON is honoured
 * (a URL's href, a Date) and scrubbed in turn. The caller's objects are never changed. `path`: the objects
 * on the way here, the metadata first.
 */
function scrub(value: unknown, secrets: readonly string[], path: object[]): unknown {
  if (typeof value === 'string') {
    let out = value;
    for (const secret of secrets) if (out.includes(secret)) out = out.replaceAll(secret, '[REDACTED]');
    return out;
  }
  if (typeof value === 'bigint') return value.toString();
  if (typeof value !== 'object' || value === null) return value;
  if (path.includes(value)) return '[Circular]';
  if (path.length > MAX_DEPTH) return '[Truncated]';
  path.push(value);
  let out: unknown;
  const toJSON = (value as { toJSON?: unknown }).toJSON;
  if (Array.isArray(value)) out = value.map((v) => scrub(v, secrets, path));
  else if (typeof toJSON === 'function') out = scrub(toJSON.call(value), secrets, path);
  else {
    const copy: Meta = {};
    // An Error's name and message are not enumerable: JSON would drop them, yet they say what went wrong.
    if (value instanceof Error)
      Object.assign(copy, { name: value.name, message: scrub(value.message, secrets, path) });
    for (const [k, v] of Object.entries(value)) copy[k] = scrub(v, secrets, path);
    out = copy;
  }
  path.pop();
  return out;
}

/** The secrets worth looking for (shorter ones would redact ordinary words), recomputed when they change. */
function liveSecrets(secrets: Secrets): () => readonly string[] {
  const usable = (list: readonly string[]) => list.filter((s) => s.length >= 4);
  if (typeof secrets !== 'function') {
    const fixed = usable(secrets);
    return () => fixed;
  }
  let seen: readonly string[] | undefined;
  let live: readonly string[] = [];
  return () => {
    const now = secrets();
    if (now !== seen) [seen, live] = [now, usable(now)];
    return live;
  };
}

let stampedAt = NaN;
let stamp = '';

/** Now, in ISO 8601: the lines of one millisecond share one string (the access log writes one per request). */
function timestamp(): string {
  const now = Date.now();
  if (now !== stampedAt) {
    stampedAt = now;
    stamp = new Date(now).toISOString();
  }
  return stamp;
}

/**
 * JSON logs on stdout, one object per line: {level, message, timestamp, ...meta}. By default each line is
 * written as winston's Console transport did (process.stdout.write, return value ignored): synchronous to a
 * file; on a pipe Node writes at once what the pipe takes and queues the rest, so only a reader far behind
 * can lose lines at process.exit. The running proxy passes a `write` from log-output.ts instead, which
 * gathers a turn's lines into one write (the access log would otherwise cost a system call per request).
 */
export function createLogger(
  level: LogLevel,
  secrets: Secrets = [],
  write: (line: string) => void = (line) => process.stdout.write(line),
): Logger {
  const threshold = level === 'off' ? -1 : SEVERITY[level];
  const live = liveSecrets(secrets);
  const at =
    (name: Level) =>
    (message: string, meta?: Meta): void => {
      if (SEVERITY[name] > threshold) return;
      const hide = live();
      const path: object[] = meta ? [meta] : [];
      const line: Meta = {
        level: name,
        message: scrub(message, hide, path),
        timestamp: timestamp(),
      };
      // Metadata cannot replace the three fields every line has. (for…in: no array of keys per line.)
      if (meta) for (const key in meta) if (!(key in line)) line[key] = scrub(meta[key], hide, path);
      write(`${JSON.stringify(line)}\n`);
    };
  return { error: at('error'), warn: at('warn'), info: at('info'), debug: at('debug') };
}
