import path from 'node:path';

import { freePorts } from '../harness/free-port';
import { POD_NODE_ENV, PROXY_IMAGE_NODE_ARGS } from '../harness/proxy';
import type { ProxyEnvInput, ProxyUnderTest } from './env';
import { startNodeService } from './procs';

const MIRROR_HOP_MAIN = path.resolve(__dirname, 'mirror-hop-main.js');

/**
 * The mirroring reference hop (mirror-hop-server.ts) in front of main, copying to the mirror and recording
 * in the inventory at `postgresUrl`, with the proxy's Node flags and allocator settings. An app signs its
 * requests with main's keys: the hop forwards them unchanged.
 */
export async function startMirrorHop(opts: {
  name: string;
  upstreams: ProxyEnvInput;
  logDir: string;
}): Promise<ProxyUnderTest> {
  const [port, adminPort] = (await freePorts(2)) as [number, number];
  const { upstreams } = opts;
  const service = await startNodeService({
    name: opts.name,
    script: MIRROR_HOP_MAIN,
    env: {
      ...POD_NODE_ENV,
      MAIN_URL: upstreams.mainUrl,
      MAIN_ACCESS_KEY: upstreams.main.accessKeyId,
      MAIN_SECRET_KEY: upstreams.main.secretAccessKey,
      MIRROR_URL: upstreams.mirrorUrl,
      MIRROR_ACCESS_KEY: upstreams.mirror.accessKeyId,
      MIRROR_SECRET_KEY: upstreams.mirror.secretAccessKey,
      POSTGRES_URL: upstreams.postgresUrl,
      HOP_PORT: String(port),
      ADMIN_PORT: String(adminPort),
    },
    nodeArgs: [...PROXY_IMAGE_NODE_ARGS],
    logDir: opts.logDir,
    readyUrl: `http://127.0.0.1:${adminPort}/metrics`,
  });
  return {
    ...service,
    url: `http://127.0.0.1:${port}`,
    adminUrl: `http://127.0.0.1:${adminPort}`,
    postgresUrl: upstreams.postgresUrl,
  };
}
