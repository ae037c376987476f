/**
 * One mirror copy of a key: main's current state onto the mirror, the bytes from the upload spool when it
 * holds them (no second read from main), else from main.
 */
import type { ProxyMetrics } from '../metrics';
import type { CopyPacing } from '../mirror/app-priority';
import { mirrorKey, type CopierOptions, type CopyClients, type MirrorResult } from '../mirror/copier';
import type { UploadSpool } from '../spool';

export interface CopyKeyOptions {
  /** Main no longer holding the key leaves the mirror's copy (the delete policy decided). */
  keepMissing?: boolean;
  /** The row belongs to a backlog (its copy failed before, or it waited long): it gives way to the app's requests. */
  catchingUp?: boolean;
}

export type CopyKey = (bucket: string, key: string, opts?: CopyKeyOptions) => Promise<MirrorResult>;

export function createKeyCopier(deps: {
  clients: CopyClients;
  spool: UploadSpool | undefined;
  options: () => CopierOptions;
  /** How a catch-up copy gives way to the app (absent: it never does). */
  catchUpPacing?: CopyPacing;
  metrics: ProxyMetrics;
}): CopyKey {
  const { clients, spool, metrics, catchUpPacing } = deps;
  const onPaced = (ms: number): void => metrics.mirrorGaveWay.inc(ms / 1000);
  return async (bucket, key, opts = {}) => {
    const lease = await spool?.take(bucket, key).catch(() => undefined);
    let result: MirrorResult;
    try {
      const options: CopierOptions = { ...deps.options() };
      if (opts.keepMissing) options.keepMissing = true;
      if (opts.catchingUp && catchUpPacing) {
        options.pacing = catchUpPacing;
        options.onPaced = onPaced;
      }
      result = await mirrorKey(clients, bucket, key, options, lease?.body);
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
  };
}

/** Counts a mirror operation and its duration. */
export function observeMirror(
  metrics: ProxyMetrics,
  action: 'copy' | 'delete' | 'keep',
  ok: boolean,
  startedAt: number,
): void {
  metrics.mirrorOperations.inc({ action, result: ok ? 'success' : 'failure' });
  metrics.mirrorDuration.observe({ action }, (Date.now() - startedAt) / 1000);
}
