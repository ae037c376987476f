/**
 * What lives in STATE_DIR, opened at start: the lock (one proxy per directory), the write-ahead journal
 * and the upload spool. A spool that cannot be prepared only costs second reads from main; a journal that
 * cannot be opened fails the start (the caller turns that into a StateDirError).
 */
import path from 'node:path';

import {
  DEFAULT_JOURNAL_MAX_BYTES,
  DEFAULT_SPOOL_MAX_BYTES,
  DEFAULT_SPOOL_MAX_OBJECT_BYTES,
  DEFAULT_SPOOL_MEMORY_BYTES,
  type ProxyConfig,
} from '../config';
import type { Logger } from '../log';
import type { ProxyMetrics } from '../metrics';
import { errorText } from '../mirror/s3';
import { SPOOL_SUBDIR, UploadSpool, type UploadSpoolOptions } from '../spool';
import { WriteJournal } from './journal';
import type { LogThrottle } from './log-throttle';
import { JOURNAL_SUBDIR, lockStateDir, stableInstanceId } from './state-dir';

/** Background fdatasync period of the journal: bounds what a node crash (not a process kill) can lose. */
const JOURNAL_SYNC_INTERVAL_MS = 1_000;
const JOURNAL_SEGMENT_BYTES = 8 * 1024 * 1024;

export interface StateStorage {
  journal: WriteJournal;
  spool: UploadSpool | undefined;
  /** Stable across restarts of the proxy on this directory (lease owners use it). */
  instanceId: string;
  /** Closes the spool and the journal, then frees the lock. */
  close(): Promise<void>;
}

export type SpoolTuning = Partial<
  Omit<UploadSpoolOptions, 'dir' | 'maxBytes' | 'maxObjectBytes' | 'metrics' | 'logger'>
>;

export function openStateStorage(
  stateDir: string,
  deps: {
    config: Pick<
      ProxyConfig,
      'journalMaxBytes' | 'spoolMaxBytes' | 'spoolMaxObjectBytes' | 'spoolMemoryBytes'
    >;
    spoolTuning: SpoolTuning;
    metrics: ProxyMetrics;
    logger: Logger;
    throttle: LogThrottle;
  },
): StateStorage {
  const { config, metrics, logger, throttle } = deps;
  const release = lockStateDir(stateDir);
  let journal: WriteJournal;
  let instanceId: string;
  try {
    instanceId = stableInstanceId(stateDir);
    const maxBytes = config.journalMaxBytes ?? DEFAULT_JOURNAL_MAX_BYTES;
    journal = WriteJournal.open({
      dir: path.join(stateDir, JOURNAL_SUBDIR),
      maxBytes,
      segmentBytes: Math.min(JOURNAL_SEGMENT_BYTES, Math.max(64 * 1024, Math.floor(maxBytes / 4))),
      syncIntervalMs: JOURNAL_SYNC_INTERVAL_MS,
      onSyncError: (err) => {
        if (throttle('journal-sync')) logger.warn('journal fdatasync failed', { error: errorText(err) });
      },
    });
  } catch (err) {
    release();
    throw err;
  }
  const j = journal.stats();
  metrics.journalBytes.set(j.bytes);
  if (j.backlog) {
    logger.info('journal: replaying writes a previous run had not recorded in Postgres', {
      bytes: j.bytes,
      segments: j.segments - 1,
    });
  }
  const spool = openSpool(stateDir, deps);
  return {
    journal,
    spool,
    instanceId,
    async close() {
      await spool?.close();
      await journal
        .close()
        .catch((err: unknown) => logger.warn('journal close failed', { error: errorText(err) }));
      release();
    },
  };
}

function openSpool(
  stateDir: string,
  deps: {
    config: Pick<ProxyConfig, 'spoolMaxBytes' | 'spoolMaxObjectBytes' | 'spoolMemoryBytes'>;
    spoolTuning: SpoolTuning;
    metrics: ProxyMetrics;
    logger: Logger;
  },
): UploadSpool | undefined {
  const { config, metrics, logger } = deps;
  const maxBytes = config.spoolMaxBytes ?? DEFAULT_SPOOL_MAX_BYTES;
  if (maxBytes === 0) return undefined;
  try {
    const opened = UploadSpool.open({
      ...deps.spoolTuning,
      dir: path.join(stateDir, SPOOL_SUBDIR),
      maxBytes,
      maxObjectBytes: config.spoolMaxObjectBytes ?? DEFAULT_SPOOL_MAX_OBJECT_BYTES,
      memoryBytes: config.spoolMemoryBytes ?? DEFAULT_SPOOL_MEMORY_BYTES,
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
