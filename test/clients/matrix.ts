/**
 * The pure half of the client matrix: parse driver output, compare a driver's direct run with its proxied
 * run operation by operation, and render the table for docs/compatibility.md. No I/O here.
 */
import { isDeepStrictEqual } from 'node:util';

export type Json = null | boolean | number | string | Json[] | { [key: string]: Json };
export type Outcome = { [key: string]: Json };

export interface DriverOutput {
  client: string;
  results: { op: string; outcome: Outcome }[];
}

/** Rows in this order; operations a driver adds beyond these come before delete-bucket, sorted. */
export const OP_ORDER = [
  'create-bucket',
  'put-small',
  'put-empty',
  'put-multipart',
  'get',
  'head',
  'head-missing',
  'get-missing',
  'get-range',
  'list-v1',
  'list-v2',
  'list-paginate',
  'copy-special-keys',
  'get-special-keys',
  'delete',
  'multi-delete',
  'multi-delete-over-1000',
  'get-if-none-match',
  'get-if-modified-since',
  'tagging',
  'versioned-list',
  'non-ascii-header',
  'non-ascii-response-header',
  'dot-segment-keys',
  'presigned-put',
  'presigned-get',
  'presigned-get-missing',
  'sync-up',
  'sync-down',
  'delete-bucket',
] as const;

/** Operations whose expected answer is an error; every other one must succeed straight at RGW. */
export const EXPECTED_ERROR_OPS: ReadonlySet<string> = new Set([
  'head-missing',
  'get-missing',
  'presigned-get-missing',
  'multi-delete-over-1000',
  // A PUT with Transfer-Encoding: chunked and no length: S3 and RGW answer 411 MissingContentLength.
  'chunked-upload',
  'put-stdin-chunked',
]);
/** Conditional GETs succeed with 304, which CLIs report as a non-zero exit. */
const NOT_MODIFIED_OPS: ReadonlySet<string> = new Set(['get-if-none-match', 'get-if-modified-since']);

function isObject(v: Json | undefined): v is { [key: string]: Json } {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Parses a driver's stdout: exactly one JSON document of the contract's shape. */
export function parseDriverOutput(stdout: string): DriverOutput {
  let doc: Json;
  try {
    doc = JSON.parse(stdout) as Json;
  } catch (err) {
    throw new Error(`stdout is not one JSON document (${(err as Error).message}): ${stdout.slice(0, 300)}`, {
      cause: err,
    });
  }
  if (!isObject(doc) || typeof doc.client !== 'string' || !Array.isArray(doc.results)) {
    throw new Error(`stdout is not {"client", "results"}: ${stdout.slice(0, 300)}`);
  }
  const results = doc.results.map((r, i) => {
    if (!isObject(r) || typeof r.op !== 'string' || !isObject(r.outcome)) {
      throw new Error(`results[${i}] is not {"op", "outcome"}: ${JSON.stringify(r).slice(0, 200)}`);
    }
    return { op: r.op, outcome: r.outcome };
  });
  return { client: doc.client, results };
}

/** Replaces every occurrence of the run's bucket names in strings (keys included) by `<bucket>`. */
export function normalizeBuckets<T>(value: T, buckets: readonly string[]): T {
  const fix = (s: string): string => buckets.reduce((acc, b) => acc.split(b).join('<bucket>'), s);
  const walk = (v: Json): Json => {
    if (typeof v === 'string') return fix(v);
    if (Array.isArray(v)) return v.map(walk);
    if (isObject(v)) return Object.fromEntries(Object.entries(v).map(([k, x]) => [fix(k), walk(x)]));
    return v;
  };
  return walk(value as Json) as T;
}

/**
 * True when `outcome` is an error. An outcome with its own status (or exit code, or exception) is judged by
 * it alone: `{status: 204, "head-after": {status: 404}}` is a successful delete. A composite outcome (steps
 * under names) is an error when a step failed at the server: HTTP >= 400 other than 404, or a non-zero exit.
 * A 404 inside a composite shows that something is gone; an exception inside one is the client refusing a
 * value before sending anything; both are part of what the op records.
 */
export function isErrorOutcome(op: string, outcome: Json): boolean {
  if (!isObject(outcome)) return false;
  if (NOT_MODIFIED_OPS.has(op) && isNotModified(outcome)) return false;
  if (hasOwnStatus(outcome)) {
    return (
      'exception' in outcome ||
      (typeof outcome.status === 'number' && outcome.status >= 400) ||
      (typeof outcome.exit === 'number' && outcome.exit !== 0)
    );
  }
  return Object.values(outcome).some((x) => stepFailed(op, x));
}

function stepFailed(op: string, step: Json): boolean {
  if (Array.isArray(step)) return step.some((x) => stepFailed(op, x));
  if (!isObject(step)) return false;
  if (NOT_MODIFIED_OPS.has(op) && isNotModified(step)) return false;
  if (hasOwnStatus(step)) {
    return (
      (typeof step.status === 'number' && step.status >= 400 && step.status !== 404) ||
      (typeof step.exit === 'number' && step.exit !== 0)
    );
  }
  return Object.values(step).some((x) => stepFailed(op, x));
}

function isNotModified(o: { [key: string]: Json }): boolean {
  if (o.status === 304) return true;
  const said = `${typeof o.code === 'string' ? o.code : ''} ${typeof o.error === 'string' ? o.error : ''}`;
  return typeof o.exit === 'number' && /\b304\b|not ?modified/i.test(said);
}

/**
 * A difference that is not the proxy's doing: pinned to the exact outcomes on both sides (any other outcome
 * is still a failure) and explained under the table.
 */
export interface KnownDifference {
  client: string;
  op: string;
  direct: Outcome;
  proxied: Outcome;
  reason: string;
}

export const KNOWN_DIFFERENCES: readonly KnownDifference[] = [
  {
    client: 'http.client',
    op: 'repeated-header',
    // RGW refuses a header sent on two lines and signed as SigV4 combines it (`one,two`): it keeps the last.
    direct: { put: { status: 403, code: 'SignatureDoesNotMatch' }, head: { status: 404, code: null } },
    // The proxy sends one line, `one,two` (RFC 9110 5.3), signed as such; S3 would store the same value.
    proxied: {
      put: {
        status: 200,
        etag: '"810d2233ad75a602c921cea08bca312b"',
        'content-length': '0',
        'has-last-modified': false,
      },
      head: {
        status: 200,
        etag: '"810d2233ad75a602c921cea08bca312b"',
        'content-length': '8',
        'content-type': 'binary/octet-stream',
        'has-last-modified': true,
        'x-amz-meta-r': 'one,two',
      },
    },
    reason:
      'RGW keeps only the last line of a header sent twice, so a request signed as SigV4 combines the lines ' +
      '(`one,two`) fails straight at RGW. The proxy forwards one line with the values joined by `,` ' +
      '(RFC 9110 §5.3), signed as such, and RGW stores `one,two`, which is what S3 stores for the direct request.',
  },
];

function knownDifference(
  client: string,
  op: string,
  direct?: Outcome,
  proxied?: Outcome,
): string | undefined {
  const known = KNOWN_DIFFERENCES.find((k) => k.client === client && k.op === op);
  if (!known) return undefined;
  return isDeepStrictEqual(direct, known.direct) && isDeepStrictEqual(proxied, known.proxied)
    ? known.reason
    : undefined;
}

export interface Comparison {
  op: string;
  /** Undefined when that run did not report the operation. */
  direct?: Outcome;
  proxied?: Outcome;
  equal: boolean;
  /** The operation must succeed but failed straight at RGW: equal outcomes would prove nothing. */
  directFailed: boolean;
  /** Set when the outcomes are exactly a KNOWN_DIFFERENCES entry: its reason. */
  known?: string;
}

/** Per operation, in the direct run's order (then any only the proxied run has); `#2` marks a repeat. */
export function compareRuns(direct: DriverOutput, proxied: DriverOutput): Comparison[] {
  const index = (out: DriverOutput): Map<string, Outcome> => {
    const m = new Map<string, Outcome>();
    for (const { op, outcome } of out.results) {
      let name = op;
      for (let n = 2; m.has(name); n++) name = `${op}#${n}`;
      m.set(name, outcome);
    }
    return m;
  };
  const d = index(direct);
  const p = index(proxied);
  const ops = [...d.keys(), ...[...p.keys()].filter((op) => !d.has(op))];
  return ops.map((op) => {
    const dOut = d.get(op);
    const pOut = p.get(op);
    const base = op.replace(/#\d+$/, '');
    const known = knownDifference(direct.client, op, dOut, pOut);
    return {
      op,
      ...(dOut ? { direct: dOut } : {}),
      ...(pOut ? { proxied: pOut } : {}),
      ...(known ? { known } : {}),
      equal: dOut !== undefined && pOut !== undefined && isDeepStrictEqual(dOut, pOut),
      directFailed: dOut !== undefined && !EXPECTED_ERROR_OPS.has(base) && isErrorOutcome(base, dOut),
    };
  });
}

/** A short status of one outcome: `200`, `404 NoSuchKey`, `exit 1 NoSuchKey`, `TypeError`. */
export function brief(outcome: Json | undefined, withCode = true): string {
  if (outcome === undefined) return 'not run';
  if (!isObject(outcome)) return JSON.stringify(outcome).slice(0, 40);
  const code = [outcome.code, outcome.error].find((x): x is string => typeof x === 'string');
  const suffix = withCode && code ? ` ${code.slice(0, 40)}` : '';
  if (typeof outcome.exception === 'string') return outcome.exception;
  if (typeof outcome.status === 'number') return `${outcome.status}${outcome.status >= 300 ? suffix : ''}`;
  if (typeof outcome.exit === 'number') return `exit ${outcome.exit}${outcome.exit !== 0 ? suffix : ''}`;
  // A composite outcome: the distinct statuses of its steps.
  const seen = new Set<string>();
  const walk = (v: Json): void => {
    if (Array.isArray(v)) v.forEach(walk);
    else if (isObject(v)) {
      if (typeof v.status === 'number' || typeof v.exit === 'number' || typeof v.exception === 'string') {
        seen.add(brief(v, false));
      } else Object.values(v).forEach(walk);
    }
  };
  walk(outcome);
  return [...seen].sort().join('/');
}

export interface Difference {
  /** Dotted path into the outcome; '' for the outcome itself. */
  path: string;
  /** `direct → proxied`, each shortened. */
  detail: string;
  /** True when the two sides got different statuses (or exit codes, or exceptions) there. */
  status: boolean;
}

/** Where two outcomes first differ, or undefined when they are equal. */
export function firstDifference(
  direct: Json | undefined,
  proxied: Json | undefined,
  path = '',
): Difference | undefined {
  if (isDeepStrictEqual(direct, proxied)) return undefined;
  if (isObject(direct) && isObject(proxied)) {
    const own = [hasOwnStatus(direct), hasOwnStatus(proxied)];
    // Different statuses, or one side failed as a whole where the other has steps: the status tells.
    if ((own[0] && own[1] && brief(direct) !== brief(proxied)) || own[0] !== own[1]) {
      return { path, detail: `${brief(direct)} → ${brief(proxied)}`, status: true };
    }
    for (const k of new Set([...Object.keys(direct), ...Object.keys(proxied)])) {
      const d = firstDifference(direct[k], proxied[k], path === '' ? k : `${path}.${k}`);
      if (d) return d;
    }
  }
  if (Array.isArray(direct) && Array.isArray(proxied) && direct.length === proxied.length) {
    for (let i = 0; i < direct.length; i++) {
      const d = firstDifference(direct[i], proxied[i], `${path}[${i}]`);
      if (d) return d;
    }
  }
  const status = (isObject(direct) && hasOwnStatus(direct)) || (isObject(proxied) && hasOwnStatus(proxied));
  return { path, detail: `${short(direct)} → ${short(proxied)}`, status };
}

function hasOwnStatus(o: { [key: string]: Json }): boolean {
  return typeof o.status === 'number' || typeof o.exit === 'number' || typeof o.exception === 'string';
}

function short(v: Json | undefined): string {
  if (v === undefined) return 'absent';
  if (isObject(v) && hasOwnStatus(v)) return brief(v);
  const s = JSON.stringify(v);
  return s.length > 40 ? `${s.slice(0, 37)}...` : s;
}

/** One driver's column: its comparisons, or why it did not run (or did not finish both runs). */
export interface Column {
  id: string;
  label: string;
  comparisons: Comparison[];
  /** Set when the driver is missing, crashed or printed no valid document on either run. */
  failure?: string;
}

/** The table cell for one comparison. */
export function cell(c: Comparison | undefined): string {
  if (!c) return '–';
  if (c.direct === undefined || c.proxied === undefined) {
    return `✗ ${c.direct === undefined ? 'only proxied' : 'missing proxied'}`;
  }
  if (c.known) return `≠ ${brief(c.direct)} → ${brief(c.proxied)} (not the proxy: see below)`;
  if (c.directFailed) return `✗ fails direct: ${brief(c.direct)}`;
  if (c.equal) {
    const b = brief(c.direct, false);
    return b === '' ? '✓' : `✓ ${b}`;
  }
  const d = firstDifference(c.direct, c.proxied);
  if (!d) return '✗';
  const text = d.status
    ? `${d.path === '' ? '' : `${d.path}: `}${d.detail}`
    : `${d.path || 'outcome'} differs`;
  return `✗ ${text.length > MAX_REASON ? `${text.slice(0, MAX_REASON - 1)}…` : text}`;
}

/** Longest reason a table cell shows; the test's message has the whole outcomes. */
const MAX_REASON = 60;

/** What the test asserts, per column: one line per problem, with both outcomes in full. */
export function problems(column: Column): string[] {
  if (column.failure) return [`${column.id}: ${column.failure}`];
  return column.comparisons
    .filter((c) => c.known === undefined && (!c.equal || c.directFailed))
    .map((c) => {
      const d = firstDifference(c.direct, c.proxied);
      const where = d ? `\n  first difference at ${d.path || 'the outcome'}: ${d.detail}` : '';
      return `${column.id} ${c.op}: ${cell(c)}${where}\n  direct:  ${JSON.stringify(c.direct)}\n  proxied: ${JSON.stringify(c.proxied)}`;
    });
}

function sortOps(ops: Iterable<string>): string[] {
  const rank = (op: string): number => {
    const i = (OP_ORDER as readonly string[]).indexOf(op.replace(/#\d+$/, ''));
    return i === -1 ? OP_ORDER.indexOf('delete-bucket') - 0.5 : i;
  };
  return [...new Set(ops)].sort((a, b) => rank(a) - rank(b) || a.localeCompare(b));
}

function escapeCell(s: string): string {
  return s.replace(/\|/g, '\\|').replace(/\s*\n\s*/g, ' ');
}

/** The Markdown table (one row per operation, one column per client) and its legend. */
export function renderMatrix(columns: readonly Column[]): string {
  const ops = sortOps(columns.flatMap((c) => c.comparisons.map((x) => x.op)));
  const lines = [
    `| operation | ${columns.map((c) => escapeCell(c.failure ? `${c.label} (not run)` : c.label)).join(' | ')} |`,
    `| --- | ${columns.map(() => '---').join(' | ')} |`,
  ];
  for (const op of ops) {
    const cells = columns.map((c) => (c.failure ? '?' : cell(c.comparisons.find((x) => x.op === op))));
    lines.push(`| ${escapeCell(op)} | ${cells.map(escapeCell).join(' | ')} |`);
  }
  const notRun = columns.filter((c) => c.failure);
  const known = columns.flatMap((c) =>
    c.comparisons.filter((x) => x.known).map((x) => `- ${escapeCell(c.label)}, ${x.op}: ${x.known}`),
  );
  return [
    ...lines,
    '',
    '`✓ 200`: the same outcome straight at RGW and through the proxy (the HTTP status, or a CLI’s exit code). ' +
      '`✗`: the outcomes differ (first difference shown as direct → proxied), or the operation failed ' +
      'straight at RGW. `≠`: a difference that is not the proxy’s, pinned to the exact outcomes both ways ' +
      'and explained below. `–`: the client does not offer the operation.',
    ...(known.length > 0 ? ['', ...known] : []),
    ...(notRun.length > 0
      ? ['', ...notRun.map((c) => `- ${escapeCell(c.label)} did not run: ${escapeCell(c.failure ?? '')}`)]
      : []),
  ].join('\n');
}

export const BEGIN_MARKER = '<!-- matrix:begin -->';
export const END_MARKER = '<!-- matrix:end -->';

/** `doc` with the text between the markers replaced by `matrix`. */
export function replaceMatrix(doc: string, matrix: string): string {
  const begin = doc.indexOf(BEGIN_MARKER);
  const end = doc.indexOf(END_MARKER);
  if (begin === -1 || end === -1 || end < begin) {
    throw new Error(`the document has no ${BEGIN_MARKER} … ${END_MARKER} section`);
  }
  return `${doc.slice(0, begin + BEGIN_MARKER.length)}\n\n${matrix}\n\n${doc.slice(end)}`;
}
