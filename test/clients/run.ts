/**
 * The I/O half of the client matrix: the list-bucket fixture, running one driver process, and removing a
 * bucket a failed driver left behind.
 */
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import {
  CreateBucketCommand,
  DeleteBucketCommand,
  DeleteObjectsCommand,
  ListMultipartUploadsCommand,
  AbortMultipartUploadCommand,
  ListObjectVersionsCommand,
  PutObjectCommand,
  type S3Client,
} from '@aws-sdk/client-s3';

import type { Driver } from './drivers';
import { LIST_KEY_COUNT } from './js/common';
import { parseDriverOutput, type DriverOutput } from './matrix';

/** The list bucket's keys (see test/clients/py/common.py). */
export const LIST_KEYS = [
  ...Array.from({ length: LIST_KEY_COUNT }, (_, i) => `many/${String(i).padStart(5, '0')}`),
  'dirs/a/1',
  'dirs/a/2',
  'dirs/b/1',
  'dirs/top',
];

async function mapLimit<T>(
  items: readonly T[],
  limit: number,
  fn: (item: T) => Promise<void>,
): Promise<void> {
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < items.length) await fn(items[next++]!);
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
}

/** The read-only list bucket every driver lists: LIST_KEYS, each with its own name as the body. */
export async function makeListBucket(s3: S3Client, bucket: string): Promise<void> {
  await s3.send(new CreateBucketCommand({ Bucket: bucket }));
  await mapLimit(LIST_KEYS, 32, async (Key) => {
    await s3.send(new PutObjectCommand({ Bucket: bucket, Key, Body: Key }));
  });
}

/** Empties and deletes `bucket` if it still exists (a driver that failed half way); false if it was gone. */
export async function removeBucketIfLeft(s3: S3Client, Bucket: string): Promise<boolean> {
  let markers: { KeyMarker?: string; VersionIdMarker?: string } = {};
  try {
    for (;;) {
      const page = await s3.send(new ListObjectVersionsCommand({ Bucket, ...markers }));
      const Objects = [...(page.Versions ?? []), ...(page.DeleteMarkers ?? [])].map((v) => ({
        Key: v.Key,
        VersionId: v.VersionId,
      }));
      if (Objects.length > 0)
        await s3.send(new DeleteObjectsCommand({ Bucket, Delete: { Objects, Quiet: true } }));
      if (!page.IsTruncated) break;
      markers = { KeyMarker: page.NextKeyMarker, VersionIdMarker: page.NextVersionIdMarker };
    }
  } catch (err) {
    if ((err as { name?: string }).name === 'NoSuchBucket') return false;
    throw err;
  }
  const uploads = await s3.send(new ListMultipartUploadsCommand({ Bucket }));
  for (const u of uploads.Uploads ?? []) {
    await s3.send(new AbortMultipartUploadCommand({ Bucket, Key: u.Key, UploadId: u.UploadId }));
  }
  await s3.send(new DeleteBucketCommand({ Bucket }));
  return true;
}

export interface DriverTarget {
  endpoint: string;
  accessKey: string;
  secretKey: string;
  region: string;
  bucket: string;
  listBucket: string;
}

export type DriverRun =
  | { ok: true; output: DriverOutput; ms: number; stderr: string }
  | { ok: false; error: string; ms: number; stderr: string };

/**
 * Runs `driver` once against `target` in a fresh work directory, from the repository `root`. The driver
 * gets this environment without AWS_* variables, so nothing from the developer's shell (a CA bundle, a
 * profile) changes what a client does.
 */
export async function runDriver(
  driver: Driver,
  target: DriverTarget,
  opts: { root: string; timeoutMs: number },
): Promise<DriverRun> {
  const workdir = fs.mkdtempSync(path.join(os.tmpdir(), `cm-${driver.id}-`));
  const env: Record<string, string> = {};
  for (const [k, v] of Object.entries(process.env)) if (v !== undefined && !k.startsWith('AWS_')) env[k] = v;
  const [bin, ...argv] = driver.command as [string, ...string[]];
  const args = [
    ...argv,
    ...['--endpoint', target.endpoint, '--access-key', target.accessKey, '--secret-key', target.secretKey],
    ...['--region', target.region, '--bucket', target.bucket, '--list-bucket', target.listBucket],
    ...['--workdir', workdir],
  ];
  const started = Date.now();
  try {
    const { code, signal, stdout, stderr, timedOut } = await spawnCollect(
      bin === 'node' ? process.execPath : bin.startsWith('test/') ? path.resolve(opts.root, bin) : bin,
      args,
      { cwd: opts.root, env, timeoutMs: opts.timeoutMs },
    );
    const ms = Date.now() - started;
    if (timedOut) return { ok: false, error: `timed out after ${opts.timeoutMs} ms`, ms, stderr };
    if (code !== 0)
      return { ok: false, error: `exited with ${code ?? signal}: ${tailOf(stderr)}`, ms, stderr };
    try {
      const output = parseDriverOutput(stdout);
      if (output.client !== driver.client) {
        return { ok: false, error: `printed client ${output.client}, expected ${driver.client}`, ms, stderr };
      }
      return { ok: true, output, ms, stderr };
    } catch (err) {
      return { ok: false, error: (err as Error).message, ms, stderr };
    }
  } finally {
    fs.rmSync(workdir, { recursive: true, force: true });
  }
}

function tailOf(text: string, lines = 15): string {
  return text.trimEnd().split('\n').slice(-lines).join('\n');
}

function spawnCollect(
  bin: string,
  args: string[],
  opts: { cwd: string; env: Record<string, string>; timeoutMs: number },
): Promise<{
  code: number | null;
  signal: string | null;
  stdout: string;
  stderr: string;
  timedOut: boolean;
}> {
  return new Promise((resolve) => {
    // Its own process group, so a timeout also ends the CLIs a Python driver started.
    const child = spawn(bin, args, {
      cwd: opts.cwd,
      env: opts.env,
      stdio: ['ignore', 'pipe', 'pipe'],
      detached: true,
    });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    let timedOut = false;
    const killGroup = (): void => {
      try {
        if (child.pid !== undefined) process.kill(-child.pid, 'SIGKILL');
      } catch {
        // already gone
      }
    };
    const timer = setTimeout(() => {
      timedOut = true;
      killGroup();
    }, opts.timeoutMs);
    const onExit = (): void => killGroup();
    process.once('exit', onExit);
    child.stdout.on('data', (c: Buffer) => out.push(c));
    child.stderr.on('data', (c: Buffer) => err.push(c));
    child.once('error', (e) => err.push(Buffer.from(`[spawn error] ${e.message}\n`)));
    child.once('close', (code, signal) => {
      clearTimeout(timer);
      process.removeListener('exit', onExit);
      resolve({
        code,
        signal,
        stdout: Buffer.concat(out).toString('utf8'),
        stderr: Buffer.concat(err).toString('utf8'),
        timedOut,
      });
    });
  });
}
