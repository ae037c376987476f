/**
 * Which writes main acknowledged, from its response. Pure: the handler passes main's status, headers and
 * (for CopyObject, CompleteMultipartUpload, DeleteObjects) the small XML body.
 */
import type { WriteEvent } from '../events';
import { isErrorDocument, parseDeletedKeys, unescapeXml, type DeletedEntry } from '../s3/response-body';
import type { S3Operation } from '../s3/operation';
import type { RequestTarget } from '../s3/request-target';

/** Operations whose response body decides what was written. */
export const BODY_TRACKED_OPERATIONS: ReadonlySet<string> = new Set([
  'CopyObject',
  'CompleteMultipartUpload',
  'DeleteObjects',
]);

type Headers = Record<string, string | string[] | undefined>;

const first = (v: string | string[] | undefined): string | undefined => (Array.isArray(v) ? v[0] : v);

/** What the proxy learnt about the request body on its way to main (PutObject only). */
export interface RequestFacts {
  contentLength?: number;
  contentType?: string;
  /** Verified trailer checksums plus x-amz-checksum-* headers, by upper-case algorithm. */
  checksums?: Record<string, string>;
}

/** True when the request may have changed an object: a tracked operation answered with 2xx. */
export function isTrackedSuccess(op: S3Operation, status: number): boolean {
  if (op.tracks === undefined) return false;
  // A form upload with success_action_redirect answers 303 once the object is stored.
  return (status >= 200 && status <= 299) || (op.name === 'PostObject' && status === 303);
}

function objectEvent(
  op: S3Operation,
  target: RequestTarget,
  headers: Headers,
  acknowledgedAt: Date,
): WriteEvent {
  const event: WriteEvent = {
    bucket: target.bucket!,
    key: target.key!,
    kind: op.tracks === 'delete' ? 'delete' : 'put',
    operation: op.name,
    acknowledgedAt,
  };
  const versionId = first(headers['x-amz-version-id']) ?? target.query.find(([n]) => n === 'versionId')?.[1];
  if (versionId) event.versionId = versionId;
  return event;
}

/** Events of a tracked operation whose response headers are enough (everything but BODY_TRACKED ones). */
export function eventsFromHeaders(
  op: S3Operation,
  target: RequestTarget,
  headers: Headers,
  request: RequestFacts,
  acknowledgedAt = new Date(),
): WriteEvent[] {
  const event = objectEvent(op, target, headers, acknowledgedAt);
  if (op.name === 'PutObject' || op.name === 'PostObject') {
    const etag = first(headers.etag);
    if (etag) event.etag = etag;
  }
  if (op.name === 'PutObject') {
    if (request.contentLength !== undefined) event.size = request.contentLength;
    if (request.contentType) event.contentType = request.contentType;
    if (request.checksums && Object.keys(request.checksums).length > 0) event.checksums = request.checksums;
  }
  return [event];
}

/**
 * Events of CopyObject / CompleteMultipartUpload (one put, with the ETag of the result) and DeleteObjects
 * (one delete per key reported deleted). None when the body is an error document.
 */
export function eventsFromBody(
  op: S3Operation,
  target: RequestTarget,
  headers: Headers,
  body: string,
  acknowledgedAt = new Date(),
): WriteEvent[] {
  if (isErrorDocument(body)) return [];
  if (op.tracks === 'multi-delete')
    return deletedEvents(op, target.bucket!, parseDeletedKeys(body), acknowledgedAt);
  const event = objectEvent(op, target, headers, acknowledgedAt);
  const etag = /<ETag>([\s\S]*?)<\/ETag>/.exec(body)?.[1];
  if (etag) event.etag = unescapeXml(etag);
  return [event];
}

/**
 * A put recorded before the body is known, when main keeps a CopyObject or CompleteMultipartUpload
 * response open (S3 sends whitespace while a long one runs). Recording a write that then fails costs one
 * idempotent mirror pass of main's unchanged state; not recording one that succeeds would lose it.
 */
export function provisionalEvent(
  op: S3Operation,
  target: RequestTarget,
  headers: Headers,
  acknowledgedAt = new Date(),
): WriteEvent | undefined {
  if (op.tracks !== 'put') return undefined;
  return objectEvent(op, target, headers, acknowledgedAt);
}

/**
 * Events of a write whose answer never arrived (reset, timeout) after main got the whole request: main may
 * have carried it out. Recording it costs at most one mirror pass of main's unchanged state (the copier
 * reads main's current state); not recording one that happened would lose it.
 */
export function uncertainEvents(
  op: S3Operation,
  target: RequestTarget,
  deleteRequestKeys: readonly string[] | undefined,
  acknowledgedAt = new Date(),
): WriteEvent[] {
  if (op.tracks === 'multi-delete') {
    const keys = [...new Set(deleteRequestKeys ?? [])];
    return deletedEvents(
      op,
      target.bucket!,
      keys.map((key) => ({ key })),
      acknowledgedAt,
    );
  }
  if (op.tracks === undefined || target.bucket === undefined || target.key === undefined) return [];
  return [objectEvent(op, target, {}, acknowledgedAt)];
}

export function deletedEvents(
  op: S3Operation,
  bucket: string,
  entries: DeletedEntry[],
  acknowledgedAt = new Date(),
): WriteEvent[] {
  return entries.map((d) => ({
    bucket,
    key: d.key,
    kind: 'delete' as const,
    operation: op.name,
    acknowledgedAt,
    ...(d.versionId ? { versionId: d.versionId } : {}),
  }));
}

/**
 * Finds complete <Deleted> elements in a DeleteObjects result that arrives in pieces, keeping only the
 * unfinished tail: memory stays bounded by one element however long the body is.
 */
export class DeletedEntryScanner {
  private tail = '';

  push(text: string): DeletedEntry[] {
    this.tail += text;
    const end = this.tail.lastIndexOf('</Deleted>');
    let entries: DeletedEntry[] = [];
    if (end >= 0) {
      const cut = end + '</Deleted>'.length;
      entries = parseDeletedKeys(this.tail.slice(0, cut));
      this.tail = this.tail.slice(cut);
    }
    const open = this.tail.lastIndexOf('<Deleted>');
    // Outside an element only a possible partial opening tag needs keeping.
    if (open >= 0) this.tail = this.tail.slice(open);
    else this.tail = this.tail.slice(-'<Deleted'.length);
    return entries;
  }
}
