/**
 * The floor under a mirrored write's own cost (issue 12): what the copy's parts cost by themselves, with
 * nothing of the tracker around them. Runs in a process of its own (copy-floor-main.ts) so its CPU is only
 * this: signed requests over the proxy's undici edge (a HEAD on main, a 4 KiB PUT to the mirror), the
 * proxy's copy function that makes both from a body held in memory as the spool holds a small upload, and
 * the completion statement through the proxy's own repository and pools. Each phase is timed with
 * process.cpuUsage() over `copies` operations at `concurrency`.
 */
import { execFile } from 'node:child_process';
import path from 'node:path';
import { Readable } from 'node:stream';
import { promisify } from 'node:util';

import { staticCredentials } from '@k8s-s3-mirror/proxy/dist/credentials/source';
import { InventoryPools } from '@k8s-s3-mirror/proxy/dist/inventory/pools';
import { InventoryRepository } from '@k8s-s3-mirror/proxy/dist/inventory/repository';
import { createLogger } from '@k8s-s3-mirror/proxy/dist/log';
import { sameBucketName } from '@k8s-s3-mirror/proxy/dist/mirror/bucket-name';
import {
  DEFAULT_COPIER_OPTIONS,
  mirrorKey,
  type CopyClients,
  type MirrorResult,
} from '@k8s-s3-mirror/proxy/dist/mirror/copier';
import { s3ClientFor } from '@k8s-s3-mirror/proxy/dist/mirror/s3';
import { consumeRest, signedS3Http } from '@k8s-s3-mirror/proxy/dist/mirror/s3-http';
import { forEachConcurrently } from './concurrently';

const COPY_FLOOR_MAIN = path.resolve(__dirname, 'copy-floor-main.js');

/** Keys for a backend that checks signatures (RGW); the sink takes any. */
export interface FloorKeys {
  accessKeyId: string;
  secretAccessKey: string;
}

const ANY_KEYS: FloorKeys = { accessKeyId: 'FLOORKEY', secretAccessKey: 'floor-secret' };

export interface CopyFloorOptions {
  mainUrl: string;
  mirrorUrl: string;
  mainKeys?: FloorKeys;
  mirrorKeys?: FloorKeys;
  postgresUrl: string;
  bucket: string;
  copies: number;
  concurrency: number;
  size: number;
}

/** CPU ms per operation of each phase. */
export interface CopyFloor {
  /** A signed HEAD on main (the check before a copy from the spool). */
  headMs: number;
  /** A signed 4 KiB PUT to the mirror from memory. */
  putMs: number;
  /** The proxy's copy function (HEAD, PUT, header mapping, checks) from a body in memory. */
  copyMs: number;
  /** The completion (compare-and-set) through the proxy's repository and pools. */
  settleMs: number;
}

/** Runs `op(i)` for i in [0, count) at `concurrency`; returns the process's CPU ms per operation. */
async function cpuPerOp(
  count: number,
  concurrency: number,
  op: (i: number) => Promise<void>,
): Promise<number> {
  const start = process.cpuUsage();
  await forEachConcurrently(count, concurrency, op);
  const used = process.cpuUsage(start);
  return (used.user + used.system) / 1000 / count;
}

export async function measureCopyFloor(opts: CopyFloorOptions): Promise<CopyFloor> {
  const endpoint = (url: string, side: 'main' | 'mirror', keys: FloorKeys = ANY_KEYS) => ({
    url: new URL(url),
    region: 'us-east-1',
    credentials: staticCredentials(side, keys),
  });
  const mainEndpoint = endpoint(opts.mainUrl, 'main', opts.mainKeys);
  const mirrorEndpoint = endpoint(opts.mirrorUrl, 'mirror', opts.mirrorKeys);
  const main = signedS3Http(mainEndpoint);
  const mirror = signedS3Http(mirrorEndpoint);
  const sdkMirror = s3ClientFor(mirrorEndpoint);
  const clients: CopyClients = {
    main: { http: main },
    mirror: { http: mirror, sdk: sdkMirror },
    mirrorBucket: sameBucketName,
    mirrorRegion: 'us-east-1',
  };
  const pools = new InventoryPools(opts.postgresUrl, createLogger('off'));
  const inventory = new InventoryRepository(pools);
  const body = Buffer.alloc(opts.size, 'f');
  const put = (http: typeof main, key: string) =>
    http.send({
      method: 'PUT',
      bucket: opts.bucket,
      key,
      headers: { 'content-length': String(opts.size), 'content-type': 'application/octet-stream' },
      body: Readable.from([body]),
    });
  /** Every phase over `count` new keys under `prefix`. */
  const phases = async (prefix: string, count: number): Promise<CopyFloor> => {
    const keys = Array.from({ length: count }, (_, i) => `${prefix}-${i}`);
    // Set-up, not timed: the objects on main, their rows in the inventory.
    const etags: string[] = [];
    const rows: { id: number; generation: string }[] = [];
    await cpuPerOp(count, opts.concurrency, async (i) => {
      const res = await put(main, keys[i]!);
      consumeRest(res.body);
      etags[i] = String(res.headers.etag ?? '');
      rows[i] = await inventory.recordWrite(opts.bucket, {
        bucket: opts.bucket,
        key: keys[i]!,
        kind: 'put',
        operation: 'PutObject',
        etag: etags[i],
        size: opts.size,
        acknowledgedAt: new Date(),
      });
    });

    const headMs = await cpuPerOp(count, opts.concurrency, async (i) => {
      consumeRest((await main.send({ method: 'HEAD', bucket: opts.bucket, key: keys[i]! })).body);
    });
    const putMs = await cpuPerOp(count, opts.concurrency, async (i) => {
      consumeRest((await put(mirror, keys[i]!)).body);
    });
    const results: MirrorResult[] = [];
    const copyMs = await cpuPerOp(count, opts.concurrency, async (i) => {
      // As the spool hands over a small upload: its bytes, and a stream over them.
      const spooled = { etag: etags[i]!, size: opts.size, bytes: body, open: () => Readable.from([body]) };
      const result = await mirrorKey(clients, opts.bucket, keys[i]!, DEFAULT_COPIER_OPTIONS, spooled);
      if (!result.exists || result.source !== 'spool')
        throw new Error(`copy of ${keys[i]} did not use its body in memory`);
      results[i] = result;
    });
    const settleMs = await cpuPerOp(count, opts.concurrency, async (i) => {
      const won = await inventory.complete(opts.bucket, rows[i]!.id, rows[i]!.generation, results[i]!);
      if (!won) throw new Error(`completion of ${keys[i]} lost its compare-and-set`);
    });
    return { headMs, putMs, copyMs, settleMs };
  };
  try {
    for (const http of [main, mirror]) {
      const res = await http.send({ method: 'PUT', bucket: opts.bucket });
      consumeRest(res.body);
      if (res.statusCode !== 200 && res.statusCode !== 409)
        throw new Error(`CreateBucket: ${res.statusCode}`);
    }
    // Compiled and connected first: the measured phases are a running proxy's, not a cold start's.
    await phases('warm-up', Math.min(opts.copies, 500));
    return await phases('floor', opts.copies);
  } finally {
    await pools.close();
    await Promise.allSettled([main.destroy(), mirror.destroy()]);
    sdkMirror.destroy();
  }
}

/** measureCopyFloor in a child process of its own (copy-floor-main.js), so its CPU counts nothing else. */
export async function copyFloorInChild(opts: CopyFloorOptions): Promise<CopyFloor> {
  const { stdout } = await promisify(execFile)(process.execPath, [COPY_FLOOR_MAIN], {
    env: {
      ...process.env,
      MAIN_URL: opts.mainUrl,
      MIRROR_URL: opts.mirrorUrl,
      ...(opts.mainKeys
        ? { MAIN_ACCESS_KEY: opts.mainKeys.accessKeyId, MAIN_SECRET_KEY: opts.mainKeys.secretAccessKey }
        : {}),
      ...(opts.mirrorKeys
        ? {
            MIRROR_ACCESS_KEY: opts.mirrorKeys.accessKeyId,
            MIRROR_SECRET_KEY: opts.mirrorKeys.secretAccessKey,
          }
        : {}),
      POSTGRES_URL: opts.postgresUrl,
      BUCKET: opts.bucket,
      COPIES: String(opts.copies),
      CONCURRENCY: String(opts.concurrency),
      SIZE: String(opts.size),
    },
  });
  return JSON.parse(stdout) as CopyFloor;
}
