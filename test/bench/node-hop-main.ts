// First, before undici loads: its HTTP/2 code deferred as in the proxy's bundle.
import './undici-h2-deferred';

import { collectGarbage } from '@k8s-s3-mirror/proxy/dist/memory/garbage-collection';
import { loadMallocTrim } from '@k8s-s3-mirror/proxy/dist/memory/malloc-trim';
import { createNodeHopServer } from './node-hop-server';

/**
 * Child-process entry for the Node.js reference hop: `UPSTREAM=http://127.0.0.1:P HOP_PORT=N node node-hop-main.js`.
 * HOP_RECLAIM_AFTER_MS=N: N ms after start, what the proxy does once quiet after start-up (a full collection
 * that also drops unused bytecode, then malloc_trim), so that at rest the hop is the proxy's floor under the
 * same treatment (the idle scenario).
 */
const upstream = new URL(process.env.UPSTREAM ?? '').origin;
const { server } = createNodeHopServer(upstream);
server.listen(Number(process.env.HOP_PORT ?? '0'), '127.0.0.1', () => {
  process.stdout.write(`node hop listening, upstream ${upstream}\n`);
});
process.on('SIGTERM', () => process.exit(0));

const reclaimAfterMs = Number(process.env.HOP_RECLAIM_AFTER_MS ?? '');
if (reclaimAfterMs > 0) {
  setTimeout(() => {
    collectGarbage({ flushCode: true });
    const addon = loadMallocTrim();
    const trimmed = addon.ok && addon.trim();
    process.stdout.write(
      `node hop reclaimed at rest: collected with code flushed, trimmed ${String(trimmed)}\n`,
    );
  }, reclaimAfterMs).unref();
}
