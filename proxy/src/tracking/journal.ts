/**
 * Local write-ahead journal of acknowledged writes (STATE_DIR/journal): the proxy appends each event
 * before the app sees main's status, so a killed proxy replays what Postgres had not recorded yet.
 *
 * - Append: one synchronous write() of one line to an already open O_APPEND fd. A SIGKILL cannot lose
 *   it (the kernel holds the page); a node crash can lose what was not yet synced, which a background
 *   fdatasync at most `syncIntervalMs` after the first unsynced change bounds (a timer armed by that
 *   change: an idle journal wakes nothing). No fsync on the request path.
 * - Segments: `segment-<id>.ndjson`. A new process always appends to a new segment; older ones are only
 *   read. A segment is deleted once every entry in it is recorded in Postgres (`done`); the active one is
 *   truncated in place when it has nothing outstanding, and rotated when it reaches `segmentBytes`.
 * - Backlog: entries that are on disk but not in memory (from a previous process, or spilled while the
 *   memory queue was full) are read back in order by `readBacklog`. While a backlog exists, new entries
 *   join it, so the order of writes is kept.
 * - Bounded: beyond `maxBytes` on disk, `append` refuses (`full`); the caller counts and logs it.
 */
import fs from 'node:fs';
import path from 'node:path';

import type { WriteEvent } from '../events';
import {
  decodeJournalLine,
  encodeJournalLine,
  segmentFileName,
  segmentIdOf,
  splitLines,
} from './journal-codec';

export interface JournalOptions {
  dir: string;
  maxBytes: number;
  /** Rotate the active segment beyond this size. */
  segmentBytes: number;
  /** Background fdatasync period (0: never). */
  syncIntervalMs: number;
  /** Bytes read per backlog read. */
  readChunkBytes?: number;
  onSyncError?: (err: Error) => void;
  /** Test seam for the disk calls that can fail late; the real `fs` by default. */
  fsOps?: Partial<JournalFsOps>;
}

export interface JournalFsOps {
  fdatasync(fd: number, callback: (err: NodeJS.ErrnoException | null) => void): void;
}

const realFsOps: JournalFsOps = { fdatasync: (fd, callback) => fs.fdatasync(fd, callback) };

/** Which segment an entry handed to memory lives in; give it back with `done()` once Postgres has it. */
export type JournalTicket = number;

export type AppendResult =
  | { status: 'memory'; ticket: JournalTicket }
  | { status: 'backlog' }
  | { status: 'full' }
  | { status: 'error'; error: Error };

export interface JournalStats {
  bytes: number;
  segments: number;
  /** Entries handed to memory and not yet recorded. */
  inMemory: number;
  backlog: boolean;
  /** Lines skipped while reading back because they were torn or damaged. */
  damagedLines: number;
}

interface Segment {
  id: number;
  file: string;
  bytes: number;
  /** Entries of this segment handed to memory and not yet done. */
  inMemory: number;
  fd?: number;
}

export class WriteJournal {
  private readonly segments = new Map<number, Segment>();
  private active!: Segment;
  private totalBytes = 0;
  private inMemoryTotal = 0;
  /** First byte not yet handed to memory; undefined when memory has every entry. */
  private cursor: { segment: number; offset: number } | undefined;
  private damaged = 0;
  private dirty = false;
  private newSegment = false;
  /** Fds of rotated segments, closed after their data is synced. */
  private retiring: number[] = [];
  private syncTimer: NodeJS.Timeout | undefined;
  private syncing: Promise<void> | undefined;
  private closed = false;

  private readonly fsOps: JournalFsOps;

  private constructor(private readonly opts: JournalOptions) {
    this.fsOps = { ...realFsOps, ...opts.fsOps };
  }

  /** Opens the journal directory (created if missing); throws when it cannot be written. */
  static open(opts: JournalOptions): WriteJournal {
    const j = new WriteJournal(opts);
    fs.mkdirSync(opts.dir, { recursive: true, mode: 0o700 });
    const ids = fs
      .readdirSync(opts.dir)
      .map(segmentIdOf)
      .filter((id): id is number => id !== undefined)
      .sort((a, b) => a - b);
    for (const id of ids) {
      const file = path.join(opts.dir, segmentFileName(id));
      const bytes = fs.statSync(file).size;
      if (bytes === 0) {
        fs.rmSync(file, { force: true });
        continue;
      }
      j.segments.set(id, { id, file, bytes, inMemory: 0 });
      j.totalBytes += bytes;
    }
    const first = j.segments.keys().next();
    if (!first.done) j.cursor = { segment: first.value, offset: 0 };
    j.openActive((ids[ids.length - 1] ?? 0) + 1);
    return j;
  }

  /**
   * A sync `syncIntervalMs` from now, unless one is pending: called by every change a sync makes
   * durable. A failed sync step (reported through onSyncError) leaves its change unsynced and arms again.
   */
  private syncSoon(): void {
    if (this.opts.syncIntervalMs <= 0 || this.syncTimer || this.closed) return;
    this.syncTimer = setTimeout(() => {
      this.syncTimer = undefined;
      // eslint-disable-next-line @typescript-eslint/no-floating-promises -- cannot reject (steps are caught)
      this.sync().then(() => {
        if (this.dirty || this.newSegment || this.retiring.length > 0) this.syncSoon();
      });
    }, this.opts.syncIntervalMs);
    this.syncTimer.unref();
  }

  private openActive(id: number): void {
    const file = path.join(this.opts.dir, segmentFileName(id));
    // a+: appends always land at the end; backlog reads use positioned reads on the same fd.
    const fd = fs.openSync(file, 'a+', 0o600);
    this.active = { id, file, bytes: 0, inMemory: 0, fd };
    this.segments.set(id, this.active);
    this.newSegment = true;
    this.syncSoon();
  }

  /**
   * Appends one acknowledged write. `memoryHasRoom`: the caller can hold the event in memory; otherwise
   * (or while a backlog exists) it stays on disk only and comes back through `readBacklog`.
   */
  append(event: WriteEvent, memoryHasRoom: boolean): AppendResult {
    if (this.closed) return { status: 'error', error: new Error('journal is closed') };
    const line = encodeJournalLine(event);
    if (this.totalBytes + line.length > this.opts.maxBytes) return { status: 'full' };
    try {
      if (this.active.bytes > 0 && this.active.bytes + line.length > this.opts.segmentBytes) this.rotate();
      const offset = this.active.bytes;
      const written = fs.writeSync(this.active.fd!, line);
      if (written !== line.length) {
        // A short write (disk full): cut the partial line so the next one starts on a line boundary.
        fs.ftruncateSync(this.active.fd!, offset);
        return {
          status: 'error',
          error: new Error(`short journal write (${written} of ${line.length} bytes)`),
        };
      }
      this.active.bytes += line.length;
      this.totalBytes += line.length;
      this.dirty = true;
      this.syncSoon();
      if (this.cursor === undefined && !memoryHasRoom) this.cursor = { segment: this.active.id, offset };
    } catch (err) {
      return { status: 'error', error: err as Error };
    }
    if (this.cursor !== undefined) return { status: 'backlog' };
    this.active.inMemory++;
    this.inMemoryTotal++;
    return { status: 'memory', ticket: this.active.id };
  }

  private rotate(): void {
    const old = this.active;
    const oldFd = old.fd!;
    this.openActive(old.id + 1); // throws before anything changed if the new file cannot be created
    this.retiring.push(oldFd);
    this.syncSoon();
    old.fd = undefined;
    this.release(old);
  }

  /** The entry is recorded in Postgres. */
  done(ticket: JournalTicket): void {
    const seg = this.segments.get(ticket);
    if (!seg || seg.inMemory === 0) return;
    seg.inMemory--;
    this.inMemoryTotal--;
    this.release(seg);
  }

  /** Deletes a finished segment, or empties the active one when nothing in it is outstanding. */
  private release(seg: Segment): void {
    if (seg.inMemory > 0 || this.closed) return;
    const unread = this.cursor !== undefined && this.cursor.segment <= seg.id;
    if (unread) return;
    if (seg === this.active) {
      if (seg.bytes === 0) return;
      try {
        fs.ftruncateSync(seg.fd!, 0);
      } catch {
        return; // keep the entries; they are replayed (idempotently) after a restart
      }
      this.totalBytes -= seg.bytes;
      seg.bytes = 0;
      return;
    }
    this.segments.delete(seg.id);
    this.totalBytes -= seg.bytes;
    try {
      fs.rmSync(seg.file, { force: true });
    } catch {
      // a leftover file is replayed (idempotently) at the next start
    }
  }

  /** Bytes of every segment on disk (cheap: kept up to date, no I/O). */
  get bytesOnDisk(): number {
    return this.totalBytes;
  }

  hasBacklog(): boolean {
    return this.cursor !== undefined;
  }

  /**
   * Hands up to `max` backlog entries to memory, oldest first (synchronous reads of at most one chunk per
   * segment visited; background path only).
   */
  readBacklog(max: number): { event: WriteEvent; ticket: JournalTicket }[] {
    const out: { event: WriteEvent; ticket: JournalTicket }[] = [];
    const chunkBytes = this.opts.readChunkBytes ?? 1024 * 1024;
    while (this.cursor !== undefined && out.length < max) {
      const seg = this.segments.get(this.cursor.segment);
      if (!seg) {
        this.advanceCursor();
        continue;
      }
      if (this.cursor.offset >= seg.bytes) {
        if (seg === this.active) {
          this.cursor = undefined; // caught up: memory holds every entry again
          this.release(seg);
        } else this.advanceCursor();
        continue;
      }
      const want = Math.min(chunkBytes, seg.bytes - this.cursor.offset);
      const buf = Buffer.allocUnsafe(want);
      let got: number;
      try {
        got = this.readAt(seg, buf, want, this.cursor.offset);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code === 'ENOENT' && seg !== this.active) {
          // Removed by hand: nothing left to read there.
          this.segments.delete(seg.id);
          this.totalBytes -= seg.bytes;
          this.advanceCursor();
          continue;
        }
        if (out.length > 0) return out; // hand over what was read; the cursor stays before the failure
        throw err;
      }
      const { lines, rest } = splitLines(buf.subarray(0, got));
      let used = 0;
      for (const line of lines) {
        if (out.length >= max) break;
        used += line.length + 1;
        const event = decodeJournalLine(line.toString('utf8'));
        if (!event) {
          this.damaged++;
          continue;
        }
        seg.inMemory++;
        this.inMemoryTotal++;
        out.push({ event, ticket: seg.id });
      }
      if (used === 0 && lines.length === 0) {
        // No newline in a whole chunk: at the end of a closed segment this is a torn tail; skip it.
        if (rest === got && this.cursor.offset + got >= seg.bytes && seg !== this.active) {
          this.damaged++;
          used = got;
        } else if (got === chunkBytes) {
          this.damaged++;
          used = got; // a line longer than a chunk cannot be ours
        } else break;
      }
      this.cursor.offset += used;
    }
    return out;
  }

  private readAt(seg: Segment, buf: Buffer, length: number, position: number): number {
    const fd = seg.fd ?? fs.openSync(seg.file, 'r');
    try {
      return fs.readSync(fd, buf, 0, length, position);
    } finally {
      if (seg.fd === undefined) fs.closeSync(fd);
    }
  }

  private advanceCursor(): void {
    const from = this.cursor!.segment;
    const finished = this.segments.get(from);
    const next = [...this.segments.keys()].filter((id) => id > from).sort((a, b) => a - b)[0];
    this.cursor = next === undefined ? undefined : { segment: next, offset: 0 };
    if (finished) this.release(finished);
  }

  stats(): JournalStats {
    return {
      bytes: this.totalBytes,
      segments: this.segments.size,
      inMemory: this.inMemoryTotal,
      backlog: this.cursor !== undefined,
      damagedLines: this.damaged,
    };
  }

  /**
   * fdatasync of what was appended since the last sync (background; not on the request path). A step that
   * fails is marked again, so the next sync retries it: its data may not be on disk yet.
   */
  async sync(): Promise<void> {
    if (this.syncing) return this.syncing;
    const fds = [...this.retiring];
    this.retiring = [];
    const activeFd = this.dirty ? this.active.fd : undefined;
    const dirToo = this.newSegment;
    this.dirty = false;
    this.newSegment = false;
    const work = async (): Promise<void> => {
      for (const fd of fds) {
        // A retired fd is closed only once synced: closing it would give up the retry.
        const ok = await this.synced(() => this.fdatasync(fd));
        if (ok) await new Promise<void>((r) => fs.close(fd, () => r()));
        else this.retiring.push(fd);
      }
      if (activeFd !== undefined && !(await this.synced(() => this.fdatasync(activeFd)))) this.dirty = true;
      if (dirToo && !(await this.synced(() => this.syncDir()))) this.newSegment = true;
    };
    this.syncing = work().finally(() => (this.syncing = undefined));
    return this.syncing;
  }

  /** Runs one sync step; false (reported) when it failed. */
  private async synced(step: () => Promise<void>): Promise<boolean> {
    try {
      await step();
      return true;
    } catch (err) {
      this.opts.onSyncError?.(err as Error);
      return false;
    }
  }

  private fdatasync(fd: number): Promise<void> {
    return new Promise<void>((resolve, reject) =>
      this.fsOps.fdatasync(fd, (err) => (err ? reject(err) : resolve())),
    );
  }

  /** Makes a new segment's directory entry durable. */
  private async syncDir(): Promise<void> {
    const dfd = await fs.promises.open(this.opts.dir, 'r');
    try {
      await dfd.sync();
    } finally {
      await dfd.close();
    }
  }

  /** Syncs and closes; entries not done stay on disk for the next start. */
  async close(): Promise<void> {
    if (this.closed) return;
    // The handle stays set, so nothing arms another sync while this one closes.
    clearTimeout(this.syncTimer);
    await this.syncing;
    this.dirty = true;
    await this.sync();
    this.closed = true;
    // Retired fds whose last sync failed: no later retry, only the leak to avoid.
    for (const retired of this.retiring.splice(0)) fs.close(retired, () => undefined);
    const fd = this.active.fd;
    this.active.fd = undefined;
    if (fd !== undefined) fs.closeSync(fd);
    if (this.active.bytes === 0) fs.rmSync(this.active.file, { force: true });
  }
}
