/**
 * Line format of the write-ahead journal. Pure: one acknowledged write per line, JSON (keys with newlines
 * or any other character are escaped by JSON, so a line never contains a raw newline).
 */
import type { WriteEvent } from '../events';

/** Version tag: readers skip lines of a format they do not know instead of misreading them. */
const FORMAT = 1;

interface Line {
  v: number;
  b: string;
  k: string;
  t: 'put' | 'delete';
  o: string;
  a: number;
  vid?: string;
  e?: string;
  s?: number;
  ct?: string;
  cs?: Record<string, string>;
}

export function encodeJournalLine(event: WriteEvent): Buffer {
  const line: Line = {
    v: FORMAT,
    b: event.bucket,
    k: event.key,
    t: event.kind,
    o: event.operation,
    a: event.acknowledgedAt.getTime(),
  };
  if (event.versionId !== undefined) line.vid = event.versionId;
  if (event.etag !== undefined) line.e = event.etag;
  if (event.size !== undefined) line.s = event.size;
  if (event.contentType !== undefined) line.ct = event.contentType;
  if (event.checksums !== undefined) line.cs = event.checksums;
  return Buffer.from(`${JSON.stringify(line)}\n`, 'utf8');
}

const isString = (v: unknown): v is string => typeof v === 'string';

/** The event of one line (without its newline), or undefined for a torn, foreign or damaged line. */
export function decodeJournalLine(text: string): WriteEvent | undefined {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch {
    return undefined;
  }
  if (typeof raw !== 'object' || raw === null) return undefined;
  const l = raw as Partial<Line>;
  if (l.v !== FORMAT || !isString(l.b) || l.b === '' || !isString(l.k) || !isString(l.o)) return undefined;
  if (l.t !== 'put' && l.t !== 'delete') return undefined;
  if (typeof l.a !== 'number' || !Number.isFinite(l.a)) return undefined;
  const event: WriteEvent = {
    bucket: l.b,
    key: l.k,
    kind: l.t,
    operation: l.o,
    acknowledgedAt: new Date(l.a),
  };
  if (isString(l.vid)) event.versionId = l.vid;
  if (isString(l.e)) event.etag = l.e;
  if (typeof l.s === 'number' && Number.isSafeInteger(l.s) && l.s >= 0) event.size = l.s;
  if (isString(l.ct)) event.contentType = l.ct;
  if (l.cs && typeof l.cs === 'object' && Object.values(l.cs).every(isString)) event.checksums = l.cs;
  return event;
}

/**
 * Splits a chunk read from a segment into complete lines. `rest` is the byte length of the trailing
 * partial line (no newline yet), which the caller reads again with the next chunk.
 */
export function splitLines(chunk: Buffer): { lines: Buffer[]; rest: number } {
  const lines: Buffer[] = [];
  let start = 0;
  for (;;) {
    const nl = chunk.indexOf(0x0a, start);
    if (nl < 0) break;
    lines.push(chunk.subarray(start, nl));
    start = nl + 1;
  }
  return { lines, rest: chunk.length - start };
}

const SEGMENT_RE = /^segment-(\d{12})\.ndjson$/;

export function segmentFileName(id: number): string {
  return `segment-${String(id).padStart(12, '0')}.ndjson`;
}

/** Segment id of a journal file name, or undefined for any other file. */
export function segmentIdOf(fileName: string): number | undefined {
  const m = SEGMENT_RE.exec(fileName);
  return m ? Number(m[1]) : undefined;
}
