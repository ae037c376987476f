/**
 * Young-generation collections paced by the body bytes a proxy streams. Pure: the clock is the bytes, the
 * edges (ArrayBuffer memory, the collection) are injected.
 *
 * Every socket or file read of a streamed body is a new Buffer, dead once written on. V8 frees it at the next
 * young-generation collection, but starts one only when JavaScript objects fill the young generation, which a
 * stream does little of: between two, a large transfer left 40-80 MB of dead Buffers in glibc's arenas, and
 * glibc keeps those pages after (test/bench/notes.md). The image's V8 flags keep that memory from starting a
 * mark-compact every few MB, which cost more CPU than the transfer itself; a young-generation collection
 * costs well under a millisecond when the objects in it are dead. So every `checkEveryBytes` of body bytes,
 * one collection runs if ArrayBuffer memory stands `slackBytes` above the lowest seen since the last one.
 * Measuring from the lowest keeps Buffers that live on (the memory spool, a slow reader's queue) from
 * starting a collection at every check: they raise the floor once the next check sees them.
 *
 * A Buffer held across two young-generation collections (a chunk a paced catch-up copy waits to send, one
 * queued for the spool's disk) moves to the old generation and, once dropped, waits for a mark-compact, which
 * V8 starts by itself only near its 64 MB external-memory limit: on the bench, a held drain's dead chunks
 * climbed to 65-69 MB between two. Such garbage shows as a floor that rises from collection to collection;
 * once it stands `slackBytes` above where the last full collection left it, the next collection is a full
 * one. Buffers that truly live on raise it too, and then cost one full collection per `slackBytes` they grow.
 */

export interface ScavengePacing {
  checkEveryBytes: number;
  slackBytes: number;
}

const MiB = 1024 * 1024;

/**
 * 2 MiB between looks: a check costs a few µs (512 per GiB). 8 MiB of dead Buffers at most before one: against
 * 16 MiB, a backlog's peak 12 MB lower and a 1 GiB transfer's 5-15, for twice the collections and no CPU per
 * GiB the bench could tell apart (test/bench/notes.md, "A tighter scavenge pacer").
 */
export const DEFAULT_SCAVENGE_PACING: ScavengePacing = { checkEveryBytes: 2 * MiB, slackBytes: 8 * MiB };

export interface ScavengeEdges {
  /** ArrayBuffer memory V8 accounts, live or awaiting collection. */
  arrayBufferBytes(): number;
  /** One young-generation collection. */
  scavenge(): void;
  /** One full collection (mark-compact): frees dead Buffers that had moved to the old generation. */
  collectFull(): void;
  /** Either edge failed: the pacer stops for good (it runs inside the data path, which must not fail for it). */
  onError(err: Error): void;
}

export class ScavengePacer {
  private sinceCheck = 0;
  /** The lowest ArrayBuffer memory seen since the last collection; unknown right after one. */
  private floor: number | undefined;
  /** The lowest Buffer memory seen since the last full collection (or the start); unknown right after one. */
  private fullFloor: number | undefined;
  private collections = 0;
  private fullCollections = 0;
  private stopped = false;

  constructor(
    private readonly edges: ScavengeEdges,
    private readonly pacing: ScavengePacing = DEFAULT_SCAVENGE_PACING,
  ) {}

  /** `bytes` of body went through: maybe a look, maybe a collection. */
  note(bytes: number): void {
    this.sinceCheck += bytes;
    if (this.stopped || this.sinceCheck < this.pacing.checkEveryBytes) return;
    this.sinceCheck = 0;
    try {
      this.look();
    } catch (err) {
      this.stopped = true;
      this.edges.onError(err instanceof Error ? err : new Error(String(err)));
    }
  }

  private look(): void {
    const now = this.edges.arrayBufferBytes();
    // V8 frees a collection's dead backing stores on a background thread: the first look after one sets the floor.
    if (this.floor === undefined || now < this.floor) {
      this.floor = now;
      // The lowest since the full collection: a first look during its background sweep, or while Buffers
      // lived on that have gone since, would otherwise set the mark too high.
      if (this.fullFloor === undefined || now < this.fullFloor) this.fullFloor = now;
      return;
    }
    if (now - this.floor < this.pacing.slackBytes) return;
    if (this.fullFloor !== undefined && this.floor - this.fullFloor >= this.pacing.slackBytes) {
      this.edges.collectFull();
      this.fullCollections++;
      this.fullFloor = undefined;
    } else {
      this.edges.scavenge();
      this.collections++;
    }
    this.floor = undefined;
  }

  /** Young-generation collections this pacer started. */
  get started(): number {
    return this.collections;
  }

  /** Full collections this pacer started. */
  get startedFull(): number {
    return this.fullCollections;
  }
}
