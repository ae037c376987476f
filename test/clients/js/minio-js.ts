/**
 * Client-matrix driver for the MinIO JS client (npm `minio`). Its API hides HTTP statuses, so the driver
 * records them in the HTTP transport it gives the client: each op's outcome carries the status of its last
 * response.
 */
import http from 'node:http';
import type { Readable } from 'node:stream';
import * as Minio from 'minio';

import {
  DOT_SEGMENT_KEYS,
  Recorder,
  SPECIAL_KEYS,
  defined,
  exceptionOutcome,
  fileLikeStream,
  parseDriverArgs,
  patternBody,
  readAll,
  sha256,
  smallBody,
  type Json,
  type Outcome,
} from './common';

const MiB = 1024 * 1024;

/** Every response status the client received, in order: its HTTP transport, wrapped. */
class StatusTrace {
  statuses: number[] = [];
  readonly transport = {
    request: (opts: http.RequestOptions, cb?: (res: http.IncomingMessage) => void): http.ClientRequest =>
      http.request(opts, (res) => {
        this.statuses.push(res.statusCode ?? 0);
        cb?.(res);
      }),
  } as unknown as Pick<typeof http, 'request'>;
  last(): number | undefined {
    return this.statuses[this.statuses.length - 1];
  }
}

function minioError(trace: StatusTrace) {
  return (err: unknown): Outcome | undefined => {
    const e = err as { code?: unknown };
    if (!(err instanceof Minio.S3Error) && typeof e.code !== 'string') return undefined;
    // Client-side validation errors (no request sent) have no status: keep them as exceptions.
    const status = trace.last();
    if (status === undefined) return undefined;
    return { status, code: typeof e.code === 'string' ? e.code : null };
  };
}

function headerOutcome(headers: http.IncomingHttpHeaders): Outcome {
  const pick = (n: string): string | undefined => {
    const v = headers[n];
    return typeof v === 'string' ? v : undefined;
  };
  const version = pick('x-amz-version-id');
  return defined({
    etag: pick('etag'),
    'content-length': pick('content-length'),
    'content-range': pick('content-range'),
    'content-type': pick('content-type'),
    'has-last-modified': headers['last-modified'] !== undefined,
    'version-id': version === undefined ? undefined : version === 'null' ? 'null' : '<id>',
  });
}

async function streamOutcome(body: Readable): Promise<Outcome> {
  const headers = (body as unknown as http.IncomingMessage).headers ?? {};
  return { ...headerOutcome(headers), sha256: sha256(await readAll(body)) };
}

function statOutcome(s: Minio.BucketItemStat): Outcome {
  return defined({
    size: s.size,
    etag: s.etag,
    'content-type': (s.metaData as Record<string, Json>)['content-type'],
    'has-last-modified': s.lastModified instanceof Date,
    'version-id': s.versionId ? (s.versionId === 'null' ? 'null' : '<id>') : undefined,
  });
}

/** True when the outcome, or a step inside it, already carries a status. */
function hasStatus(v: Json): boolean {
  if (Array.isArray(v)) return v.some(hasStatus);
  if (typeof v !== 'object' || v === null) return false;
  return 'status' in v || Object.values(v).some(hasStatus);
}

/** Collects a listing stream. */
function collect<T>(stream: Minio.BucketStream<T>): Promise<T[]> {
  return new Promise((resolve, reject) => {
    const items: T[] = [];
    stream.on('data', (x: T) => items.push(x));
    stream.on('error', reject);
    stream.on('end', () => resolve(items));
  });
}

async function main(): Promise<void> {
  const args = parseDriverArgs();
  const url = new URL(args.endpoint);
  const trace = new StatusTrace();
  const mc = new Minio.Client({
    endPoint: url.hostname,
    port: Number(url.port),
    useSSL: url.protocol === 'https:',
    accessKey: args.accessKey,
    secretKey: args.secretKey,
    region: args.region,
    pathStyle: true,
    partSize: 5 * MiB,
    transport: trace.transport,
  });
  const B = args.bucket;
  const LB = args.listBucket;
  const rec = new Recorder('minio-js', minioError(trace));
  /** An op: its outcome gets the status of its last response unless it says one itself. */
  const op = (name: string, fn: () => Promise<Outcome>): Promise<Outcome> =>
    rec.op(name, async () => {
      trace.statuses = [];
      const out = await fn();
      const status = trace.last();
      return hasStatus(out) || status === undefined ? out : { status, ...out };
    });
  /** One step inside a composite op, with its own status. */
  const step = async (fn: () => Promise<Outcome>): Promise<Outcome> => {
    const before = trace.statuses.length;
    try {
      const out = await fn();
      return trace.statuses.length > before ? { status: trace.last()!, ...out } : out;
    } catch (err) {
      return minioError(trace)(err) ?? exceptionOutcome(err);
    }
  };

  await op('create-bucket', async () => {
    await mc.makeBucket(B, args.region);
    return {};
  });
  await op('put-small', async () => {
    const r = await mc.putObject(B, 'small.txt', smallBody(), undefined, { 'Content-Type': 'text/plain' });
    return defined({ etag: r.etag });
  });
  await op('put-empty', async () =>
    defined({ etag: (await mc.putObject(B, 'empty', Buffer.alloc(0))).etag }),
  );
  await op('put-multipart', async () => {
    // A 16 MiB stream with 5 MiB parts: three full parts and a 1 MiB tail.
    const data = patternBody(16 * MiB);
    const r = await mc.putObject(B, 'multipart.bin', fileLikeStream(data));
    const stat = await mc.statObject(B, 'multipart.bin');
    const got = await streamOutcome(await mc.getObject(B, 'multipart.bin'));
    return { etag: r.etag, stat: statOutcome(stat), 'body-matches': got.sha256 === sha256(data) };
  });
  await op('get', async () => streamOutcome(await mc.getObject(B, 'small.txt')));
  await op('head', async () => statOutcome(await mc.statObject(B, 'small.txt')));
  await op('head-missing', async () => statOutcome(await mc.statObject(B, 'missing-key')));
  await op('get-missing', async () => streamOutcome(await mc.getObject(B, 'missing-key')));
  await op('get-range', async () => streamOutcome(await mc.getPartialObject(B, 'small.txt', 5, 100)));

  const listing = (items: Minio.BucketItem[]): Outcome => ({
    keys: items.flatMap((i) => (i.name !== undefined ? [i.name] : [])).sort(),
    prefixes: items.flatMap((i) => (i.prefix !== undefined ? [i.prefix] : [])).sort(),
  });
  await op('list-v1', async () =>
    listing(await collect(mc.listObjects(LB, 'dirs/', false) as Minio.BucketStream<Minio.BucketItem>)),
  );
  await op('list-v2', async () => listing(await collect(mc.listObjectsV2(LB, 'dirs/', false))));
  await op('list-paginate', async () => {
    const keys: string[] = [];
    let pages = 0;
    let token = '';
    for (;;) {
      const page = await mc.listObjectsV2Query(LB, 'many/', token, '', 1000, '');
      pages++;
      for (const o of page.objects) if (o.name) keys.push(o.name);
      if (!page.isTruncated) break;
      token = page.nextContinuationToken;
    }
    return { 'key-count': keys.length, pages, first: keys[0] ?? null, last: keys[keys.length - 1] ?? null };
  });

  await op('copy-special-keys', async () => {
    const out: Outcome = {};
    for (const key of SPECIAL_KEYS) {
      const src = `special/${key}`;
      const dst = `copied/${key}`;
      out[key] = {
        put: await step(async () => defined({ etag: (await mc.putObject(B, src, smallBody(key))).etag })),
        copy: await step(async () => {
          const r = await mc.copyObject(
            new Minio.CopySourceOptions({ Bucket: B, Object: src }),
            new Minio.CopyDestinationOptions({ Bucket: B, Object: dst }),
          );
          return defined({ etag: (r as { etag?: string }).etag });
        }),
        head: await step(async () => statOutcome(await mc.statObject(B, dst))),
      };
    }
    return out;
  });
  await op('get-special-keys', async () => {
    const out: Outcome = {};
    for (const key of SPECIAL_KEYS)
      out[key] = await step(async () => streamOutcome(await mc.getObject(B, `special/${key}`)));
    return out;
  });

  await op('delete', async () => {
    await mc.putObject(B, 'to-delete.txt', smallBody('delete'));
    await mc.removeObject(B, 'to-delete.txt');
    return {};
  });
  const removeOutcome = (r: ({ Error?: { Key?: string; Code?: string } } | null | undefined)[]): Outcome => ({
    errors: r.flatMap((x) => (x?.Error ? [`${x.Error.Key}: ${x.Error.Code}`] : [])).sort(),
  });
  await op('multi-delete', async () => {
    const keys = ['md/1', 'md/2', 'md/3'];
    for (const k of keys) await mc.putObject(B, k, smallBody(k));
    const r = removeOutcome(await mc.removeObjects(B, keys));
    return { ...r, left: (await collect(mc.listObjectsV2(B, 'md/', true))).length };
  });
  // The client splits the list into requests of at most 1,000 keys, so this one succeeds.
  await op('multi-delete-over-1000', async () =>
    removeOutcome(
      await mc.removeObjects(
        B,
        Array.from({ length: 1001 }, (_, i) => `md-many/${String(i).padStart(5, '0')}`),
      ),
    ),
  );
  await op('tagging', async () => {
    const put = await step(async () => {
      await mc.setObjectTagging(B, 'small.txt', { colour: 'blue', team: 'matrix' });
      return {};
    });
    const get = await step(async () => {
      const tags = await mc.getObjectTagging(B, 'small.txt');
      return { tags: tags.map((t) => `${t.Key}=${t.Value}`).sort() };
    });
    return { put, get };
  });
  await op('versioned-list', async () => {
    await mc.setBucketVersioning(B, { Status: 'Enabled' });
    const puts: Json[] = [];
    for (const tag of ['v1', 'v2']) {
      const r = await mc.putObject(B, 'versioned/k', smallBody(tag));
      puts.push({ etag: r.etag, 'version-id': r.versionId ? '<id>' : null });
    }
    await mc.removeObject(B, 'versioned/k');
    const items = (await collect(mc.listObjects(B, 'versioned/', true, { IncludeVersion: true }))) as {
      name?: string;
      isLatest?: boolean;
      isDeleteMarker?: boolean;
      versionId?: string;
    }[];
    return {
      puts,
      entries: items.map(
        (x) =>
          `${x.name} latest=${x.isLatest} marker=${x.isDeleteMarker ?? false} id=${x.versionId ? 'yes' : 'no'}`,
      ),
    };
  });
  // No non-ascii-header: Node refuses header values beyond latin1, and this client has no way around it.
  await op('dot-segment-keys', async () => {
    const out: Outcome = {};
    for (const key of DOT_SEGMENT_KEYS) {
      out[key] = {
        put: await step(async () => defined({ etag: (await mc.putObject(B, key, smallBody(key))).etag })),
        get: await step(async () => streamOutcome(await mc.getObject(B, key))),
        list: await step(async () => ({
          keys: (await collect(mc.listObjectsV2(B, key, true)))
            .flatMap((i) => (i.name ? [i.name] : []))
            .sort(),
        })),
      };
    }
    return out;
  });

  await op('delete-bucket', async () => {
    const uploads = await collect(mc.listIncompleteUploads(B, '', true));
    for (const u of uploads) await mc.removeIncompleteUpload(B, u.key);
    const versions = (await collect(mc.listObjects(B, '', true, { IncludeVersion: true }))) as {
      name?: string;
      versionId?: string;
    }[];
    const entries = versions.flatMap((v) =>
      v.name ? [{ name: v.name, versionId: v.versionId ?? 'null' }] : [],
    );
    if (entries.length > 0) await mc.removeObjects(B, entries);
    await mc.removeBucket(B);
    return {};
  });
  rec.emit();
}

main().catch((err: unknown) => {
  process.stderr.write(`${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exit(2);
});
