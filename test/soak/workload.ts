/**
 * The soak's mixed workload: PUT (buffer and aws-chunked stream), GET, HEAD, multipart, copy, DeleteObject
 * and DeleteObjects over a small, overlapping key space, spread over several proxies. Each operation is
 * retried like a careful app would (5xx and connection failures, on any proxy, with backoff); what the
 * proxies and S3 answer on purpose (NoSuchKey after a concurrent delete) is an outcome, not an error.
 */
import { Readable } from 'node:stream';
import {
  CompleteMultipartUploadCommand,
  CopyObjectCommand,
  CreateMultipartUploadCommand,
  DeleteObjectCommand,
  DeleteObjectsCommand,
  GetObjectCommand,
  HeadObjectCommand,
  PutObjectCommand,
  S3Client,
  UploadPartCommand,
} from '@aws-sdk/client-s3';
import { sleep } from '../harness/wait';
import { bodyIsIntact, makeBody } from './bodies';

export type OpKind =
  'put' | 'put-stream' | 'put-medium' | 'get' | 'head' | 'copy' | 'delete' | 'delete-objects' | 'multipart';

/** Relative weights of the operations. */
export const DEFAULT_MIX: Record<OpKind, number> = {
  put: 22,
  'put-stream': 14,
  'put-medium': 3,
  get: 25,
  head: 6,
  copy: 9,
  delete: 9,
  'delete-objects': 4,
  multipart: 3,
};

export interface WorkloadStats {
  ops: Record<string, number>;
  /** Operations that needed more than one attempt (writes and reads). */
  retriedOps: number;
  retriedWrites: number;
  attempts: number;
  /** Expected outcomes: NoSuchKey for reads and copies of a key deleted concurrently. */
  notFound: number;
  /** Full reads whose body failed its own checksum: must stay 0. */
  corrupt: number;
  /** Operations that failed after every retry, or with an unexpected error: must stay 0. */
  errors: number;
  errorSamples: string[];
  /** Why attempts failed and were retried, by error name and HTTP status. */
  retryReasons: Record<string, number>;
}

export function newStats(): WorkloadStats {
  return {
    ops: {},
    retriedOps: 0,
    retriedWrites: 0,
    attempts: 0,
    notFound: 0,
    corrupt: 0,
    errors: 0,
    errorSamples: [],
    retryReasons: {},
  };
}

export interface WorkloadOptions {
  buckets: string[];
  keysPerBucket: number;
  /** Proxy base URLs; read on every attempt, so a restarted proxy may change nothing or everything. */
  endpoints: () => string[];
  mix?: Record<OpKind, number>;
  maxAttempts?: number;
  /** Largest multipart part count (2 means one 5 MiB part and a small last part). */
  maxMultipartParts?: number;
}

const MiB = 1024 * 1024;
const WRITES = new Set<OpKind>([
  'put',
  'put-stream',
  'put-medium',
  'copy',
  'delete',
  'delete-objects',
  'multipart',
]);

function pick<T>(items: readonly T[]): T {
  return items[Math.floor(Math.random() * items.length)]!;
}

function pickWeighted(mix: Record<OpKind, number>): OpKind {
  const total = Object.values(mix).reduce((a, b) => a + b, 0);
  let r = Math.random() * total;
  for (const [kind, w] of Object.entries(mix) as [OpKind, number][]) {
    r -= w;
    if (r < 0) return kind;
  }
  return 'get';
}

function errorName(err: unknown): string {
  const e = err as { name?: string; code?: string; $metadata?: { httpStatusCode?: number } };
  return e.name ?? e.code ?? 'Error';
}

function isNotFound(err: unknown): boolean {
  const name = errorName(err);
  const status = (err as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode;
  return name === 'NoSuchKey' || name === 'NotFound' || (status === 404 && name !== 'NoSuchBucket');
}

/** Failures a retry may fix: 5xx and broken connections (a proxy killed or restarting). */
function isRetryable(err: unknown): boolean {
  const status = (err as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode;
  if (status !== undefined && status >= 500) return true;
  const text = `${errorName(err)} ${(err as Error).message ?? ''} ${(err as { code?: string }).code ?? ''}`;
  return /ECONNREFUSED|ECONNRESET|EPIPE|socket hang up|TimeoutError|ETIMEDOUT|aborted|other side closed|NoSuchUpload/i.test(
    text,
  );
}

/** A mixed workload over a fixed set of proxies. */
export class Workload {
  readonly stats = newStats();
  private readonly clients = new Map<string, S3Client>();
  private readonly mix: Record<OpKind, number>;
  private readonly maxAttempts: number;
  private lastBigMultipart = 0;

  constructor(private readonly opts: WorkloadOptions) {
    this.mix = opts.mix ?? DEFAULT_MIX;
    this.maxAttempts = opts.maxAttempts ?? 8;
  }

  private client(endpoint: string): S3Client {
    let c = this.clients.get(endpoint);
    if (!c) {
      c = new S3Client({
        endpoint,
        region: 'us-east-1',
        forcePathStyle: true,
        // Junk credentials: the proxy signs anew. One attempt per send: retries are counted here.
        credentials: { accessKeyId: 'SOAK-APP-KEY', secretAccessKey: 'soak-app-junk-secret' },
        maxAttempts: 1,
      });
      this.clients.set(endpoint, c);
    }
    return c;
  }

  private key(): { bucket: string; key: string } {
    return {
      bucket: pick(this.opts.buckets),
      key: `k/${String(Math.floor(Math.random() * this.opts.keysPerBucket)).padStart(4, '0')}`,
    };
  }

  /** Runs one random operation to its end; never throws (failures are counted). */
  async step(): Promise<void> {
    const kind = pickWeighted(this.mix);
    this.stats.ops[kind] = (this.stats.ops[kind] ?? 0) + 1;
    const { bucket, key } = this.key();
    const plan = this.plan(kind, bucket, key);
    for (let attempt = 1; ; attempt++) {
      this.stats.attempts++;
      const endpoint = pick(this.opts.endpoints());
      try {
        await plan(this.client(endpoint));
        if (attempt > 1) {
          this.stats.retriedOps++;
          if (WRITES.has(kind)) this.stats.retriedWrites++;
        }
        return;
      } catch (err) {
        if (isNotFound(err) && (kind === 'get' || kind === 'head' || kind === 'copy')) {
          this.stats.notFound++;
          return;
        }
        if (isRetryable(err) && attempt < this.maxAttempts) {
          const status = (err as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode;
          const reason = `${kind} ${errorName(err)}${status ? ` ${status}` : ''}`;
          this.stats.retryReasons[reason] = (this.stats.retryReasons[reason] ?? 0) + 1;
          await sleep(Math.min(2000, 50 * 2 ** attempt));
          continue;
        }
        this.stats.errors++;
        if (this.stats.errorSamples.length < 20) {
          this.stats.errorSamples.push(
            `${kind} ${bucket}/${key} via ${endpoint} after ${attempt} attempts: ${errorName(err)}: ${(err as Error).message}`,
          );
        }
        return;
      }
    }
  }

  /** The operation as a function of the client to use, so each attempt starts afresh. */
  private plan(kind: OpKind, bucket: string, key: string): (s3: S3Client) => Promise<void> {
    switch (kind) {
      case 'put': {
        const body = makeBody(1024 + Math.floor(Math.random() * 15 * 1024));
        return async (s3) => {
          await s3.send(
            new PutObjectCommand({ Bucket: bucket, Key: key, Body: body, ContentType: 'application/x-soak' }),
          );
        };
      }
      case 'put-medium': {
        const body = makeBody(256 * 1024 + Math.floor(Math.random() * 256 * 1024));
        return async (s3) => {
          await s3.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: body }));
        };
      }
      case 'put-stream': {
        // A stream body: the SDK at default settings sends aws-chunked with a trailing CRC32.
        const body = makeBody(512 + Math.floor(Math.random() * 32 * 1024));
        return async (s3) => {
          await s3.send(
            new PutObjectCommand({
              Bucket: bucket,
              Key: key,
              Body: Readable.from([body.subarray(0, 100), body.subarray(100)]),
              ContentLength: body.length,
              Metadata: { soak: 'stream' },
            }),
          );
        };
      }
      case 'get':
        return async (s3) => {
          const got = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
          const bytes = Buffer.from(await got.Body!.transformToByteArray());
          if (!bodyIsIntact(bytes)) {
            this.stats.corrupt++;
            throw Object.assign(new Error(`corrupt body (${bytes.length} bytes)`), { name: 'CorruptBody' });
          }
        };
      case 'head':
        return async (s3) => {
          await s3.send(new HeadObjectCommand({ Bucket: bucket, Key: key }));
        };
      case 'copy': {
        let source = this.key();
        // Copying a key onto itself without changes is refused by S3: always name another key.
        while (source.bucket === bucket && source.key === key) source = this.key();
        return async (s3) => {
          await s3.send(
            new CopyObjectCommand({ Bucket: bucket, Key: key, CopySource: `${source.bucket}/${source.key}` }),
          );
        };
      }
      case 'delete':
        return async (s3) => {
          await s3.send(new DeleteObjectCommand({ Bucket: bucket, Key: key }));
        };
      case 'delete-objects': {
        const keys = [key, this.key().key, this.key().key];
        return async (s3) => {
          await s3.send(
            new DeleteObjectsCommand({
              Bucket: bucket,
              Delete: { Objects: [...new Set(keys)].map((Key) => ({ Key })) },
            }),
          );
        };
      }
      case 'multipart': {
        // Mostly one small part (legal as the last part); now and then a 5 MiB part and a small last part.
        const big =
          (this.opts.maxMultipartParts ?? 2) > 1 &&
          Date.now() - this.lastBigMultipart > 15_000 &&
          Math.random() < 0.3;
        if (big) this.lastBigMultipart = Date.now();
        const body = makeBody(big ? 5 * MiB + 64 * 1024 : 2048 + Math.floor(Math.random() * 8192));
        const parts = big ? [body.subarray(0, 5 * MiB), body.subarray(5 * MiB)] : [body];
        return async (s3) => {
          const { UploadId } = await s3.send(new CreateMultipartUploadCommand({ Bucket: bucket, Key: key }));
          const etags: { PartNumber: number; ETag: string }[] = [];
          for (const [i, part] of parts.entries()) {
            const r = await s3.send(
              new UploadPartCommand({ Bucket: bucket, Key: key, UploadId, PartNumber: i + 1, Body: part }),
            );
            etags.push({ PartNumber: i + 1, ETag: r.ETag! });
          }
          await s3.send(
            new CompleteMultipartUploadCommand({
              Bucket: bucket,
              Key: key,
              UploadId,
              MultipartUpload: { Parts: etags },
            }),
          );
        };
      }
    }
  }

  destroy(): void {
    for (const c of this.clients.values()) c.destroy();
    this.clients.clear();
  }
}

/**
 * Runs `workers` loops of `workload.step()` until stopped. `pause()` waits for in-flight operations to end,
 * so a three-way check sees a quiet system; `resume()` starts the loops again.
 */
export class LoadDriver {
  private paused = false;
  private stopped = false;
  private inFlight = 0;
  private loops: Promise<void>[] = [];
  private readonly idleWaiters: (() => void)[] = [];

  constructor(
    private readonly workload: Workload,
    private readonly workers: number,
  ) {}

  start(): void {
    this.loops = Array.from({ length: this.workers }, () => this.loop());
  }

  private async loop(): Promise<void> {
    while (!this.stopped) {
      if (this.paused) {
        await sleep(50);
        continue;
      }
      this.inFlight++;
      try {
        await this.workload.step();
      } finally {
        this.inFlight--;
        if (this.inFlight === 0) for (const w of this.idleWaiters.splice(0)) w();
      }
    }
  }

  async pause(): Promise<void> {
    this.paused = true;
    if (this.inFlight > 0) await new Promise<void>((resolve) => this.idleWaiters.push(resolve));
  }

  resume(): void {
    this.paused = false;
  }

  async stop(): Promise<void> {
    this.stopped = true;
    await Promise.all(this.loops);
  }
}
