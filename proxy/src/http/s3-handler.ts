/**
 * The data path's request handler: each app request becomes one S3Exchange (admit → read body → forward
 * → record → relay; s3-exchange.ts), with these edges injected.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';

import { MAX_HELD_BODY_MS } from './response-writing';
import { S3Exchange, type ExchangeDeps, type S3HandlerDeps } from './s3-exchange';

export type { S3HandlerDeps };

export function createS3Handler(deps: S3HandlerDeps) {
  const exchangeDeps: ExchangeDeps = {
    ...deps,
    heldBodyMaxMs: deps.heldBodyMaxMs ?? MAX_HELD_BODY_MS,
    mainOrigin: deps.config.main.url.origin,
  };
  return function handleS3Request(req: IncomingMessage, res: ServerResponse): Promise<void> {
    return new S3Exchange(exchangeDeps, req, res).run();
  };
}
