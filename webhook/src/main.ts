/** Entry point: configuration, Kubernetes client, certificate source, servers, signals. */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { parseConfig, type Config } from './config';
import { createKubeApi, secretChecker } from './k8s-client';
import { createLogger } from './log';
import { createMetrics } from './metrics';
import { startServers } from './server';
import { FileCertSource } from './tls/file-source';
import { SelfManagedCerts } from './tls/self-managed';
import { UninjectedDetector } from './uninjected-detector';

/** Files in CONFIG_DIR (a mounted ConfigMap), then the environment on top. */
function rawConfig(env: NodeJS.ProcessEnv): Record<string, string | undefined> {
  const out: Record<string, string | undefined> = {};
  const dir = env.CONFIG_DIR;
  if (dir) {
    for (const name of readdirSync(dir)) {
      if (name.startsWith('..') || !/^[A-Z0-9_]+$/.test(name)) continue;
      const path = join(dir, name);
      if (statSync(path).isFile()) out[name] = readFileSync(path, 'utf8');
    }
  }
  for (const [k, v] of Object.entries(env)) if (v !== undefined) out[k] = v;
  return out;
}

async function main(): Promise<void> {
  const parsed = parseConfig(rawConfig(process.env));
  if (!parsed.ok) {
    for (const e of parsed.errors) process.stderr.write(`config error: ${e}\n`);
    process.exit(2);
  }
  const config: Config = parsed.config;
  const logger = createLogger(config.webhook.logLevel);
  const metrics = createMetrics();
  const api = await createKubeApi();
  const checkSecret = secretChecker(
    api,
    config.proxy.credentialsSecretName,
    config.webhook.secretCheckTimeoutMs,
    config.webhook.secretCheckCacheSeconds,
    (state) => metrics.secretChecks.inc({ result: state === 'unknown' ? 'error' : state }),
  );
  const servers = await startServers({ config, logger, metrics, checkSecret });
  logger.info('webhook starting', {
    tlsMode: config.tls.mode,
    sidecarMode: config.injection.sidecarMode,
    uninjectedCheckIntervalSeconds: config.webhook.uninjectedCheckIntervalSeconds,
    metricsPort: servers.metricsPort(),
  });

  const onCert = async (cert: { cert: string; key: string }) => {
    const first = !servers.isReady();
    await servers.setCertificate(cert);
    if (first) logger.info('serving admission over HTTPS', { port: servers.httpsPort() });
  };
  let stopCerts: () => void;
  if (config.tls.mode === 'files') {
    const source = new FileCertSource({
      certFile: config.tls.certFile,
      keyFile: config.tls.keyFile,
      intervalSeconds: config.tls.reloadIntervalSeconds,
      onCert,
      logger,
      metrics,
    });
    source.start();
    stopCerts = () => source.stop();
  } else {
    const manager = new SelfManagedCerts({
      api,
      settings: config.tls,
      namespace: config.webhook.namespace,
      identity: config.webhook.podName || hostname(),
      onCert,
      logger,
      metrics,
    });
    manager.start();
    stopCerts = () => manager.stop();
  }

  const detector = new UninjectedDetector({ api, config, logger, metrics });
  detector.start();

  let stopping = false;
  const shutdown = (signal: string) => {
    if (stopping) return;
    stopping = true;
    logger.info('shutting down', { signal, delaySeconds: config.webhook.shutdownDelaySeconds });
    stopCerts();
    detector.stop();
    // Keep serving while the Service endpoints drop this pod, then close.
    servers.markStopping();
    const delay = new Promise((r) => setTimeout(r, config.webhook.shutdownDelaySeconds * 1000));
    delay
      .then(() => servers.close())
      .then(
        () => process.exit(0),
        () => process.exit(1),
      );
  };
  process.on('SIGTERM', () => shutdown('SIGTERM'));
  process.on('SIGINT', () => shutdown('SIGINT'));
}

main().catch((err: unknown) => {
  process.stderr.write(`fatal: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
});
