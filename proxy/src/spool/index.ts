/**
 * The upload spool (STATE_DIR/spool): single PutObject bodies kept while they stream to main, so that the
 * mirror copy reads them from there instead of reading the object back from main. Small bodies (up to
 * `memoryObjectBytes`, while `memoryBytes` in all allow) stay in memory, the others go to local disk.
 *
 * - Only a whole body the proxy really saw: PutObject, plain or aws-chunked (decoded). Multipart, copies and
 *   everything else are copied from main.
 * - Bounded: `maxBytes` of disk (block-rounded) and `maxObjectBytes` per upload; an upload that does not fit
 *   is simply not spooled. Memory: at most `totalBufferBytes` queued for the disk by all uploads together.
 * - Never in the app's way: see SpoolFile. Abandoned uploads are counted by reason.
 * - A hint, not a source of truth: the copier uses a file only when main still holds that write (ETag and
 *   size from a HEAD), and verifies the bytes against an MD5 ETag. Files are removed once used, superseded
 *   by a newer write to the key, found changed on main, or older than `maxAgeMs`; all files are removed at
 *   start (the index lives in memory) and at stop.
 */
import fs from 'node:fs';
import type { IncomingHttpHeaders } from 'node:http';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import type { Readable } from 'node:stream';

import type { WriteEvent } from '../events';
import type { Logger } from '../log';
import type { ProxyMetrics } from '../metrics';
import { md5OfEtag } from '../s3/etag';
import { SpoolBudget } from './budget';
import { DiskLane } from './disk-lane';
import { spoolFileNames, spoolSkipReason, type AbandonReason } from './plan';
import { SpoolMemoryBody } from './memory-body';
import type { SpoolEntry, SpoolEntryHost } from './spool-entry';
import { SpoolFile, type SpoolFileHost } from './spool-file';

export const SPOOL_SUBDIR = 'spool';

export interface UploadSpoolOptions {
  dir: string;
  maxBytes: number;
  maxObjectBytes: number;
  /** Memory all bodies kept in memory may hold together; 0: every spooled body goes to disk. */
  memoryBytes?: number;
  /** Largest body kept in memory (larger ones, or with `memoryBytes` used up, go to disk). */
  memoryObjectBytes?: number;
  /** A file not used within this long is removed (a copy after that reads main). */
  maxAgeMs?: number;
  /** Queued bytes per upload beyond which the disk counts as too slow and the upload is not spooled. */
  writerBufferBytes?: number;
  /** The same bound for all uploads together. */
  totalBufferBytes?: number;
  /** File operations in flight at once (threads of libuv's pool the spool may hold). */
  laneSlots?: number;
  /** How long a copy waits for the last bytes of a committed upload to reach the disk. */
  readyWaitMs?: number;
  metrics?: Pick<ProxyMetrics, 'spoolBytes' | 'spoolMemoryBytes' | 'spoolFiles' | 'spoolAbandoned'>;
  logger?: Logger;
}

// Queue bounds: measured on the development machine (local disk, 2 shared cores), a 1 Gbit/s upload queued
// up to 2.6 MiB and a 1 GB/s one up to 9 MiB at latency spikes, so a bound much below that drops healthy
// uploads. All uploads together stay within 32 MiB of memory (the sidecar's limit is 256 MiB).
// Memory is opt-in here (the proxy's configuration turns it on): 64 KiB per body, beyond which the file
// operations cost little next to the bytes.
export const SPOOL_DEFAULTS = {
  memoryBytes: 0,
  memoryObjectBytes: 64 * 1024,
  maxAgeMs: 10 * 60_000,
  writerBufferBytes: 8 * 1024 * 1024,
  totalBufferBytes: 32 * 1024 * 1024,
  laneSlots: 2,
  readyWaitMs: 5_000,
};

/** A spooled body handed to the copier. */
export interface SpooledBody {
  /** Main's ETag of the spooled write. */
  etag: string;
  size: number;
  /** Hex MD5 the bytes must have, when the ETag is one. */
  md5?: string;
  /** A fresh stream over the whole body (called again for a retry). */
  open(): Readable;
  /** The whole body, when the spool holds it in memory. */
  bytes?: Buffer;
}

/** How a copy ended for its spool file: used, or not used because main changed or the bytes did not check. */
export type SpoolOutcome = 'used' | 'changed' | 'corrupt';

export interface SpoolLease {
  body: SpooledBody;
  /** After the copy: an outcome removes the file; 'retry' (the copy failed) keeps it for the next attempt. */
  settle(outcome: SpoolOutcome | 'retry'): Promise<void>;
}

/** What the request handler needs. */
export interface UploadSpoolPort {
  /** A spool file for a PutObject body of `payloadLength` bytes, or undefined (counted) when not spooled. */
  begin(
    bucket: string,
    key: string,
    payloadLength: number | undefined,
    headers: IncomingHttpHeaders,
  ): SpoolEntry | undefined;
  /** Main answered a PutObject with 2xx: the entry (if any) becomes the key's, an older one is superseded. */
  acknowledge(
    file: SpoolEntry | undefined,
    bucket: string,
    key: string,
    response: Record<string, string | string[] | undefined>,
  ): void;
}

const first = (v: string | string[] | undefined): string | undefined => (Array.isArray(v) ? v[0] : v);
const indexKey = (bucket: string, key: string): string => `${bucket}\u0000${key}`;

/** Tracked operations that leave the object's bytes (and ETag) as they are. */
const tagOnly = new Set(['PutObjectTagging', 'DeleteObjectTagging']);

export class UploadSpool implements UploadSpoolPort {
  private readonly budget: SpoolBudget;
  private readonly host: SpoolFileHost;
  private readonly memoryHost: SpoolEntryHost<SpoolMemoryBody>;
  private memoryUsed = 0;
  /** The latest committed upload per key. */
  private readonly index = new Map<string, SpoolEntry>();
  private readonly live = new Set<SpoolEntry>();
  private readonly prefix = randomBytes(4).toString('hex');
  private seq = 0;
  private closed = false;
  private sweeper: NodeJS.Timeout | undefined;
  private lastErrorLog = 0;
  private readonly opts: Required<Omit<UploadSpoolOptions, 'metrics' | 'logger'>> &
    Pick<UploadSpoolOptions, 'metrics' | 'logger'>;

  private constructor(opts: UploadSpoolOptions) {
    this.opts = { ...SPOOL_DEFAULTS, ...opts };
    this.budget = new SpoolBudget(opts.maxBytes, opts.maxObjectBytes);
    this.host = {
      lane: new DiskLane(this.opts.laneSlots),
      buffered: { bytes: 0 },
      writerBufferBytes: this.opts.writerBufferBytes,
      totalBufferBytes: this.opts.totalBufferBytes,
      onGone: (file, reason, error) => this.gone(file, reason, error),
      onReleased: (file) => {
        this.budget.release(file.diskBytes);
        this.opts.metrics?.spoolBytes.set(this.budget.used);
      },
    };
    this.memoryHost = {
      onGone: (body, reason, error) => this.gone(body, reason, error),
      onReleased: (body) => {
        this.memoryUsed -= body.size;
        this.opts.metrics?.spoolMemoryBytes.set(this.memoryUsed);
      },
    };
  }

  /**
   * Creates the directory and removes every file in it: leftovers of a previous run (a `.part` cut by a
   * kill, or a `.body` whose index died with the process) are never trusted. Throws when the directory
   * cannot be prepared.
   */
  static open(opts: UploadSpoolOptions): { spool: UploadSpool; leftovers: number } {
    fs.mkdirSync(opts.dir, { recursive: true, mode: 0o700 });
    let leftovers = 0;
    for (const name of fs.readdirSync(opts.dir)) {
      fs.rmSync(path.join(opts.dir, name), { recursive: true, force: true });
      leftovers++;
    }
    const spool = new UploadSpool(opts);
    const every = Math.max(1_000, Math.min(30_000, spool.opts.maxAgeMs / 4));
    spool.sweeper = setInterval(() => spool.sweep(), every);
    spool.sweeper.unref();
    spool.opts.metrics?.spoolBytes.set(0);
    spool.opts.metrics?.spoolMemoryBytes.set(0);
    spool.opts.metrics?.spoolFiles.set(0);
    return { spool, leftovers };
  }

  begin(
    bucket: string,
    key: string,
    payloadLength: number | undefined,
    headers: IncomingHttpHeaders,
  ): SpoolEntry | undefined {
    if (this.closed) return undefined;
    const skip = spoolSkipReason(headers, payloadLength);
    if (skip) return this.refused(skip);
    const size = payloadLength!;
    const memoryObjectBytes = Math.min(this.opts.memoryObjectBytes, this.opts.maxObjectBytes);
    if (size <= memoryObjectBytes && this.memoryUsed + size <= this.opts.memoryBytes) {
      this.memoryUsed += size;
      this.opts.metrics?.spoolMemoryBytes.set(this.memoryUsed);
      return this.added(new SpoolMemoryBody(this.memoryHost, bucket, key, size));
    }
    const room = this.budget.reserve(size);
    if (!room.ok) return this.refused(room.reason);
    const names = spoolFileNames(this.prefix, ++this.seq);
    const file = new SpoolFile(
      this.host,
      bucket,
      key,
      size,
      room.bytes,
      path.join(this.opts.dir, names.part),
      path.join(this.opts.dir, names.body),
    );
    this.opts.metrics?.spoolBytes.set(this.budget.used);
    return this.added(file);
  }

  private added(entry: SpoolEntry): SpoolEntry {
    this.live.add(entry);
    this.opts.metrics?.spoolFiles.set(this.live.size);
    return entry;
  }

  acknowledge(
    file: SpoolEntry | undefined,
    bucket: string,
    key: string,
    response: Record<string, string | string[] | undefined>,
  ): void {
    const etag = first(response.etag);
    const k = indexKey(bucket, key);
    const previous = this.index.get(k);
    if (file && etag && file.commit(etag, md5OfEtag(etag, first(response['x-amz-server-side-encryption'])))) {
      this.index.set(k, file);
    } else {
      file?.drop('not_stored');
      this.index.delete(k);
    }
    if (previous && previous !== file) previous.drop('superseded');
  }

  /**
   * Every acknowledged write passes here. A copy, multipart completion or delete replaces the key's bytes
   * without the spool: its file is superseded. (A PutObject is handled by `acknowledge`.)
   */
  noteEvent(event: WriteEvent): void {
    if (event.operation === 'PutObject' || tagOnly.has(event.operation)) return;
    this.forget(event.bucket, event.key);
  }

  forget(bucket: string, key: string): void {
    const k = indexKey(bucket, key);
    const file = this.index.get(k);
    if (!file) return;
    this.index.delete(k);
    file.drop('superseded');
  }

  /**
   * The key's spooled body for a mirror copy, once it is completely on disk; undefined when there is none
   * (or it does not become ready within `readyWaitMs`).
   */
  async take(bucket: string, key: string): Promise<SpoolLease | undefined> {
    const file = this.index.get(indexKey(bucket, key));
    if (!file) return undefined;
    let timer: NodeJS.Timeout | undefined;
    const ready = await Promise.race([
      file.whenReady(),
      new Promise<false>((resolve) => (timer = setTimeout(() => resolve(false), this.opts.readyWaitMs))),
    ]).finally(() => clearTimeout(timer));
    if (!ready) return undefined;
    const reader = await file.openReader();
    if (!reader) return undefined;
    return {
      body: {
        etag: file.etag!,
        size: file.size,
        ...(file.md5 ? { md5: file.md5 } : {}),
        open: reader.open,
        ...(reader.bytes ? { bytes: reader.bytes } : {}),
      },
      settle: async (outcome) => {
        if (outcome !== 'retry') file.drop(outcome === 'used' ? undefined : outcome);
        await reader.close();
      },
    };
  }

  /** Removes files older than `maxAgeMs` that no copy is reading. */
  sweep(now = Date.now()): void {
    for (const file of [...this.index.values()]) {
      if (file.committedAt > 0 && now - file.committedAt > this.opts.maxAgeMs) {
        this.index.delete(indexKey(file.bucket, file.key));
        file.drop('stale');
      }
    }
  }

  stats(): { bytes: number; memoryBytes: number; files: number; committed: number; bufferedBytes: number } {
    return {
      bytes: this.budget.used,
      memoryBytes: this.memoryUsed,
      files: this.live.size,
      committed: this.index.size,
      bufferedBytes: this.host.buffered.bytes,
    };
  }

  /** Drops every file and waits (bounded) until they are gone from disk. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    if (this.sweeper) clearInterval(this.sweeper);
    this.index.clear();
    for (const file of [...this.live]) file.drop(undefined);
    const deadline = Date.now() + 5_000;
    while (this.host.lane.busy > 0 && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 10));
    }
  }

  private refused(reason: AbandonReason): undefined {
    this.opts.metrics?.spoolAbandoned.inc({ reason });
    return undefined;
  }

  private gone(file: SpoolEntry, reason: AbandonReason | undefined, error: unknown): void {
    this.live.delete(file);
    const k = indexKey(file.bucket, file.key);
    if (this.index.get(k) === file) this.index.delete(k);
    this.opts.metrics?.spoolFiles.set(this.live.size);
    if (reason) this.opts.metrics?.spoolAbandoned.inc({ reason });
    if (reason === 'disk_error' && Date.now() - this.lastErrorLog > 10_000) {
      this.lastErrorLog = Date.now();
      this.opts.logger?.warn('upload spool: disk error, upload not spooled (its copy reads main)', {
        error: error instanceof Error ? error.message : String(error),
      });
    }
  }
}

export { SpoolFile } from './spool-file';
export type { SpoolEntry } from './spool-entry';
