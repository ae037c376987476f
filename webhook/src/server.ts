/** The HTTPS admission server (express) and the plain-HTTP metrics/health server. */
import http from 'node:http';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import express, { type NextFunction, type Request, type Response } from 'express';
import { admit, admissionTarget, decodeReview, needsSecretCheck } from './admission';
import { MUTATE_PATH, type Config } from './config';
import type { Logger } from './log';
import type { WebhookMetrics } from './metrics';
import type { SecretState } from './patch-builder';

export interface ServingCert {
  cert: string;
  key: string;
}

export interface ServerDeps {
  config: Config;
  logger: Logger;
  metrics: WebhookMetrics;
  /** Looks up the credentials Secret in a namespace; must resolve (never reject) within its own timeout. */
  checkSecret: (namespace: string) => Promise<SecretState>;
}

/** Pure-ish request handler wiring, exported for in-process tests. */
export interface Readiness {
  ready: boolean;
  text: string;
}

/**
 * The namespace label comes from the request: anyone who can reach the port could send endless made-up
 * namespaces. Past this many distinct values, new ones are counted under `_other`, so memory stays bounded.
 */
export const MAX_NAMESPACE_LABELS = 1000;
export const OTHER_NAMESPACE_LABEL = '_other';

function boundedLabel(seen: Set<string>, value: string): string {
  if (seen.has(value)) return value;
  if (seen.size >= MAX_NAMESPACE_LABELS) return OTHER_NAMESPACE_LABEL;
  seen.add(value);
  return value;
}

export function createAdmissionApp(deps: ServerDeps, readiness: () => Readiness): express.Express {
  const { config, logger, metrics } = deps;
  const namespaceLabels = new Set<string>();
  const app = express();
  app.disable('x-powered-by');
  app.get('/healthz', (_req, res) => {
    res.type('text/plain').send('ok');
  });
  app.get('/readyz', (_req, res) => {
    const r = readiness();
    res
      .status(r.ready ? 200 : 503)
      .type('text/plain')
      .send(r.text);
  });
  app.post(
    MUTATE_PATH,
    express.json({ limit: config.webhook.maxBodyBytes, type: () => true, strict: true }),
    (req: Request, res: Response) => {
      const end = metrics.admissionDuration.startTimer();
      const fail = (status: number, reason: string, message: string) => {
        metrics.admissionRequests.inc({ result: 'error', reason });
        end({ result: 'error' });
        logger.warn('admission request rejected', { status, reason, message });
        res.status(status).json({ error: message });
      };
      const decoded = decodeReview(req.body);
      if (!decoded.ok) return fail(400, 'bad-review', decoded.message);
      const request = decoded.request;
      const respond = async () => {
        const target = admissionTarget(request);
        let secret: SecretState = 'found';
        if (needsSecretCheck(target, config) && target.ok) secret = await deps.checkSecret(target.namespace);
        return admit(request, config, secret);
      };
      respond().then(
        (outcome) => {
          const r = outcome.result;
          const result = r.action === 'inject' ? r.reason : 'skipped';
          metrics.admissionRequests.inc({ result, reason: r.reason });
          if (r.action === 'inject' && r.reason === 'injected')
            metrics.injections.inc({ namespace: boundedLabel(namespaceLabels, outcome.namespace) });
          metrics.warnings.inc(r.warnings.length);
          end({ result });
          logger.info('admission', {
            uid: request.uid,
            namespace: outcome.namespace,
            result,
            reason: r.reason,
            ops: r.patch.length,
            warnings: r.warnings.length,
          });
          res.json(outcome.review);
        },
        (err: unknown) => {
          // Never block a pod on our own bug: allow it unchanged and say so.
          metrics.admissionRequests.inc({ result: 'error', reason: 'internal' });
          end({ result: 'error' });
          logger.error('admission failed', {
            uid: request.uid,
            error: err instanceof Error ? err.message : String(err),
          });
          res.json({
            apiVersion: 'admission.k8s.io/v1',
            kind: 'AdmissionReview',
            response: {
              uid: request.uid,
              allowed: true,
              warnings: ['s3-mirror webhook internal error: proxy not injected'],
            },
          });
        },
      );
    },
  );
  app.use((req, res) => {
    res.status(404).json({ error: `no route for ${req.method} ${req.path}` });
  });
  app.use((err: unknown, _req: Request, res: Response, _next: NextFunction) => {
    const e = err as { type?: string; status?: number; message?: string };
    const status =
      e.type === 'entity.too.large' ? 413 : e.status && e.status >= 400 && e.status < 500 ? e.status : 400;
    const message =
      e.type === 'entity.too.large'
        ? `request body exceeds ${config.webhook.maxBodyBytes} bytes`
        : e.type === 'entity.parse.failed'
          ? 'request body is not valid JSON'
          : (e.message ?? 'bad request');
    metrics.admissionRequests.inc({
      result: 'error',
      reason: e.type === 'entity.too.large' ? 'too-large' : 'bad-body',
    });
    logger.warn('bad admission body', { status, message });
    res.status(status).json({ error: message });
  });
  return app;
}

export interface RunningServers {
  /** Installs or replaces the serving certificate; starts the HTTPS listener on the first call. */
  setCertificate(cert: ServingCert): Promise<void>;
  isReady(): boolean;
  /** Answers /readyz with 503 from now on (endpoints drain while requests are still served). */
  markStopping(): void;
  httpsPort(): number | undefined;
  metricsPort(): number;
  close(): Promise<void>;
}

export async function startServers(deps: ServerDeps, host = '0.0.0.0'): Promise<RunningServers> {
  const { config, metrics } = deps;
  let httpsServer: https.Server | undefined;
  let stopping = false;
  const isReady = () => !stopping && httpsServer !== undefined && httpsServer.listening;
  const readiness = (): Readiness => {
    if (isReady()) return { ready: true, text: 'ready' };
    return { ready: false, text: stopping ? 'shutting down' : 'no certificate loaded' };
  };
  const app = createAdmissionApp(deps, readiness);

  const metricsServer = http.createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    if (req.method !== 'GET') {
      res.writeHead(405).end();
    } else if (path === '/metrics') {
      metrics.registry.metrics().then(
        (body) => res.writeHead(200, { 'content-type': metrics.registry.contentType }).end(body),
        () => res.writeHead(500).end(),
      );
    } else if (path === '/healthz') {
      res.writeHead(200, { 'content-type': 'text/plain' }).end('ok');
    } else if (path === '/readyz') {
      const r = readiness();
      res.writeHead(r.ready ? 200 : 503, { 'content-type': 'text/plain' }).end(r.text);
    } else {
      res.writeHead(404).end();
    }
  });
  await new Promise<void>((resolve, reject) => {
    metricsServer.once('error', reject);
    metricsServer.listen(config.webhook.metricsPort, host, () => resolve());
  });

  return {
    async setCertificate(c) {
      if (httpsServer) {
        httpsServer.setSecureContext({ cert: c.cert, key: c.key, minVersion: 'TLSv1.2' });
        return;
      }
      const server = https.createServer({ cert: c.cert, key: c.key, minVersion: 'TLSv1.2' }, app);
      server.headersTimeout = 10_000;
      server.requestTimeout = 30_000;
      server.keepAliveTimeout = 65_000;
      await new Promise<void>((resolve, reject) => {
        server.once('error', reject);
        server.listen(config.webhook.port, host, () => resolve());
      });
      httpsServer = server;
      metrics.ready.set(1);
    },
    isReady,
    markStopping: () => {
      stopping = true;
      metrics.ready.set(0);
    },
    httpsPort: () => (httpsServer ? (httpsServer.address() as AddressInfo).port : undefined),
    metricsPort: () => (metricsServer.address() as AddressInfo).port,
    async close() {
      const closeOne = (s: http.Server | https.Server | undefined) =>
        new Promise<void>((resolve) => {
          if (!s) return resolve();
          s.close(() => resolve());
          s.closeAllConnections();
        });
      await Promise.all([closeOne(httpsServer), closeOne(metricsServer)]);
    },
  };
}
