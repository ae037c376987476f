// First, before undici loads: its HTTP/2 code deferred as in the proxy's bundle.
import './undici-h2-deferred';

import http from 'node:http';

import { staticCredentials } from '@k8s-s3-mirror/proxy/dist/credentials/source';
import { InventoryPools } from '@k8s-s3-mirror/proxy/dist/inventory/pools';
import { InventoryRepository } from '@k8s-s3-mirror/proxy/dist/inventory/repository';
import { createLogger } from '@k8s-s3-mirror/proxy/dist/log';
import { signedS3Http } from '@k8s-s3-mirror/proxy/dist/mirror/s3-http';
import { createMirrorHopServer } from './mirror-hop-server';

/**
 * Child-process entry for the mirroring reference hop (mirror-hop-server.ts):
 * `MAIN_URL=… MAIN_ACCESS_KEY=… MAIN_SECRET_KEY=… MIRROR_URL=… MIRROR_ACCESS_KEY=… MIRROR_SECRET_KEY=…
 * POSTGRES_URL=… HOP_PORT=N ADMIN_PORT=M node mirror-hop-main.js`. The admin port answers /metrics with the
 * copies made and failed, under the proxy's counter name, so the bench's write-cost loop can read them.
 */
const env = (name: string): string => {
  const value = process.env[name];
  if (!value) throw new Error(`${name} is required`);
  return value;
};
const endpoint = (side: 'main' | 'mirror', prefix: string) => ({
  url: new URL(env(`${prefix}_URL`)),
  region: 'us-east-1',
  credentials: staticCredentials(side, {
    accessKeyId: env(`${prefix}_ACCESS_KEY`),
    secretAccessKey: env(`${prefix}_SECRET_KEY`),
  }),
});
const mainEndpoint = endpoint('main', 'MAIN');
const hop = createMirrorHopServer({
  upstreamOrigin: mainEndpoint.url.origin,
  main: signedS3Http(mainEndpoint),
  mirror: signedS3Http(endpoint('mirror', 'MIRROR')),
  inventory: new InventoryRepository(new InventoryPools(env('POSTGRES_URL'), createLogger('off'))),
});
hop.server.listen(Number(env('HOP_PORT')), '127.0.0.1', () => {
  process.stdout.write(`mirror hop listening, main ${mainEndpoint.url.origin}\n`);
});
http
  .createServer((_req, res) => {
    res.writeHead(200, { 'content-type': 'text/plain' });
    res.end(
      `s3mirror_mirror_copies_total ${hop.counts.copies}\n` +
        `s3mirror_mirror_copy_failures_total ${hop.counts.failures}\n`,
    );
  })
  .listen(Number(env('ADMIN_PORT')), '127.0.0.1');
process.on('SIGTERM', () => process.exit(0));
