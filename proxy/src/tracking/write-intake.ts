/**
 * Intake of acknowledged writes on their way into Postgres: the journal on disk first (when there is
 * one), then the memory queue the inventory flusher drains. Never throws into the data path, never waits.
 * Without a journal a full queue forgets its oldest write (the anti-entropy scan finds it later).
 */
import type { WriteEvent } from '../events';
import type { Logger } from '../log';
import type { ProxyMetrics } from '../metrics';
import { errorText } from '../mirror/s3';
import type { JournalTicket, WriteJournal } from './journal';
import type { LogThrottle } from './log-throttle';

/** Queued for Postgres; `ticket` when the write is also in the journal. */
export interface Queued {
  event: WriteEvent;
  ticket?: JournalTicket;
}

export interface WriteIntakeDeps {
  memoryLimit: number;
  /** For the "journal full" line. */
  journalMaxBytes: number | undefined;
  metrics: ProxyMetrics;
  logger: Logger;
  throttle: LogThrottle;
  /** A write entered the memory queue. */
  onQueued(event: WriteEvent): void;
  /** A write went to the journal only (memory full): the flusher should come for it. */
  onBacklog(): void;
}

export class WriteIntake {
  private readonly queue: Queued[] = [];
  private journalNow: WriteJournal | undefined;
  private overflowCount = 0;
  private droppedCount = 0;
  private reportedDamaged = 0;

  constructor(private readonly deps: WriteIntakeDeps) {}

  /** The journal while one is open (start), undefined without (STATE_DIR=off, or stopped). */
  set journal(j: WriteJournal | undefined) {
    this.journalNow = j;
    this.reportedDamaged = 0;
  }

  get journal(): WriteJournal | undefined {
    return this.journalNow;
  }

  get length(): number {
    return this.queue.length;
  }

  /** Writes held in memory or on disk that Postgres has not recorded yet. */
  hasBacklog(): boolean {
    return this.queue.length > 0 || this.journalNow?.hasBacklog() === true;
  }

  get overflow(): number {
    return this.overflowCount;
  }

  get dropped(): number {
    return this.droppedCount;
  }

  /**
   * Whether a write of `bucket`/`key` may be here and not in Postgres yet: one in the memory queue (a scan:
   * only a read failover asks, never the hot path), or any at all while the journal holds writes that are on
   * disk only, or once a write was forgotten (its row may be older than main).
   */
  mayHold(bucket: string, key: string): boolean {
    if (this.droppedCount > 0 || this.journalNow?.hasBacklog() === true) return true;
    return this.queue.some((q) => q.event.key === key && q.event.bucket === bucket);
  }

  /** The queued writes, oldest first (read-only). */
  events(): readonly Queued[] {
    return this.queue;
  }

  record(event: WriteEvent): void {
    if (this.journalNow) this.recordJournaled(this.journalNow, event);
    else this.recordInMemory(event);
  }

  /** The oldest queued writes of one bucket (the oldest write's), at most `max`, in order. */
  nextBatch(max: number): { bucket: string; batch: Queued[] } | undefined {
    const first = this.queue[0];
    if (!first) return undefined;
    const bucket = first.event.bucket;
    const batch = this.queue.slice(0, max).filter((q) => q.event.bucket === bucket);
    return { bucket, batch };
  }

  /** `batch` is in Postgres: out of the queue, and out of the journal. */
  recorded(batch: readonly Queued[]): void {
    const done = new Set(batch);
    let w = 0;
    for (let r = 0; r < this.queue.length; r++)
      if (!done.has(this.queue[r]!)) this.queue[w++] = this.queue[r]!;
    this.queue.length = w;
    const { metrics } = this.deps;
    for (const q of batch) {
      metrics.inventoryWrites.inc({ kind: q.event.kind });
      if (q.ticket !== undefined) this.journalNow?.done(q.ticket);
    }
    if (this.journalNow) metrics.journalBytes.set(this.journalNow.bytesOnDisk);
    metrics.inventoryMemoryQueue.set(this.queue.length);
  }

  /** Moves journal entries that are on disk only back into memory while there is room (oldest first). */
  refillFromJournal(maxItems: number): void {
    const journal = this.journalNow;
    if (!journal?.hasBacklog()) return;
    const room = this.deps.memoryLimit - this.queue.length;
    if (room <= 0) return;
    const { metrics, logger, throttle } = this.deps;
    let items: Queued[];
    try {
      items = journal.readBacklog(Math.min(room, maxItems));
    } catch (err) {
      // Entries stay on disk; the next pass (or the next start) reads them again.
      if (throttle('journal-read')) logger.error('journal: read-back failed', { error: errorText(err) });
      return;
    }
    for (const item of items) this.enqueue(item);
    if (items.length > 0) metrics.journalReplayed.inc(items.length);
    const damaged = journal.stats().damagedLines;
    if (damaged > this.reportedDamaged) {
      metrics.journalDamagedLines.inc(damaged - this.reportedDamaged);
      logger.warn('journal: skipped torn or damaged lines', { lines: damaged - this.reportedDamaged });
      this.reportedDamaged = damaged;
    }
  }

  private enqueue(item: Queued): void {
    this.queue.push(item);
    this.deps.metrics.inventoryMemoryQueue.set(this.queue.length);
    this.deps.onQueued(item.event);
  }

  /** Without a journal: memory only; when full the oldest write is forgotten (a resync repairs it). */
  private recordInMemory(event: WriteEvent): void {
    const { metrics, logger, throttle, memoryLimit } = this.deps;
    if (this.queue.length >= memoryLimit) {
      this.queue.shift();
      this.overflowCount++;
      this.droppedCount++;
      metrics.inventoryWriteFailures.inc();
      metrics.inventoryEventsDropped.inc();
      if (throttle('overflow')) {
        logger.error('inventory memory queue full: oldest write dropped (run resync to repair)', {
          limit: memoryLimit,
          dropped: this.droppedCount,
        });
      }
    }
    this.enqueue({ event });
  }

  /** With a journal: on disk first (synchronous append), in memory while there is room. */
  private recordJournaled(j: WriteJournal, event: WriteEvent): void {
    const { metrics, logger, throttle, memoryLimit } = this.deps;
    const room = this.queue.length < memoryLimit;
    const r = j.append(event, room);
    metrics.journalBytes.set(j.bytesOnDisk);
    if (r.status === 'memory') return this.enqueue({ event, ticket: r.ticket });
    if (r.status === 'backlog') return this.deps.onBacklog();
    metrics.journalUnjournaled.inc({ reason: r.status });
    if (throttle(`journal-${r.status}`)) {
      logger.error(
        r.status === 'full'
          ? 'write-ahead journal full (JOURNAL_MAX_BYTES): new writes are held in memory only until Postgres catches up'
          : 'write-ahead journal append failed: write held in memory only',
        {
          maxBytes: this.deps.journalMaxBytes,
          ...(r.status === 'error' ? { error: errorText(r.error) } : {}),
        },
      );
    }
    if (room) return this.enqueue({ event });
    this.droppedCount++;
    metrics.inventoryEventsDropped.inc();
    metrics.inventoryWriteFailures.inc();
    if (throttle('dropped')) {
      logger.error('memory queue and journal full: write dropped (run resync to repair)', {
        dropped: this.droppedCount,
      });
    }
  }
}
