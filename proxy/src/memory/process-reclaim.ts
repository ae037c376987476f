/** The memory reclaim of a running proxy (reclaim-when-quiet.ts) over this process's RSS, CPU, logger and metrics. */
import type { Logger } from '../log';
import type { ProxyMetrics } from '../metrics';
import { collectGarbage } from './garbage-collection';
import { loadMallocTrim } from './malloc-trim';
import { startMemoryReclaim, type MemoryReclaim } from './reclaim-when-quiet';

export function startProcessMemoryReclaim(logger: Logger, metrics: ProxyMetrics): MemoryReclaim {
  const mallocTrim = loadMallocTrim();
  if (!mallocTrim) {
    logger.info(
      'memory reclaim without malloc_trim: its addon (dist/native) was not built or does not load',
      {
        effect: 'a reclaim only collects garbage; glibc keeps what is freed below the top of its arenas',
      },
    );
  }
  return startMemoryReclaim({
    rssBytes: () => process.memoryUsage.rss(),
    arrayBufferBytes: () => process.memoryUsage().arrayBuffers,
    cpuMicros: () => {
      const { user, system } = process.cpuUsage();
      return user + system;
    },
    nowMicros: () => Number(process.hrtime.bigint() / 1000n),
    collectGarbage,
    mallocTrim,
    onReclaim: (r) => {
      metrics.memoryReclaims.inc();
      metrics.memoryReclaimedBytes.inc(Math.max(0, r.rssBeforeBytes - r.rssAfterBytes));
      logger.debug('memory reclaimed', {
        rssBeforeBytes: r.rssBeforeBytes,
        rssAfterBytes: r.rssAfterBytes,
        durationMs: Math.round(r.durationMs * 10) / 10,
        collected: r.collected,
        trimmed: r.trimmed,
      });
    },
    onError: (err) => logger.warn('memory reclaim failed', { error: err.message }),
  });
}
