import type { Dispatcher } from 'undici';
import { startProxy, type WriteTrackerLike } from '@k8s-s3-mirror/proxy/dist/app';
import { loadConfig, secretsOf } from '@k8s-s3-mirror/proxy/dist/config';
import { createLogger } from '@k8s-s3-mirror/proxy/dist/log';
import { createMetrics } from '@k8s-s3-mirror/proxy/dist/metrics';
import { createWriteTracker } from '@k8s-s3-mirror/proxy/dist/tracking';
import { NodeHttpUpstream } from './node-http-upstream';

/**
 * The real proxy (same handler, signer, config and tracker as proxy/dist/main.js) with one part swapped, for
 * the benchmark's controlled comparisons:
 * - BENCH_FORWARDER=node-http forwards through Node's http client instead of undici's Pool;
 * - BENCH_TRACKER=off records nothing in the background (the control arm for "does inventory and mirroring
 *   work slow the app down").
 */
async function main(): Promise<void> {
  const config = loadConfig(process.env);
  const logger = createLogger(config.logLevel, secretsOf(config));
  const metrics = createMetrics();
  const tracker: WriteTrackerLike =
    process.env.BENCH_TRACKER === 'off'
      ? { sink: { record: () => undefined }, start: async () => undefined, stop: async () => undefined }
      : createWriteTracker({ config, logger, metrics });
  // The handler calls only request() and close(), which NodeHttpUpstream provides with the same shapes.
  const upstream =
    process.env.BENCH_FORWARDER === 'node-http'
      ? (new NodeHttpUpstream() as unknown as Dispatcher)
      : undefined;
  const proxy = await startProxy(config, logger, metrics, tracker, upstream ? { upstream } : {});
  const stop = (): void => {
    proxy.shutdown().then(
      () => process.exit(0),
      () => process.exit(1),
    );
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
}

main().catch((err: unknown) => {
  process.stderr.write(`fatal: ${(err as Error).message}\n`);
  process.exit(1);
});
