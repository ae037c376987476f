/**
 * A small upload kept in memory instead of a file: SpoolFile's lifecycle without the disk.
 *
 * writing ──commit (main 2xx, every byte seen)──► ready ──drop(reason)──► gone
 *
 * Measured (test/bench/write-cost.ts): a file costs each small upload five file operations (create, write,
 * close and rename, then open, read, close and unlink for the copy), about a quarter of the proxy's CPU per
 * mirrored 4 KiB PUT. A file survives nothing a buffer would not: the spool's index lives in memory, and
 * every file is removed at start.
 */
import { Readable } from 'node:stream';

import type { AbandonReason } from './plan';
import { SpooledUpload, type SpoolEntryHost, type SpoolReader } from './spool-entry';

export class SpoolMemoryBody extends SpooledUpload {
  private chunks: Buffer[] = [];
  private body: Buffer | undefined;

  constructor(
    private readonly host: SpoolEntryHost<SpoolMemoryBody>,
    bucket: string,
    key: string,
    size: number,
  ) {
    super(bucket, key, size);
  }

  protected store(chunk: Buffer): void {
    this.chunks.push(chunk);
  }

  protected committed(): void {
    // One buffer of exactly the body: the chunks may be views into larger socket reads.
    this.body = Buffer.concat(this.chunks, this.size);
    this.chunks = [];
    this.stateNow = 'ready';
  }

  whenReady(): Promise<boolean> {
    return Promise.resolve(this.stateNow === 'ready');
  }

  openReader(): Promise<SpoolReader | undefined> {
    const body = this.body;
    if (this.stateNow !== 'ready' || !body) return Promise.resolve(undefined);
    this.readerOpened();
    let closed = false;
    return Promise.resolve({
      // A reader keeps the buffer even if the entry is superseded meanwhile, as an open descriptor would.
      open: () => Readable.from([body], { objectMode: false }),
      bytes: body,
      close: () => {
        if (!closed) {
          closed = true;
          this.readerClosed();
        }
        return Promise.resolve();
      },
    });
  }

  drop(reason: AbandonReason | undefined, error?: unknown): void {
    if (this.stateNow === 'gone') return;
    this.stateNow = 'gone';
    this.chunks = [];
    this.body = undefined;
    this.host.onGone(this, reason, error);
    this.maybeRelease();
  }

  protected get storageGone(): boolean {
    return this.stateNow === 'gone';
  }

  protected release(): void {
    this.host.onReleased(this);
  }
}
