import path from 'node:path';

import { freePorts } from '../harness/free-port';
import { POD_NODE_ENV, PROXY_IMAGE_NODE_ARGS } from '../harness/proxy';
import { startNodeService, type ReferenceHop } from './procs';

const NODE_HOP_MAIN = path.resolve(__dirname, 'node-hop-main.js');

/**
 * The bare Node.js hop (node-hop-main.ts) in front of `backendUrl`, with the proxy's Node flags (image and
 * pod heap limit) and allocator settings, so that it differs from the proxy only in the proxy's own work.
 */
export async function startNodeHop(opts: {
  name: string;
  backendUrl: string;
  logDir: string;
  /** Environment of its own (node-hop-main.ts: HOP_RECLAIM_AFTER_MS). */
  env?: Record<string, string>;
}): Promise<ReferenceHop> {
  const [port] = (await freePorts(1)) as [number];
  const url = `http://127.0.0.1:${port}`;
  const service = await startNodeService({
    name: opts.name,
    script: NODE_HOP_MAIN,
    env: { ...POD_NODE_ENV, ...opts.env, UPSTREAM: opts.backendUrl, HOP_PORT: String(port) },
    nodeArgs: [...PROXY_IMAGE_NODE_ARGS],
    logDir: opts.logDir,
    // Any answer will do: it comes from the backend, through the hop.
    readyUrl: `${url}/`,
    ready: (status) => status > 0,
  });
  return { ...service, url, pids: () => [service.pid] };
}
