/** Disk accounting of the upload spool. Pure. */

/** Filesystem block: what a file really takes on disk, and what the kubelet counts against `sizeLimit`. */
export const SPOOL_BLOCK_BYTES = 4096;

/** Disk space of a file of `size` bytes: whole blocks, at least one (an empty file still costs an inode). */
export function diskBytesFor(size: number): number {
  return Math.max(1, Math.ceil(size / SPOOL_BLOCK_BYTES)) * SPOOL_BLOCK_BYTES;
}

/** Why an upload is not spooled although it could be. */
export type SpoolRefusal = 'too_large' | 'full';

export type Reservation = { ok: true; bytes: number } | { ok: false; reason: SpoolRefusal };

/** Bytes reserved by spool files, against a total bound and a per-object bound. */
export class SpoolBudget {
  private usedBytes = 0;

  constructor(
    readonly maxBytes: number,
    readonly maxObjectBytes: number,
  ) {}

  /** Reserves room for an object of `size` bytes, or says why there is none. */
  reserve(size: number): Reservation {
    const bytes = diskBytesFor(size);
    if (size > this.maxObjectBytes || bytes > this.maxBytes) return { ok: false, reason: 'too_large' };
    if (this.usedBytes + bytes > this.maxBytes) return { ok: false, reason: 'full' };
    this.usedBytes += bytes;
    return { ok: true, bytes };
  }

  release(bytes: number): void {
    this.usedBytes = Math.max(0, this.usedBytes - bytes);
  }

  get used(): number {
    return this.usedBytes;
  }
}
