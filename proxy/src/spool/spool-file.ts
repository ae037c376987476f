/**
 * One upload kept on local disk: written from the body on its way to main, then read by the mirror copy.
 *
 * writing ──commit (main 2xx, every byte seen)──► committed ──last byte on disk, renamed──► ready
 *    └───────────── drop(reason): any state ──────────────────────────────────────────────► gone
 *
 * The tee never pushes back on the app or on main: `tap` only queues the chunk. When the disk falls behind
 * (more than a small bound queued) or fails, the file is dropped and the upload goes on unspooled.
 */
import fs from 'node:fs';
import { Readable } from 'node:stream';

import type { DiskLane } from './disk-lane';
import type { AbandonReason } from './plan';
import { SpooledUpload, type SpoolEntryHost, type SpoolReader } from './spool-entry';

export interface SpoolFileHost extends SpoolEntryHost<SpoolFile> {
  lane: DiskLane;
  /** Bytes queued in memory by every spool file together. */
  buffered: { bytes: number };
  /** A file may queue this much before it is dropped as `slow_disk`... */
  writerBufferBytes: number;
  /** ...and all files together this much. */
  totalBufferBytes: number;
}

const ignore = (): void => undefined;
const READ_CHUNK_BYTES = 256 * 1024;

/**
 * The first `size` bytes of an open file, by positional reads. Unlike a FileHandle read stream, destroying
 * it leaves the descriptor open, so a retry (the mirror bucket had to be created first) reads it again.
 */
function positionalReader(handle: fs.promises.FileHandle, size: number): Readable {
  let position = 0;
  return new Readable({
    highWaterMark: READ_CHUNK_BYTES,
    read() {
      const want = Math.min(READ_CHUNK_BYTES, size - position);
      if (want <= 0) {
        this.push(null);
        return;
      }
      handle.read(Buffer.allocUnsafe(want), 0, want, position).then(
        ({ bytesRead, buffer }) => {
          if (this.destroyed) return;
          if (bytesRead === 0) {
            this.push(null); // shorter than announced: the size check of the copier refuses it
            return;
          }
          position += bytesRead;
          this.push(buffer.subarray(0, bytesRead));
        },
        (err: Error) => this.destroy(err),
      );
    },
  });
}

export class SpoolFile extends SpooledUpload {
  private handle: fs.promises.FileHandle | undefined;
  private queue: Buffer[] = [];
  private queuedBytes = 0;
  private written = 0;
  private writing: Promise<void> | undefined;
  private finishing = false;
  private renamed = false;
  private filesRemoved = false;
  private settleReady!: (ready: boolean) => void;
  private readonly ready = new Promise<boolean>((resolve) => (this.settleReady = resolve));

  constructor(
    private readonly host: SpoolFileHost,
    bucket: string,
    key: string,
    /** Payload length announced by the request. */
    size: number,
    /** Disk space reserved in the budget. */
    readonly diskBytes: number,
    readonly partPath: string,
    readonly bodyPath: string,
  ) {
    super(bucket, key, size);
    host.lane
      .run(() => fs.promises.open(partPath, 'wx', 0o600))
      .then(
        (handle) => {
          if (this.stateNow === 'gone') {
            void handle.close().catch(ignore);
            void fs.promises.unlink(partPath).catch(ignore);
            return;
          }
          this.handle = handle;
          this.pump();
        },
        (err: unknown) => this.drop('disk_error', err),
      );
  }

  /** Queues the chunk for the disk; never waits. */
  protected store(chunk: Buffer): void {
    this.queue.push(chunk);
    this.queuedBytes += chunk.length;
    this.host.buffered.bytes += chunk.length;
    if (
      this.queuedBytes > this.host.writerBufferBytes ||
      this.host.buffered.bytes > this.host.totalBufferBytes
    ) {
      return this.drop('slow_disk');
    }
    this.pump();
  }

  /** The last queued bytes still go to disk; then the file is renamed and ready. */
  protected committed(): void {
    this.stateNow = 'committed';
    this.pump();
  }

  /** Resolves true once the whole body is on disk under its final name, false if the file was dropped. */
  whenReady(): Promise<boolean> {
    return this.ready;
  }

  private pump(): void {
    if (this.writing || !this.handle || this.stateNow === 'gone') return;
    if (this.queue.length === 0) {
      if (this.stateNow === 'committed') this.finish();
      return;
    }
    const batch = this.queue;
    const bytes = this.queuedBytes;
    const handle = this.handle;
    this.queue = [];
    this.queuedBytes = 0;
    this.writing = this.host.lane
      .run(() => handle.writev(batch))
      .then(
        (r) => {
          this.host.buffered.bytes -= bytes;
          this.writing = undefined;
          if (r.bytesWritten !== bytes) {
            return this.drop('disk_error', new Error(`short write: ${r.bytesWritten} of ${bytes} bytes`));
          }
          this.written += bytes;
          this.pump();
        },
        (err: unknown) => {
          this.host.buffered.bytes -= bytes;
          this.writing = undefined;
          this.drop('disk_error', err);
        },
      );
  }

  private finish(): void {
    if (this.finishing) return;
    this.finishing = true;
    const handle = this.handle!;
    this.handle = undefined;
    // A disk error drops the file (the catch below): only a bug rejects, as a synchronous throw would.
    // eslint-disable-next-line @typescript-eslint/no-floating-promises -- cannot reject
    void (async () => {
      try {
        await this.host.lane.run(() => handle.close());
        if (this.written !== this.size) throw new Error(`spooled ${this.written} of ${this.size} bytes`);
        await this.host.lane.run(() => fs.promises.rename(this.partPath, this.bodyPath));
        this.renamed = true;
      } catch (err) {
        this.drop('disk_error', err);
        return;
      }
      if (this.stateNow === 'gone') {
        // Dropped while closing (superseded, spool closed): its cleanup may have run before the rename.
        void this.host.lane.run(() => fs.promises.unlink(this.bodyPath)).catch(ignore);
        return;
      }
      this.stateNow = 'ready';
      this.settleReady(true);
    })();
  }

  /** Opens the complete file for a mirror copy; undefined when it is not ready or cannot be opened. */
  async openReader(): Promise<SpoolReader | undefined> {
    if (this.stateNow !== 'ready') return undefined;
    this.readerOpened();
    let handle: fs.promises.FileHandle;
    try {
      handle = await this.host.lane.run(() => fs.promises.open(this.bodyPath, 'r'));
    } catch (err) {
      this.readerClosed();
      if (this.state !== 'gone') this.drop('disk_error', err);
      return undefined;
    }
    let closed = false;
    return {
      // The file may be unlinked meanwhile (superseded): the open descriptor still reads it.
      open: () => positionalReader(handle, this.size),
      close: async () => {
        if (closed) return;
        closed = true;
        await handle.close().catch(ignore);
        this.readerClosed();
      },
    };
  }

  /** Removes the file (any state, once). `reason` undefined: used, or the spool is closing. */
  drop(reason: AbandonReason | undefined, error?: unknown): void {
    if (this.stateNow === 'gone') return;
    this.stateNow = 'gone';
    this.host.buffered.bytes -= this.queuedBytes;
    this.queue = [];
    this.queuedBytes = 0;
    this.settleReady(false);
    this.host.onGone(this, reason, error);
    // Write errors settle `writing` through its rejection handler; close and unlink errors are ignored.
    // eslint-disable-next-line @typescript-eslint/no-floating-promises -- cannot reject
    void this.removeFiles();
  }

  private async removeFiles(): Promise<void> {
    await this.writing;
    const handle = this.handle;
    this.handle = undefined;
    try {
      if (handle) await this.host.lane.run(() => handle.close()).catch(ignore);
      // One name exists. A rename still in flight is undone by finish(), which sees the file gone.
      const file = this.renamed ? this.bodyPath : this.partPath;
      await this.host.lane.run(() => fs.promises.unlink(file)).catch(ignore);
    } finally {
      this.filesRemoved = true;
      this.maybeRelease();
    }
  }

  protected get storageGone(): boolean {
    return this.filesRemoved;
  }

  protected release(): void {
    this.host.onReleased(this);
  }
}
