/**
 * When a GET or HEAD that main failed may be answered from the mirror, and how. Pure. The rule: only when
 * the mirror holds exactly what the inventory last recorded as backed up for the key, so an app never
 * reads an older state than one main could have given it (docs/failover-reads.md).
 */
import type { KeyRow } from '../inventory/repository';
import type { S3Operation } from '../s3/operation';
import type { RequestTarget } from '../s3/request-target';

/** Marks an answer served from the mirror. */
export const SERVED_FROM_HEADER = 'x-s3-mirror-served-from';

/** Why a failed read was not served from the mirror (the metric's `result` label besides `served`). */
export type FailoverRefusal =
  /** A write of the key may still be on its way to Postgres (this sidecar's memory queue or journal). */
  | 'pending_write'
  /** Postgres is unreachable: what is backed up cannot be known. */
  | 'postgres_down'
  /** No row, a row not (yet) backed up, or a deleted key. */
  | 'not_backed_up'
  /** A conditional request the mirror's copy cannot answer as main would. */
  | 'unsupported_request'
  /** The mirror's answer is not the recorded object (another ETag or size), or not an answer to relay. */
  | 'mirror_mismatch'
  /** The mirror could not be reached, or answered with an error. */
  | 'mirror_failed';

export type FailoverResult = 'served' | FailoverRefusal;

type Headers = Record<string, string | string[] | undefined>;

const first = (v: string | string[] | undefined): string | undefined => (Array.isArray(v) ? v[0] : v);

/**
 * GetObject and HeadObject of the current version, with at most response-* overrides in the query: the
 * mirror's version ids, part layout and encryption keys are its own. Requests with SSE-C keys stay on main.
 */
export function mayFailOver(op: S3Operation, target: RequestTarget, headers: Headers): boolean {
  if (op.name !== 'GetObject' && op.name !== 'HeadObject') return false;
  if (target.bucket === undefined || target.key === undefined) return false;
  if (!target.query.every(([name]) => name.startsWith('response-'))) return false;
  return !Object.keys(headers).some((h) => h.startsWith('x-amz-server-side-encryption-customer-'));
}

/** Whether the main failure means "main could not answer": an exception (connection, timeout) or a 5xx. */
export function mainFailed(statusCode: number | undefined): boolean {
  return statusCode === undefined || statusCode >= 500;
}

/** Why a row cannot be served from the mirror, or undefined when it can. */
export function rowRefusal(row: KeyRow | undefined): FailoverRefusal | undefined {
  if (!row || !row.is_backed_up || row.deleted || row.etag === null) return 'not_backed_up';
  return undefined;
}

/** The ETag the mirror's copy must carry: its own when recorded (a copy in parts), else main's. */
export function expectedMirrorEtag(row: KeyRow): string | null {
  return row.mirror_etag ?? row.etag;
}

/**
 * The headers of the mirror request: Range as sent; If-Match / If-None-Match only when the mirror's ETag
 * is main's (they compare ETags). Undefined when the request carries conditions the mirror's copy cannot
 * answer as main would: dates (the copy's Last-Modified is the copy's time), or ETags of a copy in parts.
 */
export function mirrorRequestHeaders(headers: Headers, row: KeyRow): Record<string, string> | undefined {
  if (headers['if-modified-since'] !== undefined || headers['if-unmodified-since'] !== undefined) {
    return undefined;
  }
  const out: Record<string, string> = {};
  const range = first(headers.range);
  if (range !== undefined) out.range = range;
  for (const name of ['if-match', 'if-none-match'] as const) {
    const value = first(headers[name]);
    if (value === undefined) continue;
    if (expectedMirrorEtag(row) !== row.etag) return undefined;
    out[name] = value;
  }
  return out;
}

/**
 * Whether the mirror's answer is the recorded object: 200 with its ETag and length, 206 with its ETag and
 * total length, or 304 (not modified: its ETag when given). Anything else is not relayed.
 */
export function mirrorAnswerMatches(row: KeyRow, statusCode: number, headers: Headers): boolean {
  const etag = first(headers.etag);
  const expected = expectedMirrorEtag(row);
  if (statusCode === 304) return etag === undefined || etag === expected;
  if (etag !== expected) return false;
  if (statusCode === 200) return first(headers['content-length']) === row.size;
  if (statusCode === 206) return first(headers['content-range'])?.endsWith(`/${row.size}`) === true;
  return false;
}

/**
 * The mirror's answer headers as main would have sent them: main's ETag, version id and Last-Modified
 * instead of the copy's, and the served-from mark. Hop-by-hop headers are already gone.
 */
export function failoverAnswerHeaders(
  mirrored: Record<string, string | string[]>,
  row: KeyRow,
): Record<string, string | string[]> {
  const out: Record<string, string | string[]> = { ...mirrored };
  delete out['x-amz-version-id'];
  if (row.etag !== null && out.etag !== undefined) out.etag = row.etag;
  if (row.version_id !== null) out['x-amz-version-id'] = row.version_id;
  if (out['last-modified'] !== undefined) out['last-modified'] = row.last_modified.toUTCString();
  out[SERVED_FROM_HEADER] = 'mirror';
  return out;
}
