import path from 'node:path';
import type { Dispatcher } from 'undici';
import { NodeHttpUpstream } from './node-http-upstream';

type AppModule = typeof import('@k8s-s3-mirror/proxy/dist/app');
type ConfigModule = typeof import('@k8s-s3-mirror/proxy/dist/config');
type LogModule = typeof import('@k8s-s3-mirror/proxy/dist/log');
type MetricsModule = typeof import('@k8s-s3-mirror/proxy/dist/metrics');
type TrackingModule = typeof import('@k8s-s3-mirror/proxy/dist/tracking');

/**
 * The real proxy (same handler, signer, config and tracker as proxy/dist/main.js) with one part swapped, for
 * the benchmark's controlled comparisons:
 * - BENCH_FORWARDER=node-http forwards through Node's http client instead of undici's Pool;
 * - BENCH_TRACKER=off records nothing in the background (the control arm for "does inventory and mirroring
 *   work slow the app down").
 * BENCH_PROXY_DIST loads the proxy from another copy of proxy/dist (before/after comparisons of a change).
 */
async function main(): Promise<void> {
  const dist = process.env.BENCH_PROXY_DIST ?? path.dirname(require.resolve('@k8s-s3-mirror/proxy/dist/app'));
  const load = <T>(name: string): Promise<T> => import(path.join(dist, name)) as Promise<T>;
  const { startProxy } = await load<AppModule>('app.js');
  const { loadConfig, secretsOf } = await load<ConfigModule>('config.js');
  const { createLogger } = await load<LogModule>('log.js');
  const { createMetrics } = await load<MetricsModule>('metrics.js');
  const { createWriteTracker } = await load<TrackingModule>('tracking/index.js');
  const config = loadConfig(process.env);
  const logger = createLogger(config.logLevel, secretsOf(config));
  const metrics = createMetrics();
  const tracker: Parameters<AppModule['startProxy']>[3] =
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
