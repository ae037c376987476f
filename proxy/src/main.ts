#!/usr/bin/env node
import { ConfigError, DEFAULT_SPOOL_MEMORY_BYTES, loadConfig, secretsOf, type ProxyConfig } from './config';
import { fetchedSecrets, startCredentials } from './credentials';
import { checkExtraCaCerts, extraCaLog, type TrustedCa } from './extra-ca';
import { createLogger, type Logger } from './log';
import { batchedLines } from './log-output';
import { startProcessMemoryReclaim } from './memory/process-reclaim';
import { createMetrics } from './metrics';
import { startProxy, type WriteTrackerLike } from './app';
import { createWriteTracker } from './tracking';
import { StateDirError } from './tracking/state-dir';

// Log lines leave in batches, one write per turn of the event loop; at exit whatever is pending goes out,
// and so does every line after it at once.
const output = batchedLines((text) => process.stdout.write(text));
process.on('exit', () => output.close());

/** One JSON line on stderr, for failures before (or instead of) the logger: every line is JSON. */
function printFatal(message: string, fields: Record<string, unknown> = {}): void {
  output.flush(); // what was logged before goes out first
  process.stderr.write(
    `${JSON.stringify({ level: 'error', message, ...fields, timestamp: new Date().toISOString() })}\n`,
  );
}

function configOrExit(): { config: ProxyConfig; extraCa: ReturnType<typeof checkExtraCaCerts> } {
  try {
    const config = loadConfig(process.env);
    // Before anything opens TLS (credentials, the first request): Node reads the file at that point.
    return { config, extraCa: checkExtraCaCerts(process.env) };
  } catch (err) {
    if (err instanceof ConfigError) {
      printFatal(`config error: ${err.message}`, { variable: err.variable });
      process.exit(2);
    }
    throw err;
  }
}

/** Which private CAs this proxy trusts, so an operator can see the mount worked, and which are out of date. */
function logExtraCa(logger: Logger, trust: { file: string; certificates: TrustedCa[] }): void {
  const { info, warnings } = extraCaLog(trust);
  logger.info('trusting extra CA certificates', info);
  for (const w of warnings) {
    logger.warn(
      'an extra CA certificate is outside its validity period: connections it alone verifies fail',
      w,
    );
  }
}

async function main(): Promise<void> {
  const { config, extraCa } = configOrExit();
  // Fetched credentials are redacted too: the current and the previous secret key and token of each side.
  const secrets = fetchedSecrets(secretsOf(config));
  const logger = createLogger(config.logLevel, secrets.values, (line) => output.write(line));
  if (extraCa) logExtraCa(logger, extraCa);
  // A bug must still leave one redacted line saying what and where (Node's own report is unredacted).
  process.on('uncaughtException', (err: unknown, origin) => {
    const e = err instanceof Error ? err : new Error(String(err));
    logger.error('fatal: uncaught error; exiting', { origin, error: e.message, stack: e.stack });
    process.exit(1);
  });
  // Node prints process warnings (the AWS SDK's Node version notice, deprecations) as plain text on
  // stderr through its own 'warning' listener; every line this process prints is JSON, so they go through
  // the logger instead.
  process.removeAllListeners('warning');
  process.on('warning', (w) => logger.warn('process warning', { name: w.name, warning: w.message }));
  const metrics = createMetrics();
  // Before anything signs: /readyz turns ready only once both sides hold credentials.
  await startCredentials([config.main.credentials, config.mirror.credentials], logger, metrics, secrets.add);
  const tracker: WriteTrackerLike = createWriteTracker({ config, logger, metrics });
  const proxy = await startProxy(config, logger, metrics, tracker);
  const memoryReclaim =
    config.memoryReclaim === false
      ? undefined
      : startProcessMemoryReclaim(logger, metrics, {
          spoolMemoryBytes: config.spoolMemoryBytes ?? DEFAULT_SPOOL_MEMORY_BYTES,
          requestsServed: proxy.requestsServed,
        });

  let stopping = false;
  const stop = (signal: string) => {
    if (stopping) return;
    stopping = true;
    logger.info('shutting down', { signal });
    memoryReclaim?.stop();
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
  if (err instanceof StateDirError) {
    printFatal(`config error: STATE_DIR: ${err.message}`, { variable: err.variable });
    process.exit(2);
  }
  printFatal(`fatal: ${(err as Error).message}`);
  process.exit(1);
});
