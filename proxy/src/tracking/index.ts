import { randomUUID } from 'node:crypto';
import path from 'node:path';

import type { S3Client } from '@aws-sdk/client-s3';

import {
  DEFAULT_JOURNAL_MAX_BYTES,
  DEFAULT_SPOOL_MAX_BYTES,
  DEFAULT_SPOOL_MAX_OBJECT_BYTES,
  type ProxyConfig,
} from '../config';
import type { WriteEvent, WriteSink } from '../events';
import { backoffMs, type BackoffPolicy } from '../inventory/backoff';
import { DEFAULT_POOL_LIMITS, InventoryPools, withClient, type PoolLimits } from '../inventory/pools';
import {
  CLAIM_SQL,
  COMPLETE_SQL,
  FAIL_SQL,
  PENDING_STATS_SQL,
  RELEASE_SQL,
  RENEW_LEASE_SQL,
  UPSERT_EVENT_SQL,
} from '../inventory/schema';
import type { Logger } from '../log';
import type { ProxyMetrics } from '../metrics';
import { DEFAULT_COPIER_OPTIONS, mirrorKey, type CopierOptions, type MirrorResult } from '../mirror/copier';
import { askBucket, errorText, s3ClientFor } from '../mirror/s3';
import { AntiEntropyScanner } from '../scan/anti-entropy';
import { createSlots } from '../mirror/slots';
import { SPOOL_SUBDIR, UploadSpool, type UploadSpoolOptions, type UploadSpoolPort } from '../spool';
import { WriteJournal, type JournalStats, type JournalTicket } from './journal';
import { chooseStateDir, JOURNAL_SUBDIR, lockStateDir, stableInstanceId, StateDirError } from './state-dir';
import { DEFAULT_RECHECK_REFUSED_MS, TakeoverPolicy } from './takeover';

export interface TrackerTuning {
  /** Lease on a claimed row; renewed every third of it while the copy runs. Expired leases are reclaimed. */
  leaseSeconds: number;
  retry: BackoffPolicy;
  /** Events per inventory transaction. */
  batchSize: number;
  /** How often pg_database is listed for inventory databases with pending work. */
  scanIntervalMs: number;
  /** A scanned bucket this sidecar's main refused (HeadBucket 403/404/301) is asked about again after this. */
  recheckRefusedMs: number;
  /** How often the pending/lag gauges are refreshed from the database. */
  statsIntervalMs: number;
  /** Idle poll when no work was found. */
  idlePollMs: number;
  pools: PoolLimits;
  copier: CopierOptions;
  /** Upload spool settings beyond the configured bounds (age, buffers). */
  spool: Partial<Omit<UploadSpoolOptions, 'dir' | 'maxBytes' | 'maxObjectBytes' | 'metrics' | 'logger'>>;
}

export const DEFAULT_TUNING: TrackerTuning = {
  leaseSeconds: 120,
  retry: { baseMs: 1_000, maxMs: 300_000 },
  batchSize: 200,
  scanIntervalMs: 30_000,
  recheckRefusedMs: DEFAULT_RECHECK_REFUSED_MS,
  statsIntervalMs: 15_000,
  idlePollMs: 1_000,
  pools: DEFAULT_POOL_LIMITS,
  copier: DEFAULT_COPIER_OPTIONS,
  spool: {},
};

export type TrackerStatus = {
  postgresReachable: boolean;
  memoryQueue: number;
  memoryQueueOverflow: number;
  memoryMirrorPending: number;
  mirrorInFlight: number;
  openPools: number;
  knownBuckets: number;
  running: boolean;
  /** Buckets with inventory databases that this sidecar's main refused (see takeover.ts). */
  takeoverRefused: number;
  /** Writes forgotten before Postgres recorded them (memory full, and the journal full or absent). */
  eventsDropped: number;
  /** Present while the journal is on (not with STATE_DIR=off). */
  journal?: JournalStats;
  /** Present when the upload spool is on. */
  spool?: ReturnType<UploadSpool['stats']>;
};

export interface WriteTracker {
  sink: WriteSink;
  /** The upload spool for the request handler (inert while the spool is off or the tracker stopped). */
  uploads: UploadSpoolPort;
  start(): Promise<void>;
  stop(): Promise<void>;
  status(): TrackerStatus;
}

export interface TrackerDeps {
  config: ProxyConfig;
  logger: Logger;
  metrics: ProxyMetrics;
  tuning?: Partial<TrackerTuning>;
  /**
   * Lease owner (default: `<STATE_DIR's stable id or random>:<random per start>`). Leases of an owner with
   * the same part before the colon are a dead predecessor's and are taken over at once.
   */
  owner?: string;
}

/** Queued for Postgres; `ticket` when the write is also in the journal. */
interface Queued {
  event: WriteEvent;
  ticket?: JournalTicket;
}

/** Background fdatasync period of the journal: bounds what a node crash (not a process kill) can lose. */
const JOURNAL_SYNC_INTERVAL_MS = 1_000;
const JOURNAL_SEGMENT_BYTES = 8 * 1024 * 1024;
/** At stop: how long running copies may finish before they are aborted, and then how long their release may take. */
const COPY_FINISH_MS = 2_000;
const COPY_RELEASE_MS = 2_000;

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Also used by resync and tests: records one event's row (pending) inside a bucket database. */
export function upsertParams(e: WriteEvent): unknown[] {
  const deleted = e.kind === 'delete';
  return [
    e.key,
    deleted,
    deleted ? null : (e.size ?? null),
    deleted ? null : (e.contentType ?? null),
    e.acknowledgedAt,
    deleted ? null : (e.etag ?? null),
    e.versionId ?? null,
    deleted || !e.checksums ? null : JSON.stringify(e.checksums),
    e.operation,
    e.acknowledgedAt,
  ];
}

export function completeParams(id: number, generation: string, r: MirrorResult): unknown[] {
  if (!r.exists) return [id, generation, true, null, null, null, null, null, null];
  return [
    id,
    generation,
    false,
    r.size,
    r.contentType ?? null,
    r.lastModified ?? null,
    r.etag ?? null,
    r.versionId ?? null,
    r.mirrorEtag ?? null,
  ];
}

export function createWriteTracker(deps: TrackerDeps): WriteTracker {
  const { config, logger, metrics } = deps;
  const tuning: TrackerTuning = { ...DEFAULT_TUNING, ...deps.tuning };
  let owner = deps.owner ?? `${process.pid}-${randomUUID()}:${randomUUID()}`;
  let ownerPrefix = `${owner.split(':')[0]}:`;
  const memoryLimit = config.pendingMemoryLimit;
  let journal: WriteJournal | undefined;
  let spool: UploadSpool | undefined;

  let pools: InventoryPools | undefined;
  let main: S3Client | undefined;
  let mirror: S3Client | undefined;

  const queue: Queued[] = [];
  let overflow = 0;
  let dropped = 0;
  const lastLog = new Map<string, number>();
  /** At most one line per `what` every 10 s: a full queue must not flood the log. */
  const rateLimited = (what: string): boolean => {
    const now = Date.now();
    if (now - (lastLog.get(what) ?? 0) < 10_000) return false;
    lastLog.set(what, now);
    return true;
  };
  let pgHealthy = true;
  /** Keys to mirror straight from memory while Postgres is unreachable (level-triggered, deduplicated). */
  const memoryMirror = new Map<string, { bucket: string; key: string }>();
  let memoryInFlight = 0;
  let dbInFlight = 0;
  let running = false;
  let stopping = false;
  /** Bumped by every start(): a loop an earlier stop() gave up on ends at its next turn, never revives. */
  let generation = 0;
  const current = (gen: number): boolean => gen === generation && !stopping;
  const buckets = new Set<string>();
  let wakeFlush: (() => void) | undefined;
  let flushBackingOff = false;
  // Idle mirror workers wait here. New work wakes one worker per item, not all: every woken worker runs a
  // claim, and waking all 16 for one write cost more proxy CPU per PUT than the copy itself (bench).
  // `ramp`: the waker found work by polling, which may hide more (retries due, another sidecar's rows).
  const idleMirrorWorkers = new Set<(ramp: boolean) => void>();
  const wakeMirror = (items = Infinity, ramp = false): void => {
    let n = 0;
    for (const wake of [...idleMirrorWorkers]) {
      if (n++ >= items) break;
      wake(ramp);
    }
  };
  /** Waits for work; true when the worker should itself wake another once it finds some (a ramp-up). */
  const idleMirrorWorker = (ms: number): Promise<boolean> =>
    new Promise((resolve) => {
      const t = setTimeout(() => done(true), ms);
      function done(ramp: boolean): void {
        clearTimeout(t);
        idleMirrorWorkers.delete(done);
        resolve(ramp);
      }
      idleMirrorWorkers.add(done);
    });
  const loops: Promise<void>[] = [];
  const scanLoops: Promise<void>[] = [];
  const timers: NodeJS.Timeout[] = [];

  const waitForFlush = (ms: number): Promise<void> =>
    new Promise((resolve) => {
      const t = setTimeout(done, ms);
      function done(): void {
        clearTimeout(t);
        wakeFlush = undefined;
        resolve();
      }
      wakeFlush = done;
    });

  const keyOf = (bucket: string, key: string): string => `${bucket}\u0000${key}`;

  function enqueue(item: Queued): void {
    queue.push(item);
    metrics.inventoryMemoryQueue.set(queue.length);
    if (!pgHealthy && memoryMirror.size < memoryLimit) {
      memoryMirror.set(keyOf(item.event.bucket, item.event.key), {
        bucket: item.event.bucket,
        key: item.event.key,
      });
      wakeMirror(1);
    }
    if (!flushBackingOff) wakeFlush?.();
  }

  /** Without a journal: memory only; when full the oldest write is forgotten (a resync repairs it). */
  function recordInMemory(event: WriteEvent): void {
    if (queue.length >= memoryLimit) {
      queue.shift();
      overflow++;
      dropped++;
      metrics.inventoryWriteFailures.inc();
      metrics.inventoryEventsDropped.inc();
      if (rateLimited('overflow')) {
        logger.error('inventory memory queue full: oldest write dropped (run resync to repair)', {
          limit: memoryLimit,
          dropped,
        });
      }
    }
    enqueue({ event });
  }

  /** With a journal: on disk first (synchronous append), in memory while there is room. */
  function recordJournaled(j: WriteJournal, event: WriteEvent): void {
    const room = queue.length < memoryLimit;
    const r = j.append(event, room);
    metrics.journalBytes.set(j.bytesOnDisk);
    if (r.status === 'memory') return enqueue({ event, ticket: r.ticket });
    if (r.status === 'backlog') {
      if (!flushBackingOff) wakeFlush?.();
      return;
    }
    metrics.journalUnjournaled.inc({ reason: r.status });
    if (rateLimited(`journal-${r.status}`)) {
      logger.error(
        r.status === 'full'
          ? 'write-ahead journal full (JOURNAL_MAX_BYTES): new writes are held in memory only until Postgres catches up'
          : 'write-ahead journal append failed: write held in memory only',
        {
          maxBytes: config.journalMaxBytes,
          ...(r.status === 'error' ? { error: errorText(r.error) } : {}),
        },
      );
    }
    if (room) return enqueue({ event });
    dropped++;
    metrics.inventoryEventsDropped.inc();
    metrics.inventoryWriteFailures.inc();
    if (rateLimited('dropped')) {
      logger.error('memory queue and journal full: write dropped (run resync to repair)', { dropped });
    }
  }

  const sink: WriteSink = {
    record(event: WriteEvent): void {
      try {
        spool?.noteEvent(event);
        if (journal) recordJournaled(journal, event);
        else recordInMemory(event);
      } catch {
        // never throw into the data path
      }
    },
  };

  // A stable object for the handler, created before start(): the spool itself exists only while running.
  const uploads: UploadSpoolPort = {
    begin: (bucket, key, length, headers) => spool?.begin(bucket, key, length, headers),
    acknowledge: (file, bucket, key, response) => {
      if (spool) spool.acknowledge(file, bucket, key, response);
      else file?.drop(undefined);
    },
  };

  /** Moves journal entries that are on disk only back into memory while there is room (oldest first). */
  function refillFromJournal(): void {
    if (!journal?.hasBacklog()) return;
    const room = memoryLimit - queue.length;
    if (room <= 0) return;
    let items: Queued[];
    try {
      items = journal.readBacklog(Math.min(room, tuning.batchSize * 10));
    } catch (err) {
      // Entries stay on disk; the next pass (or the next start) reads them again.
      if (rateLimited('journal-read')) logger.error('journal: read-back failed', { error: errorText(err) });
      return;
    }
    for (const item of items) enqueue(item);
    if (items.length > 0) metrics.journalReplayed.inc(items.length);
    const damaged = journal.stats().damagedLines;
    if (damaged > reportedDamaged) {
      metrics.journalDamagedLines.inc(damaged - reportedDamaged);
      logger.warn('journal: skipped torn or damaged lines', { lines: damaged - reportedDamaged });
      reportedDamaged = damaged;
    }
  }
  let reportedDamaged = 0;

  function setHealthy(ok: boolean): void {
    if (ok === pgHealthy) return;
    pgHealthy = ok;
    if (!ok) {
      logger.warn('postgres unreachable: holding writes in memory and mirroring from memory', {
        queued: queue.length,
      });
      for (const { event: e } of queue) {
        if (memoryMirror.size >= memoryLimit) break;
        memoryMirror.set(keyOf(e.bucket, e.key), { bucket: e.bucket, key: e.key });
      }
      wakeMirror(memoryMirror.size);
    } else {
      logger.info('postgres reachable again: inventory catching up', { queued: queue.length });
      void retryUnsettled();
    }
  }

  /** Moves queued events into Postgres, one bucket per transaction, preserving per-key order. */
  async function flushOnce(): Promise<void> {
    const head = queue.slice(0, tuning.batchSize);
    const bucket = head[0]!.event.bucket;
    const batch = head.filter((q) => q.event.bucket === bucket);
    await pools!.withBucket(bucket, (pool) =>
      withClient(pool, async (client) => {
        try {
          await client.query('BEGIN');
          for (const q of batch) await client.query(UPSERT_EVENT_SQL, upsertParams(q.event));
          await client.query('COMMIT');
        } catch (err) {
          await client.query('ROLLBACK').catch(() => undefined);
          throw err;
        }
      }),
    );
    buckets.add(bucket);
    const done = new Set(batch);
    let w = 0;
    for (let r = 0; r < queue.length; r++) if (!done.has(queue[r]!)) queue[w++] = queue[r]!;
    queue.length = w;
    for (const q of batch) {
      metrics.inventoryWrites.inc({ kind: q.event.kind });
      if (q.ticket !== undefined) journal?.done(q.ticket);
    }
    if (journal) metrics.journalBytes.set(journal.bytesOnDisk);
    metrics.inventoryMemoryQueue.set(queue.length);
    wakeMirror(batch.length);
  }

  async function flushLoop(gen: number): Promise<void> {
    let failures = 0;
    // Its own start's loop, or the one a stop() is draining (stop bumps the generation by one).
    while ((gen === generation || (stopping && gen === generation - 1)) && (!stopping || queue.length > 0)) {
      if (!stopping) refillFromJournal();
      if (queue.length === 0) {
        await waitForFlush(tuning.idlePollMs);
        continue;
      }
      try {
        await flushOnce();
        failures = 0;
        setHealthy(true);
      } catch (err) {
        failures++;
        metrics.inventoryWriteFailures.inc();
        setHealthy(false);
        if (rateLimited('flush-failed')) {
          logger.warn('inventory write failed; will retry', { error: errorText(err), queued: queue.length });
        }
        if (stopping) return;
        // New writes must not cut the backoff short (that would retry Postgres at the request rate).
        flushBackingOff = true;
        await waitForFlush(backoffMs(failures, { baseMs: 200, maxMs: 5_000 }));
        flushBackingOff = false;
      }
    }
  }

  async function renewingLease<T>(bucket: string, id: number, work: Promise<T>): Promise<T> {
    const every = Math.max(1000, (tuning.leaseSeconds * 1000) / 3);
    const t = setInterval(() => {
      pools!
        .withBucket(bucket, (pool) => pool.query(RENEW_LEASE_SQL, [id, owner, tuning.leaseSeconds]))
        .catch(() => undefined);
    }, every);
    try {
      return await work;
    } finally {
      clearInterval(t);
    }
  }

  function observe(action: 'copy' | 'delete', ok: boolean, startedAt: number): void {
    metrics.mirrorOperations.inc({ action, result: ok ? 'success' : 'failure' });
    metrics.mirrorDuration.observe({ action }, (Date.now() - startedAt) / 1000);
  }

  // Copies over 5 GiB go up in parts and hold two of them in memory each: two such copies at a time keep
  // the sidecar small whatever MIRROR_CONCURRENCY is.
  const partedCopies = createSlots(2);
  // Aborts the copies still running when stop() runs out of time; their rows are released, not failed.
  let stopCopies = new AbortController();
  const copierOpts = (): CopierOptions => ({
    ...tuning.copier,
    onBytes: (n) => metrics.mirrorBytes.inc(n),
    partedCopies,
    signal: stopCopies.signal,
  });

  /** Mirrors main's current state of one key, reading the bytes from the spool when it holds them. */
  async function copyKey(bucket: string, key: string): Promise<MirrorResult> {
    const lease = await spool?.take(bucket, key).catch(() => undefined);
    let result: MirrorResult;
    try {
      result = await mirrorKey(main!, mirror!, bucket, key, copierOpts(), lease?.body);
    } catch (err) {
      await lease?.settle('retry'); // a failed copy (mirror down) may still use the file next time
      throw err;
    }
    await lease?.settle(result.spool ?? 'changed');
    if (result.exists && result.source) {
      metrics.mirrorCopies.inc({ source: result.source });
      metrics.mirrorSourceBytes.inc({ source: result.source }, result.size);
    }
    return result;
  }

  /**
   * Row updates that Postgres could not take after a copy (it went away mid-copy): kept and retried, so the
   * row is settled as soon as Postgres is back instead of staying leased until the lease expires. Bounded;
   * beyond the bound, lease expiry still frees the row.
   */
  const unsettled: { bucket: string; run: (pool: import('pg').Pool) => Promise<void> }[] = [];
  const MAX_UNSETTLED = 10_000;

  async function settle(bucket: string, run: (p: import('pg').Pool) => Promise<void>): Promise<void> {
    try {
      await pools!.withBucket(bucket, run);
    } catch {
      if (unsettled.length < MAX_UNSETTLED) unsettled.push({ bucket, run });
    }
  }

  async function retryUnsettled(): Promise<void> {
    for (let n = unsettled.length; n > 0 && !stopping; n--) {
      const item = unsettled.shift()!;
      try {
        await pools!.withBucket(item.bucket, item.run);
      } catch {
        unsettled.push(item);
        return; // Postgres is still away: try again later
      }
    }
  }

  /**
   * Claims and mirrors one pending row of the bucket; false when there was none. The bucket's pool is taken
   * only for each query, not for the copy: otherwise every worker copying in another bucket would keep one
   * more pool (and its connections) open, and MIRROR_CONCURRENCY would set the connection budget.
   */
  async function mirrorOneFromDb(bucket: string, onClaimed?: () => void): Promise<boolean> {
    const claimed = await pools!.withBucket(bucket, (pool) =>
      pool.query<{ id: number; path: string; generation: string; attempts: number }>(CLAIM_SQL, [
        owner,
        tuning.leaseSeconds,
        ownerPrefix,
      ]),
    );
    const row = claimed.rows[0];
    if (!row) return false;
    // This start's signal: stop() replaces the controller, and an aborted copy must still read as aborted.
    const stopSignal = stopCopies.signal;
    onClaimed?.();
    const started = Date.now();
    dbInFlight++;
    try {
      let result: MirrorResult;
      try {
        result = await renewingLease(bucket, row.id, copyKey(bucket, row.path));
      } catch (err) {
        if (stopSignal.aborted) {
          // Cut short by stop(), not failed: free the row for any sidecar now, without counting an attempt.
          await settle(bucket, async (p) => {
            await p.query(RELEASE_SQL, [row.id, owner]);
          });
          return true;
        }
        observe('copy', false, started);
        const delay = backoffMs(row.attempts + 1, tuning.retry);
        // One line per 10 s: during a mirror outage every row fails; each row keeps its own last_error.
        if (rateLimited('mirror-failed')) {
          logger.warn('mirror failed; will retry', {
            bucket,
            key: row.path,
            attempt: row.attempts + 1,
            error: errorText(err),
          });
        }
        await settle(bucket, async (p) => {
          const failed = await p.query<{ parked: boolean }>(FAIL_SQL, [
            row.id,
            owner,
            errorText(err),
            delay,
            config.mirrorMaxAttempts,
          ]);
          if (failed.rows[0]?.parked) {
            const reason = (err as { name?: string }).name ?? 'Error';
            metrics.mirrorParkedTotal.inc({ reason });
            logger.error(
              'mirror: write parked after too many failed copies; the anti-entropy scan retries it',
              {
                bucket,
                key: row.path,
                attempts: row.attempts + 1,
                error: errorText(err),
              },
            );
          }
        });
        return true;
      }
      observe(result.exists ? 'copy' : 'delete', true, started);
      await settle(bucket, async (p) => {
        const done = await p.query(COMPLETE_SQL, completeParams(row.id, row.generation, result));
        if (!done.rowCount) await p.query(RELEASE_SQL, [row.id, owner]);
      });
    } finally {
      dbInFlight--;
    }
    return true;
  }

  /** Keys a memory copy is running for: a newer write of the key waits for it (an older copy never wins). */
  const memoryCopying = new Set<string>();

  async function mirrorOneFromMemory(): Promise<boolean> {
    let next: [string, { bucket: string; key: string }] | undefined;
    for (const entry of memoryMirror) {
      if (!memoryCopying.has(entry[0])) {
        next = entry;
        break;
      }
    }
    if (!next) return false;
    const [k, item] = next;
    memoryMirror.delete(k);
    memoryCopying.add(k);
    memoryInFlight++;
    const started = Date.now();
    try {
      const r = await copyKey(item.bucket, item.key);
      observe(r.exists ? 'copy' : 'delete', true, started);
    } catch (err) {
      observe('copy', false, started);
      if (rateLimited('memory-mirror-failed')) {
        logger.warn('mirror from memory failed; the inventory row will retry it', {
          bucket: item.bucket,
          key: item.key,
          error: errorText(err),
        });
      }
    } finally {
      memoryInFlight--;
      memoryCopying.delete(k);
      // A write that arrived meanwhile waited for this copy: its worker may be asleep.
      if (memoryMirror.has(k)) wakeMirror(1);
    }
    return true;
  }

  let cursor = 0;

  /**
   * One of MIRROR_CONCURRENCY copy loops. Only the first polls Postgres every idlePollMs for work no event
   * announced (retries coming due, expired leases, other sidecars' rows); the others sleep until woken, so an
   * idle sidecar costs one claim per poll, not one per worker. Work found by polling wakes one more worker,
   * which does the same, until all are busy or the work runs out.
   */
  async function mirrorWorker(index: number, gen: number): Promise<void> {
    const pollMs = index === 0 ? tuning.idlePollMs : tuning.idlePollMs * 30;
    let dbFailures = 0;
    let ramp = false;
    while (current(gen)) {
      if (!pgHealthy) {
        if (!(await mirrorOneFromMemory())) ramp = await idleMirrorWorker(tuning.idlePollMs);
        continue;
      }
      // A copy from memory may still run; let it end before copying from rows (ordering per key).
      if (memoryInFlight > 0) {
        await sleep(50);
        continue;
      }
      const list = [...buckets];
      // Round-robin over buckets: each pass starts one bucket further and visits every bucket once.
      const start = cursor++;
      let found = false;
      const onClaimed = ramp ? () => wakeMirror(1, true) : undefined;
      try {
        for (let i = 0; i < list.length && !stopping; i++) {
          const bucket = list[(start + i) % list.length]!;
          if (await mirrorOneFromDb(bucket, onClaimed)) {
            found = true;
            break;
          }
        }
        dbFailures = 0;
      } catch (err) {
        dbFailures++;
        if (rateLimited('mirror-postgres')) {
          logger.warn('mirror worker: postgres error', { error: errorText(err) });
        }
        await sleep(backoffMs(dbFailures, { baseMs: 200, maxMs: 5_000 }));
        continue;
      }
      if (!found) ramp = await idleMirrorWorker(pollMs);
    }
  }

  let scanner: AntiEntropyScanner | undefined;
  /** When each bucket's scan state is looked at next (a pass not due costs one query per look). */
  const scanNextLook = new Map<string, number>();

  /**
   * The anti-entropy scan: one page at a time of whichever known bucket is due, within its budget. A bucket
   * not due is looked at again only when its next pass is (one query per bucket per interval when idle);
   * first looks are spread over a minute so a sidecar that knows many buckets does not visit them at once.
   */
  async function scanLoop(gen: number): Promise<void> {
    const spreadMs = Math.min(60_000, config.antiEntropy.intervalSeconds * 1000);
    let failures = 0;
    while (current(gen)) {
      let worked = false;
      // While this sidecar still has writes on their way into Postgres, a delete among them would look like
      // a difference (a delete has no LastModified to settle on).
      const backlog = queue.length > 0 || journal?.hasBacklog() === true;
      if (pgHealthy && !backlog) {
        for (const bucket of [...buckets]) {
          if (!current(gen)) break;
          const look = scanNextLook.get(bucket);
          if (look === undefined) scanNextLook.set(bucket, Date.now() + Math.random() * spreadMs);
          if ((scanNextLook.get(bucket) ?? 0) > Date.now()) continue;
          try {
            const outcome = await scanner!.scanPage(bucket);
            failures = 0;
            if (outcome.kind === 'page') worked = true;
            else if (outcome.kind === 'not-due') scanNextLook.set(bucket, Date.now() + outcome.retryInMs);
            else scanNextLook.set(bucket, Date.now() + config.antiEntropy.intervalSeconds * 1000);
          } catch (err) {
            failures++;
            scanNextLook.set(bucket, Date.now() + backoffMs(failures, { baseMs: 1_000, maxMs: 60_000 }));
            if (rateLimited('scan-failed')) {
              logger.warn('anti-entropy scan: page failed; will retry', { bucket, error: errorText(err) });
            }
          }
        }
      }
      if (!worked) await sleep(1_000);
    }
  }

  const takeover = new TakeoverPolicy({
    allowedBuckets: config.allowedBuckets,
    askMain: (bucket) => askBucket(main!, bucket),
    recheckRefusedMs: tuning.recheckRefusedMs,
    onRefused: (bucket) =>
      logger.info(
        'inventory scan: main does not serve this bucket; its pending rows are left to other sidecars',
        {
          bucket,
        },
      ),
  });

  /** Adds buckets with inventory databases that this sidecar may take over (see takeover.ts). */
  async function scanDatabases(): Promise<void> {
    try {
      const dbs = await pools!.listBucketDatabases();
      for (const { db, bucket } of dbs) {
        const b = bucket ?? (await pools!.bucketOf(db).catch(() => undefined));
        if (b === undefined || buckets.has(b)) continue;
        if (await takeover.accepts(b)) buckets.add(b);
      }
    } catch (err) {
      logger.debug('inventory database scan failed', { error: errorText(err) });
    }
  }

  async function refreshStats(): Promise<void> {
    let pending = 0;
    let parked = 0;
    let lag = 0;
    try {
      for (const b of buckets) {
        const r = await pools!.withBucket(b, (pool) =>
          pool.query<{ pending: string; parked: string; lag: number }>(PENDING_STATS_SQL),
        );
        pending += Number(r.rows[0]?.pending ?? 0);
        parked += Number(r.rows[0]?.parked ?? 0);
        lag = Math.max(lag, Number(r.rows[0]?.lag ?? 0));
      }
      metrics.mirrorPending.set(pending + memoryMirror.size);
      metrics.mirrorParked.set(parked);
      metrics.mirrorLag.set(lag);
    } catch {
      // keep the last values; the flush loop reports Postgres health
    }
  }

  let releaseStateDir: (() => void) | undefined;

  /** Locks the state directory, then opens the journal and the spool in it. */
  function openStateDir(stateDir: string): void {
    releaseStateDir = lockStateDir(stateDir);
    if (!deps.owner) {
      owner = `${stableInstanceId(stateDir)}:${randomUUID()}`;
      ownerPrefix = `${owner.split(':')[0]}:`;
    }
    journal = WriteJournal.open({
      dir: path.join(stateDir, JOURNAL_SUBDIR),
      maxBytes: config.journalMaxBytes ?? DEFAULT_JOURNAL_MAX_BYTES,
      segmentBytes: Math.min(
        JOURNAL_SEGMENT_BYTES,
        Math.max(64 * 1024, Math.floor((config.journalMaxBytes ?? DEFAULT_JOURNAL_MAX_BYTES) / 4)),
      ),
      syncIntervalMs: JOURNAL_SYNC_INTERVAL_MS,
      onSyncError: (err) => {
        if (rateLimited('journal-sync')) logger.warn('journal fdatasync failed', { error: errorText(err) });
      },
    });
    const j = journal.stats();
    metrics.journalBytes.set(j.bytes);
    if (j.backlog) {
      logger.info('journal: replaying writes a previous run had not recorded in Postgres', {
        bytes: j.bytes,
        segments: j.segments - 1,
      });
    }
    spool = openSpool(stateDir);
  }

  /** The upload spool under STATE_DIR; a spool that cannot be prepared only costs the second reads. */
  function openSpool(stateDir: string): UploadSpool | undefined {
    const maxBytes = config.spoolMaxBytes ?? DEFAULT_SPOOL_MAX_BYTES;
    if (maxBytes === 0) return undefined;
    try {
      const opened = UploadSpool.open({
        ...tuning.spool,
        dir: path.join(stateDir, SPOOL_SUBDIR),
        maxBytes,
        maxObjectBytes: config.spoolMaxObjectBytes ?? DEFAULT_SPOOL_MAX_OBJECT_BYTES,
        metrics,
        logger,
      });
      if (opened.leftovers > 0) {
        logger.info('upload spool: removed files a previous run left', { files: opened.leftovers });
      }
      return opened.spool;
    } catch (err) {
      logger.warn('upload spool unavailable: mirror copies read main', { error: errorText(err) });
      return undefined;
    }
  }

  function every(ms: number, fn: () => Promise<void>): void {
    let busy = false;
    const t = setInterval(() => {
      if (busy || stopping) return;
      busy = true;
      void fn().finally(() => (busy = false));
    }, ms);
    t.unref();
    timers.push(t);
  }

  return {
    sink,
    uploads,
    async start(): Promise<void> {
      if (running) return;
      const choice = chooseStateDir(config.stateDir, config.listen.port);
      metrics.journalEnabled.set(choice.dir ? 1 : 0);
      if (choice.dir) {
        // Fails the start (and the proxy) when the state directory is unusable: better than silently
        // losing durability. STATE_DIR=off is the explicit way to run without it.
        try {
          openStateDir(choice.dir);
        } catch (err) {
          releaseStateDir?.();
          const where =
            choice.source === 'default' ? `the default state directory ${choice.dir}` : choice.dir;
          throw new StateDirError(
            `${where} cannot be used (${errorText(err)}); set STATE_DIR to a writable directory, or STATE_DIR=off to run without the write-ahead journal`,
          );
        }
        logger.info('write-ahead journal on', { stateDir: choice.dir, source: choice.source });
      } else {
        logger.error(
          'STATE_DIR=off: acknowledged writes wait in memory until Postgres records them; a kill loses those not yet recorded until the anti-entropy scan finds them',
        );
      }
      running = true;
      stopping = false;
      pools = new InventoryPools(config.postgresUrl, logger, tuning.pools);
      main = s3ClientFor(config.main, logger);
      mirror = s3ClientFor(config.mirror, logger);
      pgHealthy = await pools.ping();
      if (!pgHealthy) logger.warn('postgres unreachable at start; retrying in the background');
      void scanDatabases();
      every(tuning.scanIntervalMs, scanDatabases);
      every(tuning.statsIntervalMs, refreshStats);
      every(2_000, retryUnsettled);
      const gen = ++generation;
      loops.push(flushLoop(gen));
      for (let i = 0; i < Math.max(1, config.mirrorConcurrency); i++) loops.push(mirrorWorker(i, gen));
      metrics.scanIntervalSeconds.set(config.antiEntropy.intervalSeconds);
      if (config.antiEntropy.intervalSeconds > 0) {
        scanner = new AntiEntropyScanner({
          main,
          mirror,
          pools,
          owner,
          settings: config.antiEntropy,
          metrics,
          logger,
          onRequeued: (n) => wakeMirror(n),
        });
        scanLoops.push(scanLoop(gen));
      }
    },
    async stop(): Promise<void> {
      if (!running) return;
      stopping = true;
      // Loops this stop() may give up on end at their next turn, even once a later start() runs.
      generation++;
      for (const t of timers) clearInterval(t);
      timers.length = 0;
      wakeFlush?.();
      wakeMirror();
      // The scan stops at its next page; its lease is given back so another sidecar continues at once.
      await Promise.race([Promise.allSettled(scanLoops), sleep(2_000)]);
      scanLoops.length = 0;
      await scanner?.release();
      scanner = undefined;
      // What matters for durability is the queue into Postgres: the flush loop drains it while Postgres
      // answers, bounded by the grace period. Copies are leased rows (level-triggered): after a short
      // window to finish they are aborted and their rows released for any sidecar, instead of using the
      // pod's whole grace period.
      const [flush, ...workers] = loops;
      const deadline = Date.now() + Math.max(1000, config.shutdownGraceMs - 1000);
      const within = (p: Promise<unknown>, ms: number): Promise<boolean> =>
        Promise.race([p.then(() => true), sleep(Math.max(0, ms)).then(() => false)]);
      await within(flush ?? Promise.resolve(), deadline - Date.now());
      const copies = Promise.allSettled(workers);
      let copiesDone = await within(copies, Math.min(COPY_FINISH_MS, deadline - Date.now()));
      if (!copiesDone) {
        stopCopies.abort(new Error('the proxy is stopping'));
        copiesDone = await within(copies, COPY_RELEASE_MS);
      }
      if (queue.length > 0 || journal?.hasBacklog()) {
        logger.warn(
          journal
            ? 'stopping with writes not yet in Postgres; the journal replays them at the next start'
            : 'stopping with writes not yet in Postgres (STATE_DIR=off: the anti-entropy scan finds them)',
          { queued: queue.length },
        );
      }
      if (!copiesDone) {
        logger.warn(
          'stopping with mirror copies still running; their rows are taken over when the lease ends',
          {
            copies: memoryInFlight + dbInFlight,
          },
        );
      }
      loops.length = 0;
      running = false;
      stopCopies = new AbortController();
      await spool?.close();
      spool = undefined;
      await journal
        ?.close()
        .catch((err: unknown) => logger.warn('journal close failed', { error: errorText(err) }));
      journal = undefined;
      releaseStateDir?.();
      releaseStateDir = undefined;
      await pools?.close();
      main?.destroy();
      mirror?.destroy();
    },
    status(): TrackerStatus {
      return {
        postgresReachable: pgHealthy,
        memoryQueue: queue.length,
        memoryQueueOverflow: overflow,
        memoryMirrorPending: memoryMirror.size,
        mirrorInFlight: memoryInFlight + dbInFlight,
        openPools: pools?.openPools() ?? 0,
        knownBuckets: buckets.size,
        takeoverRefused: takeover.refusedCount(),
        running,
        eventsDropped: dropped,
        ...(journal ? { journal: journal.stats() } : {}),
        ...(spool ? { spool: spool.stats() } : {}),
      };
    },
  };
}
