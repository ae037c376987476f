/** What the spool and the request handler see of one spooled upload, on disk or in memory. */
import type { Readable } from 'node:stream';

import type { AbandonReason } from './plan';

export type SpoolFileState = 'writing' | 'committed' | 'ready' | 'gone';

/** An open spooled body for one mirror copy; `open()` may be called again for a retry. */
export interface SpoolReader {
  open(): Readable;
  /** The whole body when it is held in memory: a copy sends it as it is, without a stream. */
  bytes?: Buffer;
  close(): Promise<void>;
}

export interface SpoolEntry {
  readonly bucket: string;
  readonly key: string;
  /** Payload length announced by the request. */
  readonly size: number;
  readonly state: SpoolFileState;
  /** Main's ETag of the write, once committed. */
  readonly etag: string | undefined;
  /** Hex MD5 the bytes must have, when the ETag is one. */
  readonly md5: string | undefined;
  /** When main's acknowledgement committed it (ms epoch), 0 before. */
  readonly committedAt: number;
  /** Called with each payload chunk as it goes to main. Never throws, never waits. */
  readonly tap: (chunk: Buffer) => void;
  /** Main acknowledged the write: false (and the entry dropped) unless every announced byte was tapped. */
  commit(etag: string, md5: string | undefined): boolean;
  /** Resolves true once the whole body can be read, false if the entry was dropped. */
  whenReady(): Promise<boolean>;
  /** A reader over the whole body; undefined when it is not ready (or cannot be opened). */
  openReader(): Promise<SpoolReader | undefined>;
  /** Drops the entry unless main's acknowledgement committed it. */
  dropUncommitted(reason: AbandonReason): void;
  /** Removes the entry (any state, once). `reason` undefined: used, or the spool is closing. */
  drop(reason: AbandonReason | undefined, error?: unknown): void;
}

/** What an entry reports to the spool that holds it. */
export interface SpoolEntryHost<E extends SpoolEntry> {
  /** The entry left the spool (once); `reason` undefined when it was used or the spool closed. */
  onGone(entry: E, reason: AbandonReason | undefined, error?: unknown): void;
  /** Gone and no reader left: its room (disk or memory) is free. */
  onReleased(entry: E): void;
}

/**
 * The lifecycle both kinds share: chunks tapped against the announced length (more than announced: main
 * refuses such a request; fewer at the acknowledgement: not the object either), then main's commit; at the
 * end the room is released once, when the stored bytes are gone and no copy still reads them.
 * Subclasses store the chunks, say what a commit leads to and when their bytes are gone.
 */
export abstract class SpooledUpload implements SpoolEntry {
  protected stateNow: SpoolFileState = 'writing';
  private received = 0;
  private readers = 0;
  private released = false;
  etag: string | undefined;
  md5: string | undefined;
  committedAt = 0;

  constructor(
    readonly bucket: string,
    readonly key: string,
    readonly size: number,
  ) {}

  get state(): SpoolFileState {
    return this.stateNow;
  }

  readonly tap = (chunk: Buffer): void => {
    if (this.stateNow !== 'writing') return;
    this.received += chunk.length;
    if (this.received > this.size) return this.drop('not_stored');
    this.store(chunk);
  };

  commit(etag: string, md5: string | undefined): boolean {
    if (this.stateNow !== 'writing') return false;
    if (this.received !== this.size) {
      this.drop('not_stored');
      return false;
    }
    this.etag = etag;
    this.md5 = md5;
    this.committedAt = Date.now();
    this.committed();
    return true;
  }

  dropUncommitted(reason: AbandonReason): void {
    if (this.stateNow === 'writing') this.drop(reason);
  }

  protected readerOpened(): void {
    this.readers++;
  }

  protected readerClosed(): void {
    this.readers--;
    this.maybeRelease();
  }

  /** Releases the room (once) when the stored bytes are gone and no reader is left. */
  protected maybeRelease(): void {
    if (this.released || !this.storageGone || this.readers > 0) return;
    this.released = true;
    this.release();
  }

  /** The stored bytes are gone (file unlinked, buffer dropped). */
  protected abstract get storageGone(): boolean;
  /** Tells the spool the entry's room is free. */
  protected abstract release(): void;
  /** Keeps a chunk tapped while the upload is `writing`, within the announced length. */
  protected abstract store(chunk: Buffer): void;
  /** Main committed every announced byte: move on from `writing`. */
  protected abstract committed(): void;
  abstract whenReady(): Promise<boolean>;
  abstract openReader(): Promise<SpoolReader | undefined>;
  abstract drop(reason: AbandonReason | undefined, error?: unknown): void;
}
