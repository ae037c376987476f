#!/usr/bin/env node
import { ConfigError, loadConfig, secretsOf, type ProxyConfig } from './config';
import { createLogger } from './log';
import { createMetrics } from './metrics';
import { startProxy, type WriteTrackerLike } from './app';
import { createWriteTracker } from './tracking';

function configOrExit(): ProxyConfig {
  try {
    return loadConfig(process.env);
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`config error: ${err.message}\n`);
      process.exit(2);
    }
    throw err;
  }
}

async function main(): Promise<void> {
  const config = configOrExit();
  const logger = createLogger(config.logLevel, secretsOf(config));
  // A bug must still leave one redacted line saying what and where (Node's own report is unredacted).
  process.on('uncaughtException', (err: unknown, origin) => {
    const e = err instanceof Error ? err : new Error(String(err));
    logger.error('fatal: uncaught error; exiting', { origin, error: e.message, stack: e.stack });
    process.exit(1);
  });
  const metrics = createMetrics();
  const tracker: WriteTrackerLike = createWriteTracker({ config, logger, metrics });
  const proxy = await startProxy(config, logger, metrics, tracker);

  let stopping = false;
  const stop = (signal: string) => {
    if (stopping) return;
    stopping = true;
    logger.info('shutting down', { signal });
    // Never outlive the grace period by much, whatever background work still hangs on.
    setTimeout(() => {
      logger.error('shutdown did not finish in time; exiting', { graceMs: config.shutdownGraceMs });
      process.exit(1);
    }, config.shutdownGraceMs + 5_000).unref();
    proxy.shutdown().then(
      () => process.exit(0),
      (err: unknown) => {
        logger.error('shutdown failed', { error: (err as Error).message });
        process.exit(1);
      },
    );
  };
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
}

main().catch((err: unknown) => {
  process.stderr.write(`fatal: ${(err as Error).message}\n`);
  process.exit(1);
});
