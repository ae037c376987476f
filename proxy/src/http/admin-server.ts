import express from 'express';
import type { Registry } from 'prom-client';

export interface AdminState {
  /** False while starting and once shutdown has begun. */
  ready(): boolean;
  /** Extra detail for /readyz, e.g. inventory and mirror status. Never secrets. */
  details?(): object;
}

/** Health and metrics, on their own port: every path on the data port may be a bucket. */
export function createAdminApp(registry: Registry, state: AdminState): express.Express {
  const app = express();
  app.disable('x-powered-by');
  app.get('/healthz', (_req, res) => {
    res.type('text/plain').send('ok\n');
  });
  app.get('/readyz', (_req, res) => {
    const ready = state.ready();
    res.status(ready ? 200 : 503).json({ ready, ...(state.details?.() ?? {}) });
  });
  app.get('/metrics', async (_req, res) => {
    res.type(registry.contentType).send(await registry.metrics());
  });
  return app;
}
