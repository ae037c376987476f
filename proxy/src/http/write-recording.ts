/**
 * Recording what an acknowledged write changed, from main's answer: its headers, or its (held) body for
 * the operations that name their result in it (copies, completions, DeleteObjects).
 */
import type { IncomingMessage } from 'node:http';
import type { Readable } from 'node:stream';
import { StringDecoder } from 'node:string_decoder';
import type { Dispatcher } from 'undici';

import type { WriteEvent, WriteSink } from '../events';
import type { S3Operation } from '../s3/operation';
import type { RequestTarget } from '../s3/request-target';
import { isErrorDocument } from '../s3/response-body';
import { failedKeys, type DeleteRequestKeys } from '../tracking/delete-request';
import type { HeldBody } from '../tracking/response-hold';
import {
  DeletedEntryScanner,
  deletedEvents,
  eventsFromBody,
  provisionalEvent,
  type RequestFacts,
} from '../tracking/write-events';
import type { UpstreamBody } from './request-body';
import { discard, header } from './response-writing';

/** What the request itself says about the object written (length, type, checksums the app sent). */
export function requestFacts(req: IncomingMessage, body: UpstreamBody): RequestFacts {
  const facts: RequestFacts = {};
  if (body.contentLength !== undefined) facts.contentLength = body.contentLength;
  const contentType = header(req, 'content-type');
  if (contentType) facts.contentType = contentType;
  const checksums: Record<string, string> = { ...(body.decoder?.verifiedChecksums() ?? {}) };
  for (const [name, value] of Object.entries(req.headers)) {
    const alg = /^x-amz-checksum-(crc32|crc32c|crc64nvme|sha1|sha256)$/.exec(name)?.[1];
    if (alg && typeof value === 'string') checksums[alg.toUpperCase()] = value;
  }
  if (Object.keys(checksums).length > 0) facts.checksums = checksums;
  return facts;
}

/** Tracking of the part of a response body relayed after the hold (DeleteObjects entries read on the way). */
export interface BodyTracking {
  onChunk?: (chunk: Buffer) => void;
  /** After the last byte was relayed (or the relay failed). */
  finish(): void;
}

/**
 * Records what a tracked response body says was written. The whole (small) body is normally read before
 * the app gets the status. Past the hold's bounds the status goes out: a copy or completion is then
 * recorded at once (provisionally), and DeleteObjects entries as they are relayed.
 */
export function recordHeldBody(
  op: S3Operation,
  target: RequestTarget,
  upstream: Dispatcher.ResponseData,
  held: HeldBody,
  sink: WriteSink,
  requested: DeleteRequestKeys | undefined,
): BodyTracking {
  const recorded = new Set<string>();
  const record = (events: WriteEvent[]): void => {
    for (const event of events) {
      recorded.add(event.key);
      sink.record(event);
    }
  };
  // Keys the request named that the answer did not list as deleted: all of them in quiet mode (S3 lists
  // only failures then). Failed keys are left out when known; recording one anyway would only cost a copy
  // of main's unchanged state (the copier is level-triggered).
  const recordUnlisted = (failed: Set<string>): void => {
    if (!requested) return;
    requested.end();
    const rest = requested.keys.filter((k) => !recorded.has(k) && !failed.has(k));
    record(
      deletedEvents(
        op,
        target.bucket!,
        [...new Set(rest)].map((key) => ({ key })),
      ),
    );
  };
  if (held.ended) {
    const text = Buffer.concat(held.chunks).toString('utf8');
    record(eventsFromBody(op, target, upstream.headers, text));
    if (op.tracks === 'multi-delete' && !isErrorDocument(text)) recordUnlisted(failedKeys(text));
    return { finish: () => undefined };
  }
  if (op.tracks === 'multi-delete') {
    const scanner = new DeletedEntryScanner();
    const decoder = new StringDecoder('utf8');
    const scan = (text: string): void => record(deletedEvents(op, target.bucket!, scanner.push(text)));
    for (const chunk of held.chunks) scan(decoder.write(chunk));
    return {
      onChunk: (chunk) => scan(decoder.write(chunk)),
      finish: () => {
        scan(decoder.end());
        recordUnlisted(new Set());
      },
    };
  }
  const provisional = provisionalEvent(op, target, upstream.headers);
  if (provisional) sink.record(provisional);
  return { finish: () => undefined };
}

/** Reads what is left of main's answer for tracking only, when the app is gone. */
export function finishWithoutApp(
  source: Readable,
  held: HeldBody | undefined,
  tracking: BodyTracking | undefined,
): void {
  if (held && !held.ended && tracking?.onChunk) {
    let finished = false;
    const finish = (): void => {
      if (!finished) tracking.finish();
      finished = true;
    };
    source.on('data', tracking.onChunk).once('end', finish).once('error', finish);
    source.resume();
    return;
  }
  tracking?.finish();
  discard(source);
}
