/**
 * The memory reclaim of a running proxy (reclaim-when-quiet.ts) over this process's RSS, CPU, logger and
 * metrics, and the young-generation collections paced by the body bytes it streams (scavenge-pacer.ts).
 */
import type { Logger } from '../log';
import type { ProxyMetrics } from '../metrics';
import { onBodyBytes } from './body-bytes';
import { collectFullWhileStreaming, collectGarbage, scavenge } from './garbage-collection';
import { loadMallocTrim } from './malloc-trim';
import { reclaimPolicyFor } from './reclaim-policy';
import { startMemoryReclaim, type MemoryReclaim } from './reclaim-when-quiet';
import { ScavengePacer } from './scavenge-pacer';

export function startProcessMemoryReclaim(
  logger: Logger,
  metrics: ProxyMetrics,
  opts: { spoolMemoryBytes: number; requestsServed: () => number },
): MemoryReclaim {
  const addon = loadMallocTrim();
  // The image always carries the addon; a machine without a C compiler builds none (proxy/native/build.mjs).
  if (!addon.ok) {
    logger.warn('memory reclaim without malloc_trim: its addon did not load', {
      reason: addon.reason,
      effect: 'a reclaim only collects garbage; glibc keeps what is freed below the top of its arenas',
    });
  }
  const arrayBufferBytes = (): number => process.memoryUsage().arrayBuffers;
  const pacer = new ScavengePacer({
    arrayBufferBytes,
    scavenge: () => {
      scavenge();
      metrics.bodyScavenges.inc();
    },
    collectFull: () => {
      collectFullWhileStreaming();
      metrics.bodyFullCollections.inc();
    },
    onError: (err) =>
      logger.warn('collections paced by streamed bodies stopped: one failed', {
        error: err.message,
        effect: 'dead Buffers of large transfers wait for V8’s own collections; the memory reclaim goes on',
      }),
  });
  onBodyBytes((bytes) => pacer.note(bytes));
  const reclaim = startMemoryReclaim(
    {
      rssBytes: () => process.memoryUsage.rss(),
      arrayBufferBytes,
      cpuMicros: () => {
        const { user, system } = process.cpuUsage();
        return user + system;
      },
      nowMicros: () => Number(process.hrtime.bigint() / 1000n),
      collectGarbage,
      requestsServed: opts.requestsServed,
      mallocTrim: addon.ok ? addon.trim : undefined,
      onReclaim: (r) => {
        metrics.memoryReclaims.inc();
        metrics.memoryReclaimedBytes.inc(Math.max(0, r.rssBeforeBytes - r.rssAfterBytes));
        logger.debug('memory reclaimed', {
          cause: r.cause,
          rssBeforeBytes: r.rssBeforeBytes,
          rssAfterBytes: r.rssAfterBytes,
          durationMs: Math.round(r.durationMs * 10) / 10,
          collected: r.collected,
          flushedCode: r.flushedCode,
          ...(r.flushedCode ? { bytecodeFreedBytes: r.bytecodeFreedBytes } : {}),
          trimmed: r.trimmed,
        });
      },
      onError: (err) => logger.warn('memory reclaim failed', { error: err.message }),
    },
    { policy: reclaimPolicyFor(opts.spoolMemoryBytes) },
  );
  return {
    sample: () => reclaim.sample(),
    stop: () => {
      onBodyBytes(undefined);
      reclaim.stop();
    },
  };
}
