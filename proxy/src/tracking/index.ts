/**
 * The write tracker: records every acknowledged write in the Postgres inventory and mirrors it, in the
 * background, never on the app's request path. This file only wires the parts and runs start/stop:
 *
 * | job                                      | module                   |
 * | ---------------------------------------- | ------------------------ |
 * | intake: journal on disk, memory queue    | write-intake.ts          |
 * | queue → Postgres (batched upserts)       | inventory-flusher.ts     |
 * | copy loops, due buckets, polling hints   | mirror-workers.ts        |
 * | hints: which due buckets, when settled   | bucket-work.ts           |
 * | hints for databases older than them      | hint-backfill.ts         |
 * | **claim → copy → settle one row**        | row-mirror.ts            |
 * | workers for fresh writes during a drain  | catch-up-slots.ts        |
 * | one copy of a key (spool or main)        | key-copier.ts            |
 * | mirroring from memory (Postgres down)    | memory-mirror.ts         |
 * | settles retried when Postgres returns    | settle-retry.ts          |
 * | which buckets (discovery, takeover)      | known-buckets.ts         |
 * | pending / parked / lag gauges            | pending-gauges.ts        |
 * | STATE_DIR: lock, journal, spool          | state-storage.ts         |
 * | anti-entropy pages, when and which       | ../scan/scan-schedule.ts |
 * | every SQL statement on a bucket database | ../inventory/repository.ts |
 * | work hints in the control database       | ../inventory/work-hints.ts |
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { randomUUID } from 'node:crypto';

import type { S3Client } from '@aws-sdk/client-s3';

import type { ProxyConfig } from '../config';
import type { WriteSink } from '../events';
import type { FailoverInventory } from '../http/failover-read';
import type { BackoffPolicy } from '../inventory/backoff';
import { DEFAULT_POOL_LIMITS, InventoryPools, type PoolLimits } from '../inventory/pools';
import { InventoryRepository, type LeaseOwner } from '../inventory/repository';
import type { Logger } from '../log';
import type { ProxyMetrics } from '../metrics';
import { AppPriority, DEFAULT_APP_PRIORITY, type AppActivity } from '../mirror/app-priority';
import { mirrorBucketNamer } from '../mirror/bucket-name';
import { DEFAULT_COPIER_OPTIONS, type CopierOptions } from '../mirror/copier';
import { askBucket, errorText, s3ClientFor } from '../mirror/s3';
import { signedS3Http, type ClosableS3Http } from '../mirror/s3-http';
import { createSlots } from '../mirror/slots';
import { AntiEntropyScanner } from '../scan/anti-entropy';
import { ScanSchedule } from '../scan/scan-schedule';
import type { UploadSpool, UploadSpoolPort } from '../spool';
import { CatchUpSlots, catchUpLimit } from './catch-up-slots';
import { BucketWork } from './bucket-work';
import { backfillHints } from './hint-backfill';
import { InventoryFlusher } from './inventory-flusher';
import type { JournalStats } from './journal';
import { createKeyCopier, type CopyKey } from './key-copier';
import { KnownBuckets } from './known-buckets';
import { createLogThrottle } from './log-throttle';
import { LoopGeneration, type LoopToken } from './loop-generation';
import { MemoryCopier, MemoryMirror } from './memory-mirror';
import { MirrorWorkers } from './mirror-workers';
import { refreshPendingGauges } from './pending-gauges';
import { ReplicationStatuses, type ReplicationStatus } from './replication-status';
import { RowMirror } from './row-mirror';
import { SettleRetry } from './settle-retry';
import { chooseStateDir, StateDirError } from './state-dir';
import { openStateStorage, type SpoolTuning, type StateStorage } from './state-storage';
import { DEFAULT_RECHECK_REFUSED_MS, TakeoverPolicy } from './takeover';
import { WriteIntake } from './write-intake';

export interface TrackerTuning {
  /** Lease on a claimed row; renewed every third of it while the copy runs. Expired leases are reclaimed. */
  leaseSeconds: number;
  retry: BackoffPolicy;
  /** Events per inventory transaction. */
  batchSize: number;
  /** Least time between two inventory flushes while batches are not full (inventory-flusher.ts). */
  flushLingerMs: number;
  /** How often the control hints' bucket list is read for buckets to take over. */
  scanIntervalMs: number;
  /** How often the control hints are polled for due work while notifications arrive. */
  hintPollMs: number;
  /** How long a sidecar that records writes vouches that it mirrors them itself (others keep off). */
  vouchSeconds: number;
  /** A scanned bucket this sidecar's main refused (HeadBucket 403/404/301) is asked about again after this. */
  recheckRefusedMs: number;
  /** How often the pending/lag gauges are refreshed from the database. */
  statsIntervalMs: number;
  /** Idle poll of the flush loop, and of the control hints while notifications do not arrive. */
  idlePollMs: number;
  pools: PoolLimits;
  copier: CopierOptions;
  /** Upload spool settings beyond the configured bounds (age, buffers). */
  spool: SpoolTuning;
}

export const DEFAULT_TUNING: TrackerTuning = {
  leaseSeconds: 120,
  retry: { baseMs: 1_000, maxMs: 300_000 },
  batchSize: 200,
  flushLingerMs: 25,
  scanIntervalMs: 30_000,
  hintPollMs: 5_000,
  vouchSeconds: 30,
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
  /** What a read failover asks of the inventory (http/failover-read.ts). */
  failoverInventory: FailoverInventory;
  /** The replication status of a key this sidecar wrote (x-amz-replication-status); a map lookup. */
  replicationStatus(bucket: string, key: string): ReplicationStatus | undefined;
  /** Told of every app request, so that catch-up copies give way to the app (mirror/app-priority.ts). */
  appActivity: AppActivity;
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

/** At stop: how long running copies may finish before they are aborted, and then how long their release may take. */
const COPY_FINISH_MS = 2_000;
const COPY_RELEASE_MS = 2_000;

/** Resolves true when `p` settles within `ms`, false otherwise. */
const within = (p: Promise<unknown>, ms: number): Promise<boolean> =>
  Promise.race([p.then(() => true), sleep(Math.max(0, ms)).then(() => false)]);

const leaseOwner = (owner: string): LeaseOwner => ({ owner, ownerPrefix: `${owner.split(':')[0]}:` });

export function createWriteTracker(deps: TrackerDeps): WriteTracker {
  const { config, logger, metrics } = deps;
  const tuning: TrackerTuning = { ...DEFAULT_TUNING, ...deps.tuning };
  const throttle = createLogThrottle();
  const loops = new LoopGeneration();
  let lease = leaseOwner(deps.owner ?? `${process.pid}-${randomUUID()}:${randomUUID()}`);
  let pgHealthy = true;
  let running = false;

  // Created by start(), gone after stop().
  let pools: InventoryPools | undefined;
  // The mirror's SDK client, for multipart copies over 5 GiB only (made at its first use).
  let mirrorSdk: S3Client | undefined;
  // Every other request to main and the mirror (copies, scan, bucket set-up), without the SDK.
  let mainHttp: ClosableS3Http | undefined;
  let mirrorHttp: ClosableS3Http | undefined;
  let storage: StateStorage | undefined;
  let copyKey: CopyKey | undefined;
  let scanner: AntiEntropyScanner | undefined;
  let flushLoop: Promise<void> | undefined;
  let workerLoops: Promise<void>[] = [];
  let scanLoop: Promise<void> | undefined;
  const timers: NodeJS.Timeout[] = [];

  // Aborts the copies still running when stop() runs out of time; their rows are released, not failed.
  let stopCopies = new AbortController();
  // Copies over 5 GiB go up in parts and hold two of them in memory each: two such copies at a time keep
  // the sidecar small whatever MIRROR_CONCURRENCY is.
  const partedCopies = createSlots(2);
  const appPriority = new AppPriority({
    ...DEFAULT_APP_PRIORITY,
    bytesPerSecond: config.mirrorCatchupBytesPerSecond ?? DEFAULT_APP_PRIORITY.bytesPerSecond,
  });
  const copierOptions = (): CopierOptions => ({
    ...tuning.copier,
    onBytes: (n) => metrics.mirrorBytes.inc(n),
    partedCopies,
    signal: stopCopies.signal,
  });
  const copier = (): CopyKey => copyKey!;
  // One repository for the tracker's life, over the pools of the current start.
  const inventory = new InventoryRepository(
    {
      withBucket: (bucket, fn) => pools!.withBucket(bucket, fn),
      get hints() {
        return pools!.hints;
      },
    },
    config.deletePolicy,
  );

  const mirrorBucket = mirrorBucketNamer(config.mirrorBucketTemplate);
  const memoryKeys = new MemoryMirror(config.pendingMemoryLimit);
  const settles = new SettleRetry();
  const takeover = new TakeoverPolicy({
    allowedBuckets: config.allowedBuckets,
    askMain: (bucket) => askBucket(mainHttp!, bucket),
    recheckRefusedMs: tuning.recheckRefusedMs,
    onRefused: (bucket) =>
      logger.info(
        'inventory scan: main does not serve this bucket; its pending rows are left to other sidecars',
        {
          bucket,
        },
      ),
  });
  const buckets = new KnownBuckets({ takeover, logger });
  const work = new BucketWork({
    hints: {
      due: (...a) => pools!.hints.due(...a),
      version: (b) => pools!.hints.version(b),
      settle: (...a) => pools!.hints.settle(...a),
    },
    inventory,
    owner: () => lease.owner,
    quietMs: 2_000,
    accepts: (bucket) => buckets.accepts(bucket),
    refused: () => takeover.refusedBuckets(),
    offer: (bucket) => workers.add(bucket, 1, true),
  });

  const statuses = new ReplicationStatuses();
  const catchUp = new CatchUpSlots(catchUpLimit(config.mirrorConcurrency));
  const rows = new RowMirror({
    inventory,
    copyKey: copier,
    deletePolicy: config.deletePolicy,
    lease: () => lease,
    leaseSeconds: tuning.leaseSeconds,
    retry: tuning.retry,
    maxAttempts: config.mirrorMaxAttempts,
    stopSignal: () => stopCopies.signal,
    settle: settles,
    metrics,
    logger,
    throttle,
    statuses,
    catchUp,
  });
  const memoryCopies = new MemoryCopier({
    keys: memoryKeys,
    copyKey: copier,
    deletesReachMirror: config.deletePolicy.kind === 'mirror',
    metrics,
    logger,
    throttle,
    onWaiting: () => workers.wake(1),
  });
  const workers = new MirrorWorkers({
    concurrency: config.mirrorConcurrency,
    pollMs: () => (pools?.listening ? tuning.hintPollMs : tuning.idlePollMs),
    findDue: () => work.findDue(),
    knownVersion: (bucket) => work.knownVersion(bucket),
    settle: (bucket, lookedAt) => work.settle(bucket, lookedAt),
    catchUpSlotFree: () => catchUp.anyFree,
    postgresHealthy: () => pgHealthy,
    copyFromMemory: () => memoryCopies.copyNext(),
    memoryCopiesRunning: () => memoryKeys.inFlight,
    copyFromRow: (bucket, opts) => rows.mirrorOne(bucket, opts),
    giveBack: (bucket, held) => rows.giveBack(bucket, held),
    logger,
    throttle,
  });

  const intake = new WriteIntake({
    memoryLimit: config.pendingMemoryLimit,
    journalMaxBytes: config.journalMaxBytes,
    metrics,
    logger,
    throttle,
    onQueued: (event) => {
      if (!pgHealthy && memoryKeys.add(event.bucket, event.key)) workers.wake(1);
      flusher.wake();
    },
    onBacklog: () => flusher.wake(),
  });
  const flusher = new InventoryFlusher({
    intake,
    inventory,
    batchSize: tuning.batchSize,
    lingerMs: tuning.flushLingerMs,
    idlePollMs: tuning.idlePollMs,
    vouch: () => ({ owner: lease.owner, seconds: tuning.vouchSeconds }),
    metrics,
    logger,
    throttle,
    onHealth: setHealthy,
    onRecorded: (bucket, count, version) => {
      buckets.add(bucket);
      work.recorded(bucket, version);
      workers.add(bucket, count);
    },
  });

  /** Postgres went away (mirror the queued writes from memory) or came back (settle what waited). */
  function setHealthy(ok: boolean): void {
    if (ok === pgHealthy) return;
    pgHealthy = ok;
    if (!ok) {
      logger.warn('postgres unreachable: holding writes in memory and mirroring from memory', {
        queued: intake.length,
      });
      for (const { event: e } of intake.events()) if (!memoryKeys.add(e.bucket, e.key)) break;
      workers.wake(memoryKeys.size);
    } else {
      logger.info('postgres reachable again: inventory catching up', { queued: intake.length });
      // Each kept update catches its own failure: this cannot reject.
      settles.retry(() => loops.stopping).catch(() => undefined);
    }
  }

  const sink: WriteSink = {
    record(event): void {
      try {
        storage?.spool?.noteEvent(event);
        intake.record(event);
        statuses.written(event.bucket, event.key, event.kind);
      } catch {
        // never throw into the data path
      }
    },
  };

  // A stable object for the handler, created before start(): the spool itself exists only while running.
  const uploads: UploadSpoolPort = {
    begin: (bucket, key, length, headers) => storage?.spool?.begin(bucket, key, length, headers),
    acknowledge: (file, bucket, key, response) => {
      if (storage?.spool) storage.spool.acknowledge(file, bucket, key, response);
      else file?.drop(undefined);
    },
  };

  function every(ms: number, fn: () => Promise<void>): void {
    let busy = false;
    const t = setInterval(() => {
      if (busy || loops.stopping) return;
      busy = true;
      fn()
        .finally(() => (busy = false))
        .catch((err: unknown) => logger.warn('tracker background task failed', { error: errorText(err) }));
    }, ms);
    t.unref();
    timers.push(t);
  }

  /** Locks STATE_DIR and opens the journal and spool in it, or runs without (STATE_DIR=off). */
  function openStorage(): void {
    const choice = chooseStateDir(config.stateDir, config.listen.port);
    metrics.journalEnabled.set(choice.dir ? 1 : 0);
    if (!choice.dir) {
      logger.error(
        'STATE_DIR=off: acknowledged writes wait in memory until Postgres records them; a kill loses those not yet recorded until the anti-entropy scan finds them',
      );
      return;
    }
    // Fails the start (and the proxy) when the state directory is unusable: better than silently losing
    // durability. STATE_DIR=off is the explicit way to run without it.
    try {
      storage = openStateStorage(choice.dir, {
        config,
        spoolTuning: tuning.spool,
        metrics,
        logger,
        throttle,
      });
    } catch (err) {
      const where = choice.source === 'default' ? `the default state directory ${choice.dir}` : choice.dir;
      throw new StateDirError(
        `${where} cannot be used (${errorText(err)}); set STATE_DIR to a writable directory, or STATE_DIR=off to run without the write-ahead journal`,
      );
    }
    if (!deps.owner) lease = leaseOwner(`${storage.instanceId}:${randomUUID()}`);
    intake.journal = storage.journal;
    logger.info('write-ahead journal on', { stateDir: choice.dir, source: choice.source });
  }

  function startScan(token: LoopToken): void {
    metrics.scanIntervalSeconds.set(config.antiEntropy.intervalSeconds);
    if (config.antiEntropy.intervalSeconds <= 0) return;
    scanner = new AntiEntropyScanner({
      main: mainHttp!,
      mirror: mirrorHttp!,
      mirrorBucket,
      inventory,
      owner: lease.owner,
      settings: config.antiEntropy,
      deletePolicy: config.deletePolicy,
      metrics,
      logger,
      onRequeued: (n, bucket) => workers.add(bucket, n),
    });
    scanLoop = new ScanSchedule({
      scanner,
      settings: config.antiEntropy,
      buckets: () => buckets.list(),
      dueScans: (list) => pools!.hints.dueScans(list, 16),
      scanDueIn: (bucket, inMs) => pools!.hints.scanDueIn(bucket, inMs),
      mayScan: () => pgHealthy && !intake.hasBacklog(),
      logger,
      throttle,
    }).run(token);
  }

  const failoverInventory: FailoverInventory = {
    postgresReachable: () => running && pgHealthy,
    mayHoldWrite: (bucket, key) => intake.mayHold(bucket, key),
    keyRow: (bucket, key) => inventory.keyRow(bucket, key),
  };

  return {
    sink,
    uploads,
    failoverInventory,
    replicationStatus: (bucket, key) => statuses.get(bucket, key),
    appActivity: appPriority,
    async start(): Promise<void> {
      if (running) return;
      openStorage();
      running = true;
      const token = loops.begin();
      pools = new InventoryPools(config.postgresUrl, logger, tuning.pools, {
        // Coalesced: many notifications before the poll runs cost one poll.
        onNotify: () => workers.pollNow(),
        onReconnected: () => workers.pollNow(),
      });
      pools.startListening();
      mirrorSdk = s3ClientFor(config.mirror, logger);
      mainHttp = signedS3Http(config.main, { logger });
      mirrorHttp = signedS3Http(config.mirror, { logger });
      copyKey = createKeyCopier({
        clients: {
          main: { http: mainHttp },
          mirror: { sdk: mirrorSdk, http: mirrorHttp },
          mirrorBucket,
          mirrorRegion: config.mirror.region,
        },
        spool: storage?.spool,
        options: copierOptions,
        catchUpPacing: appPriority,
        metrics,
      });
      pgHealthy = await pools.ping();
      if (!pgHealthy) logger.warn('postgres unreachable at start; retrying in the background');
      const current = pools;
      let backfilled = false;
      const discover = async (): Promise<void> => {
        await buckets.discover(() => current.hints.buckets());
        if (!backfilled) {
          backfilled = await backfillHints({
            hints: current.hints,
            pools: current,
            inventory,
            logger,
            owner: lease.owner,
          }).catch((err: unknown) => {
            logger.warn('control database: filling in work hints failed; will retry', {
              error: errorText(err),
            });
            return false;
          });
        }
      };
      // Hints moved later by a previous start's leases are due again (its leases are ours to take over).
      current.hints
        .recheck(lease.ownerPrefix)
        .catch(() => undefined)
        .finally(() => discover().catch(() => undefined))
        .catch(() => undefined);
      every(tuning.scanIntervalMs, discover);
      every(tuning.statsIntervalMs, async () => {
        const again = await refreshPendingGauges(
          {
            hints: current.hints,
            inventory,
            recount: work.takeRecounts(),
            buckets: buckets.list(),
            pendingInMemory: memoryKeys.size,
          },
          metrics,
        );
        work.recountLater(again);
      });
      every(2_000, () => settles.retry(() => loops.stopping));
      flushLoop = flusher.run(token, () => loops.stopping);
      workerLoops = workers.start(token);
      startScan(token);
    },

    async stop(): Promise<void> {
      if (!running) return;
      // Loops this stop() may give up on end at their next turn, even once a later start() runs.
      loops.end();
      for (const t of timers) clearInterval(t);
      timers.length = 0;
      flusher.interrupt();
      workers.wake();
      // The scan stops at its next page; its lease is given back so another sidecar continues at once.
      if (scanLoop) await within(Promise.allSettled([scanLoop]), 2_000);
      scanLoop = undefined;
      await scanner?.release();
      scanner = undefined;
      // What matters for durability is the queue into Postgres: the flush loop drains it while Postgres
      // answers, bounded by the grace period. Copies are leased rows (level-triggered): after a short
      // window to finish they are aborted and their rows released for any sidecar, instead of using the
      // pod's whole grace period.
      const deadline = Date.now() + Math.max(1000, config.shutdownGraceMs - 1000);
      await within(flushLoop ?? Promise.resolve(), deadline - Date.now());
      const copies = Promise.allSettled(workerLoops);
      let copiesDone = await within(copies, Math.min(COPY_FINISH_MS, deadline - Date.now()));
      if (!copiesDone) {
        stopCopies.abort(new Error('the proxy is stopping'));
        copiesDone = await within(copies, COPY_RELEASE_MS);
      }
      if (intake.hasBacklog()) {
        logger.warn(
          storage
            ? 'stopping with writes not yet in Postgres; the journal replays them at the next start'
            : 'stopping with writes not yet in Postgres (STATE_DIR=off: the anti-entropy scan finds them)',
          { queued: intake.length },
        );
      }
      if (!copiesDone) {
        logger.warn(
          'stopping with mirror copies still running; their rows are taken over when the lease ends',
          {
            copies: memoryKeys.inFlight + rows.inFlight,
          },
        );
      }
      flushLoop = undefined;
      workerLoops = [];
      running = false;
      stopCopies = new AbortController();
      await storage?.close();
      intake.journal = undefined;
      storage = undefined;
      // Other sidecars take this one's buckets at once, not when its vouching ends.
      if (pools && pgHealthy)
        await within(
          pools.hints.relinquish(lease.owner).catch(() => undefined),
          1_000,
        );
      await pools?.close();
      mirrorSdk?.destroy();
      await Promise.allSettled([mainHttp?.destroy(), mirrorHttp?.destroy()]);
    },

    status(): TrackerStatus {
      const spool = storage?.spool;
      return {
        postgresReachable: pgHealthy,
        memoryQueue: intake.length,
        memoryQueueOverflow: intake.overflow,
        memoryMirrorPending: memoryKeys.size,
        mirrorInFlight: memoryKeys.inFlight + rows.inFlight,
        openPools: pools?.openPools() ?? 0,
        knownBuckets: buckets.size,
        takeoverRefused: takeover.refusedCount(),
        running,
        eventsDropped: intake.dropped,
        ...(intake.journal ? { journal: intake.journal.stats() } : {}),
        ...(spool ? { spool: spool.stats() } : {}),
      };
    },
  };
}
