/**
 * A GET or HEAD that main failed, answered from the mirror when the rules allow it (mirror/failover-rules.ts).
 * Called only before any byte of an answer went to the app; streams the mirror's body, never buffers it.
 */
import type { ServerResponse } from 'node:http';
import type { Readable } from 'node:stream';

import type { KeyRow } from '../inventory/repository';
import type { MirrorBucketName } from '../mirror/bucket-name';
import {
  failoverAnswerHeaders,
  mirrorAnswerMatches,
  mirrorRequestHeaders,
  rowRefusal,
  type FailoverRefusal,
  type FailoverResult,
} from '../mirror/failover-rules';
import type { S3Http } from '../mirror/s3-http';
import { downstreamResponseHeaders } from '../s3/forward-headers';
import { relayBody } from './relay-body';
import { discard, writeResponseHead } from './response-writing';

/** What the inventory knows of a key, as seen by this sidecar. */
export interface FailoverInventory {
  postgresReachable(): boolean;
  /** A write of the key may not be in Postgres yet (this sidecar's queue or journal). */
  mayHoldWrite(bucket: string, key: string): boolean;
  keyRow(bucket: string, key: string): Promise<KeyRow | undefined>;
}

export interface FailoverDeps {
  inventory: FailoverInventory;
  mirror: S3Http;
  mirrorBucket: MirrorBucketName;
}

export interface FailoverRead {
  method: 'GET' | 'HEAD';
  bucket: string;
  key: string;
  query: readonly [string, string | null][];
  headers: Record<string, string | string[] | undefined>;
  signal: AbortSignal;
}

/**
 * Serves `read` from the mirror into `res`, or refuses without touching `res`; `decided` hears the result
 * once, before any byte goes out. `countOut` sees every body chunk sent. Resolves once the answer is
 * complete (a body that breaks off mid-way cuts the app's response and rejects: it cannot turn into an
 * error any more).
 */
export async function serveFromMirror(
  deps: FailoverDeps,
  read: FailoverRead,
  res: ServerResponse,
  hooks: { decided(result: FailoverResult): void; countOut(chunk: Buffer): void },
): Promise<FailoverResult> {
  const result = await openFromMirror(deps, read);
  hooks.decided(typeof result === 'string' ? result : 'served');
  if (typeof result === 'string') return result;
  writeResponseHead(res, result.statusCode, result.headers);
  await relayBody(result.body, res, hooks.countOut);
  return 'served';
}

/** The mirror's answer ready to relay, or why there is none. */
async function openFromMirror(
  deps: FailoverDeps,
  read: FailoverRead,
): Promise<
  FailoverRefusal | { statusCode: number; headers: Record<string, string | string[]>; body: Readable }
> {
  const { inventory } = deps;
  if (!inventory.postgresReachable()) return 'postgres_down';
  if (inventory.mayHoldWrite(read.bucket, read.key)) return 'pending_write';
  let row: KeyRow | undefined;
  try {
    row = await inventory.keyRow(read.bucket, read.key);
  } catch {
    return 'postgres_down';
  }
  // Checked again: a write acknowledged while the row was read is newer than the row.
  if (inventory.mayHoldWrite(read.bucket, read.key)) return 'pending_write';
  const refusal = rowRefusal(row);
  if (refusal || !row) return refusal ?? 'not_backed_up';
  const sent = mirrorRequestHeaders(read.headers, row);
  if (!sent) return 'unsupported_request';
  let answer;
  try {
    answer = await deps.mirror.send({
      method: read.method,
      bucket: deps.mirrorBucket(read.bucket),
      key: read.key,
      query: read.query,
      headers: sent,
      signal: read.signal,
    });
  } catch {
    return 'mirror_failed';
  }
  if (!mirrorAnswerMatches(row, answer.statusCode, answer.headers)) {
    discard(answer.body);
    return answer.statusCode >= 500 || answer.statusCode === 403 ? 'mirror_failed' : 'mirror_mismatch';
  }
  const headers = failoverAnswerHeaders(downstreamResponseHeaders(answer.headers), row);
  return { statusCode: answer.statusCode, headers, body: answer.body };
}
