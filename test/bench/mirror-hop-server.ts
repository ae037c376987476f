/**
 * The floor under a mirrored write, as one process (issue 12): node-hop's pass-through, and for every small
 * object PUT that main accepted, the least a mirroring sidecar does once the app has its answer. That is a
 * signed HEAD on main, a signed PUT of the body (held in memory) to the mirror, and one statement recording
 * the write. It has no journal, spool, scheduling, retries or checks.
 *
 * Why one process: a Node process's CPU per request grows as its request rate falls. Each event wakes an
 * idle loop, so the same code costs about three times as much per request at RGW's 120 writes/s as at the
 * sink's 1,500 (test/bench/notes.md). Parts timed apart at their own rates miss that. Run in the same closed
 * loop as the shipped proxy, against the same backend, this reference pays it as the proxy does.
 */
import http from 'node:http';

import type { InventoryRepository } from '@k8s-s3-mirror/proxy/dist/inventory/repository';
import { consumeRest, type S3Http } from '@k8s-s3-mirror/proxy/dist/mirror/s3-http';
import { Pool } from '@k8s-s3-mirror/proxy/dist/http/undici-pool';
import { forward } from './node-hop-server';

/** Bodies up to this size are held and mirrored; larger ones are only passed through (the bench's are 4 KiB). */
export const MIRROR_HOP_MAX_BODY = 64 * 1024;

export interface MirrorHopDeps {
  upstreamOrigin: string;
  main: S3Http;
  mirror: S3Http;
  inventory: Pick<InventoryRepository, 'recordWrites'>;
}

export interface MirrorHopCounts {
  copies: number;
  failures: number;
}

/** `/bucket/key` with no query: the object PUTs this hop mirrors. */
export function objectPutTarget(
  method: string | undefined,
  url: string | undefined,
): { bucket: string; key: string } | undefined {
  if (method !== 'PUT' || !url || url.includes('?')) return undefined;
  const match = /^\/([^/]+)\/(.+)$/.exec(url);
  if (!match) return undefined;
  return { bucket: match[1]!, key: decodeURIComponent(match[2]!) };
}

export function createMirrorHopServer(deps: MirrorHopDeps): {
  server: http.Server;
  counts: MirrorHopCounts;
  close(): Promise<void>;
} {
  const pool = new Pool(deps.upstreamOrigin, { connections: 256, keepAliveTimeout: 300_000 });
  const counts: MirrorHopCounts = { copies: 0, failures: 0 };
  const mirrorBuckets = new Map<string, Promise<void>>();
  const mirrorBucket = (bucket: string): Promise<void> => {
    let made = mirrorBuckets.get(bucket);
    if (!made) {
      made = deps.mirror.send({ method: 'PUT', bucket }).then((res) => consumeRest(res.body));
      mirrorBuckets.set(bucket, made);
    }
    return made;
  };

  const mirrorWrite = async (bucket: string, key: string, body: Buffer): Promise<void> => {
    const head = await deps.main.send({ method: 'HEAD', bucket, key });
    consumeRest(head.body);
    await mirrorBucket(bucket);
    const put = await deps.mirror.send({
      method: 'PUT',
      bucket,
      key,
      headers: { 'content-length': String(body.length), 'content-type': 'application/octet-stream' },
      body,
    });
    consumeRest(put.body);
    if (put.statusCode !== 200) throw new Error(`mirror PUT: HTTP ${put.statusCode}`);
    const etag = head.headers.etag;
    await deps.inventory.recordWrites(bucket, [
      {
        bucket,
        key,
        kind: 'put',
        operation: 'PutObject',
        ...(typeof etag === 'string' ? { etag } : {}),
        size: body.length,
        acknowledgedAt: new Date(),
      },
    ]);
  };

  const server = http.createServer({ keepAliveTimeout: 300_000 }, (req, res) => {
    const target = objectPutTarget(req.method, req.url);
    const length = Number(req.headers['content-length']);
    if (!target || !(length <= MIRROR_HOP_MAX_BODY)) {
      forward(pool, req, res);
      return;
    }
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      const body = Buffer.concat(chunks);
      forward(pool, req, res, {
        body,
        onAnswer: (status) => {
          if (status !== 200) return;
          mirrorWrite(target.bucket, target.key, body).then(
            () => counts.copies++,
            () => counts.failures++,
          );
        },
      });
    });
  });
  return {
    server,
    counts,
    async close() {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await pool.close();
    },
  };
}
