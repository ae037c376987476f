import { spawnSync } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';

import {
  CreateBucketCommand,
  DeleteObjectCommand,
  GetObjectCommand,
  HeadObjectCommand,
  PutObjectCommand,
  S3Client,
} from '@aws-sdk/client-s3';

import { loadedOnExitHook } from '../harness/loaded-on-exit';
import { cpuSecondsOf } from '../bench/procs';
import { rssBytes, sampleRss } from '../harness/memory';
import { metricValue, scrapeMetrics } from '../harness/proxies';
import { spawnNode } from '../harness/process';
import {
  appClient,
  directClient,
  POD_NODE_ENV,
  PROXY_MAIN,
  proxyEnv,
  startProxyProcess,
  type ProxyInstance,
  untilReplicated,
} from '../harness/proxy';
import { loadServices, type TestServices } from '../harness/services';
import { jsonLogLines, nonJsonLines } from '../harness/json-lines';
import { pollUntil } from '../harness/wait';

jest.setTimeout(600_000);

let services: TestServices;
let direct: S3Client;
const bucket = `process-${Date.now().toString(36)}`;

beforeAll(async () => {
  services = loadServices();
  direct = directClient(services.ceph.mainEndpoint, services.ceph.main);
  await direct.send(new CreateBucketCommand({ Bucket: bucket }));
});

/** A CA file that holds no certificate (made here: the table below is built before any hook runs). */
const caDir = fs.mkdtempSync(path.join(os.tmpdir(), 's3m-ca-'));
const notACertificate = path.join(caDir, 'ca.pem');
fs.writeFileSync(notACertificate, 'not a certificate\n');
afterAll(() => fs.rmSync(caDir, { recursive: true, force: true }));

describe('misconfiguration', () => {
  test.each([
    ['MAIN_SECRET_KEY', { MAIN_SECRET_KEY: undefined }],
    ['MIRROR_S3_ENDPOINT', { MIRROR_S3_ENDPOINT: 'ftp://mirror' }],
    ['LOG_LEVEL', { LOG_LEVEL: 'loud' }],
    ['LISTEN_ADDR', { LISTEN_ADDR: 'everywhere' }],
    ['POSTGRES_URL', { POSTGRES_URL: 'mysql://root:sup3r-s3cret-pw@db/x' }],
    ['STATE_DIR', { STATE_DIR: 'relative/dir' }],
    ['MIRROR_DELETE_POLICY', { MIRROR_DELETE_POLICY: 'delay:1 day' }],
    ['MEMORY_RECLAIM', { MEMORY_RECLAIM: 'sometimes' }],
    // The default state directory is used unless STATE_DIR=off: one that cannot be created stops the start.
    ['STATE_DIR', { STATE_DIR: '/etc/hostname/not-a-directory' }],
    // Node itself would print a plain-text warning for the first and ignore the second in silence.
    ['NODE_EXTRA_CA_CERTS', { NODE_EXTRA_CA_CERTS: '/nonexistent/internal-ca.pem' }],
    ['NODE_EXTRA_CA_CERTS', { NODE_EXTRA_CA_CERTS: notACertificate }],
  ])(
    'a bad %s: one JSON line naming it on stderr, exit code 2, no secret echoed (%j)',
    async (variable, patch) => {
      const env = { ...proxyEnv(services), ...patch };
      const child = spawnNode(PROXY_MAIN, { env });
      const { code } = await child.exited;
      expect(code).toBe(2);
      const lines = child.stderr().trimEnd().split('\n');
      expect(lines).toHaveLength(1);
      const line = JSON.parse(lines[0]!) as { level: string; message: string; variable: string };
      expect(line).toMatchObject({ level: 'error', variable });
      expect(line.message).toMatch(new RegExp(`^config error: ${variable}: `));
      expect(child.stdout()).toBe('');
      expect(child.output()).not.toContain('sup3r-s3cret-pw');
      expect(child.output()).not.toContain(services.ceph.main.secretAccessKey);
    },
  );
});

describe('LOG_LEVEL', () => {
  test.each([
    ['debug', true, true],
    ['info', true, true],
    ['warn', false, true],
    ['off', false, false],
  ])('%s: request lines %s, any output at all %s', async (level, requestLines, anyJson) => {
    // Postgres unreachable: a warning to log, and the app's request must still succeed.
    const proxy = await startProxyProcess(
      proxyEnv(services, { LOG_LEVEL: level, POSTGRES_URL: 'postgres://u:p@127.0.0.1:1/postgres' }),
    );
    try {
      await appClient(proxy.url).send(
        new PutObjectCommand({ Bucket: bucket, Key: `log/${level}`, Body: 'x' }),
      );
    } finally {
      await proxy.stop();
    }
    // Every line the process printed, on stdout and stderr, is one JSON object (Node's and the AWS SDK's
    // own warnings included).
    expect(nonJsonLines(proxy.process.output())).toEqual([]);
    const json = jsonLogLines(proxy.process.stdout());
    expect(json.some((l) => l.message === 'request')).toBe(requestLines);
    expect(json.length > 0).toBe(anyJson);
    expect(json.some((l) => l.level === 'warn' && /postgres/i.test(String(l.message)))).toBe(anyJson);
    expect(json.some((l) => l.level === 'debug')).toBe(level === 'debug');
    if (level === 'warn') expect(json.every((l) => l.level === 'warn' || l.level === 'error')).toBe(true);
  });
});

describe('graceful shutdown on SIGTERM', () => {
  test('stops accepting, finishes the upload in flight (answered with Connection: close), reports not ready, then exits 0', async () => {
    const proxy = await startProxyProcess(proxyEnv(services));
    const size = 1024 * 1024;
    const body = crypto.randomBytes(size);
    const response = new Promise<number>((resolve, reject) => {
      const req = http.request(`${proxy.url}/${bucket}/shutdown/in-flight`, {
        method: 'PUT',
        headers: { 'content-length': String(size) },
      });
      req.on('response', (res) => {
        res.resume();
        connectionHeader = res.headers.connection;
        resolve(res.statusCode!);
      });
      req.on('error', reject);
      req.write(body.subarray(0, size / 2));
      // Let the first half reach the proxy before SIGTERM.
      setTimeout(() => {
        proxy.process.kill('SIGTERM');
        void pollUntil('the data port to refuse new connections', () => refuses(proxy.port)).then(
          async () => {
            const ready = await statusOf(`${proxy.adminUrl}/readyz`);
            req.end(body.subarray(size / 2));
            readyDuringDrain = ready;
          },
          reject,
        );
      }, 300);
    });
    let readyDuringDrain: number | undefined;
    let connectionHeader: string | undefined;
    expect(await response).toBe(200);
    // Not reused while draining, so an idle keep-alive socket does not hold the exit.
    expect(connectionHeader).toBe('close');
    expect(readyDuringDrain).toBe(503);
    const exit = await proxy.process.exited;
    // The proxy's last output rides along on failure: an exit 1 here says why only there.
    const tail = exit.code === 0 ? '' : proxy.process.output().slice(-4000);
    expect({ exit, tail }).toEqual({ exit: { code: 0, signal: null }, tail: '' });
    const stored = await direct.send(new GetObjectCommand({ Bucket: bucket, Key: 'shutdown/in-flight' }));
    expect(Buffer.from(await stored.Body!.transformToByteArray()).equals(body)).toBe(true);
  });
});

describe('the built proxy', () => {
  test('starts from one file, the bundle the image runs: no other module of the repository or node_modules loads at start', () => {
    // A misconfigured start exits after loading everything main.ts loads; a hook lists what was loaded.
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 's3m-loaded-'));
    const hook = loadedOnExitHook(dir, 'modules');
    const run = spawnSync(process.execPath, ['--require', hook.file, PROXY_MAIN], {
      env: { PATH: process.env.PATH ?? '' },
      encoding: 'utf8',
    });
    expect(run.status).toBe(2);
    expect(run.stderr).toContain('config error: ');
    const loaded = hook.read();
    fs.rmSync(dir, { recursive: true, force: true });
    expect(loaded).toEqual([PROXY_MAIN]);
  });

  test('has not loaded node:http2 after writing, reading and mirroring: undici’s HTTP/2 code waits for its first call', async () => {
    // undici's HTTP/2 code loads node:http2 as it loads, 2.5 MB of a resting proxy; the bundle defers it to
    // its first call (proxy/bundle.mjs), which no upstream of the proxy's makes. A hook lists the builtins.
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 's3m-builtins-'));
    const hook = loadedOnExitHook(dir, 'builtins');
    let builtins: string[];
    try {
      const proxy = await startProxyProcess(
        proxyEnv(services, { NODE_OPTIONS: `${POD_NODE_ENV.NODE_OPTIONS} ${hook.nodeOption}` }),
      );
      try {
        const app = appClient(proxy.url);
        await app.send(new PutObjectCommand({ Bucket: bucket, Key: 'builtins/one', Body: 'one' }));
        const read = await app.send(new GetObjectCommand({ Bucket: bucket, Key: 'builtins/one' }));
        expect(await read.Body!.transformToString()).toBe('one');
        await untilReplicated(app, bucket, 'builtins/one');
      } finally {
        await proxy.stop();
      }
      builtins = hook.read();
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
    // The list is the proxy's: it holds the HTTP client and server it ran.
    expect(builtins).toEqual(expect.arrayContaining(['NativeModule http', 'NativeModule net']));
    expect(builtins.filter((m) => m.includes('http2'))).toEqual([]);
  });
});

describe('memory at rest', () => {
  // Watched on its log, not its metrics: a scrape is CPU the proxy spends in the window it must be quiet in.
  const reclaimLines = (proxy: ProxyInstance) => jsonLogLines(proxy.process.stdout(), 'memory reclaimed');
  const startUpReclaim = (proxy: ProxyInstance) =>
    pollUntil('the start-up reclaim', async () => reclaimLines(proxy).length >= 1, {
      timeoutMs: 120_000,
      intervalMs: 500,
    });

  test('once quiet after start-up the proxy collects its start-up garbage once, and then not again at rest', async () => {
    const proxy = await startProxyProcess(
      proxyEnv(services, { LOG_LEVEL: 'debug', NODE_OPTIONS: POD_NODE_ENV.NODE_OPTIONS }),
    );
    try {
      await startUpReclaim(proxy);
      // trimmed: the bundle found the malloc_trim addon beside it (proxy/dist/native). No request answered yet,
      // so the collection also dropped start-up's bytecode; the scrape below runs some of it, compiled again.
      expect(reclaimLines(proxy)).toEqual([
        expect.objectContaining({ cause: 'start-up', collected: true, flushedCode: true, trimmed: true }),
      ]);
      // Measured, since V8 ignores a flag it does not know.
      const [startUp] = reclaimLines(proxy) as { bytecodeFreedBytes?: number }[];
      expect(startUp!.bytecodeFreedBytes).toBeGreaterThan(100_000);
      // Three more samples of an idle proxy: no growth, so no second reclaim.
      await new Promise((resolve) => setTimeout(resolve, 16_000));
      expect(reclaimLines(proxy)).toHaveLength(1);
      expect(metricValue(await scrapeMetrics(proxy), 's3mirror_proxy_memory_reclaims_total')).toBe(1);
    } finally {
      await proxy.stop();
    }
  });

  test('a proxy that answered a request before its first quiet moment keeps its code', async () => {
    const proxy = await startProxyProcess(
      proxyEnv(services, { LOG_LEVEL: 'debug', NODE_OPTIONS: POD_NODE_ENV.NODE_OPTIONS }),
    );
    try {
      const answered = await fetch(`${proxy.url}/`);
      await answered.arrayBuffer();
      await startUpReclaim(proxy);
      expect(reclaimLines(proxy)).toEqual([
        expect.objectContaining({ cause: 'start-up', collected: true, flushedCode: false }),
      ]);
    } finally {
      await proxy.stop();
    }
  });
});

describe('streaming with bounded memory', () => {
  const GiB = 1024 * 1024 * 1024;
  // Node 24 measured 133–152 MiB here (Node 20: 110–141): ~10 MB is the larger runtime's own code, the
  // rest the buffers in flight of the GET and the PUT's mirror copy running beside it.
  const LIMIT = 170 * 1000 * 1000;

  /** 1 GiB of deterministic, incompressible bytes, generated on the fly (never held in memory). */
  function generated(total: number, hash: crypto.Hash): Readable {
    const block = crypto.randomBytes(1024 * 1024);
    let sent = 0;
    return new Readable({
      read() {
        if (sent >= total) return void this.push(null);
        const chunk = Buffer.from(block);
        chunk.writeUInt32BE(sent / block.length, 0);
        sent += chunk.length;
        hash.update(chunk);
        this.push(chunk);
      },
    });
  }

  /** Mark-compacts the proxy has run, from its GC metric. */
  const markCompacts = async (proxy: { adminUrl: string }): Promise<number> =>
    metricValue(await scrapeMetrics(proxy), 's3mirror_proxy_nodejs_gc_duration_seconds_count', {
      kind: 'major',
    });

  test('a 1 GiB PUT (SDK defaults: aws-chunked, CRC32 trailer) and a 1 GiB GET keep the proxy under 170 MB RSS, and once quiet it gives memory back', async () => {
    // With the heap limit Node takes in a pod (its collections depend on it), as the bench runs the proxy.
    const proxy = await startProxyProcess(proxyEnv(services, { NODE_OPTIONS: POD_NODE_ENV.NODE_OPTIONS }));
    const key = 'big/one-gib.bin';
    try {
      const app = appClient(proxy.url);
      const sentHash = crypto.createHash('sha256');
      const putRss = sampleRss(proxy.process.pid);
      await app.send(
        new PutObjectCommand({
          Bucket: bucket,
          Key: key,
          Body: generated(GiB, sentHash),
          ContentLength: GiB,
        }),
      );
      const put = putRss.stop();
      const head = await direct.send(new HeadObjectCommand({ Bucket: bucket, Key: key }));
      expect(head.ContentLength).toBe(GiB);

      const getRss = sampleRss(proxy.process.pid);
      const markCompactsBefore = await markCompacts(proxy);
      const got = await app.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
      const readHash = crypto.createHash('sha256');
      let read = 0;
      for await (const chunk of got.Body as Readable) {
        readHash.update(chunk as Buffer);
        read += (chunk as Buffer).length;
      }
      const get = getRss.stop();
      const getMarkCompacts = (await markCompacts(proxy)) - markCompactsBefore;
      expect(read).toBe(GiB);
      expect(readHash.digest('hex')).toBe(sentHash.digest('hex'));

      process.stderr.write(
        `[memory] proxy peak RSS: PUT ${(put.peakBytes / 2 ** 20).toFixed(0)} MiB (${put.samples} samples), ` +
          `GET ${(get.peakBytes / 2 ** 20).toFixed(0)} MiB (${get.samples} samples), ` +
          `${getMarkCompacts} mark-compacts during the GET\n`,
      );
      // The image's V8 flags (PROXY_IMAGE_NODE_ARGS): without them the GET's Buffers set off a mark-compact
      // every ~16 MB (64 in this GET), with them 2 (the PUT's mirror copy runs beside it).
      expect(getMarkCompacts).toBeLessThanOrEqual(16);
      expect(put.samples).toBeGreaterThan(10);
      expect(put.peakBytes).toBeLessThan(LIMIT);
      expect(get.peakBytes).toBeLessThan(LIMIT);

      // Once quiet (the PUT's mirror copy done), the proxy gives back what the transfers left it holding: the
      // Buffers waiting for a collection and glibc's freed arenas (MEMORY_RECLAIM, on by default).
      const reclaimed = async (): Promise<number> =>
        metricValue(await scrapeMetrics(proxy), 's3mirror_proxy_memory_reclaimed_bytes_total');
      // One may have come between the PUT and the GET: what counts is the one after the GET.
      const reclaimedBefore = await reclaimed();
      const heldBefore = rssBytes(proxy.process.pid);
      const cpuBefore = cpuSecondsOf(proxy.process.pid);
      const mib = (bytes: number) => `${(bytes / 2 ** 20).toFixed(0)} MiB`;
      await pollUntil(
        'a memory reclaim once the proxy is quiet',
        async () => (await reclaimed()) > reclaimedBefore,
        {
          timeoutMs: 180_000,
          // Why none came: the proxy never quiet (its CPU), or never grown (its RSS), or gone.
          describe: () =>
            `RSS ${mib(rssBytes(proxy.process.pid))} (after the GET ${mib(heldBefore)}), ` +
            `CPU since the GET ${((cpuSecondsOf(proxy.process.pid) - cpuBefore) * 1000).toFixed(0)} ms`,
        },
      );
      const heldAfter = rssBytes(proxy.process.pid);
      const givenBack = (await reclaimed()) - reclaimedBefore;
      process.stderr.write(
        `[memory] reclaimed ${(givenBack / 2 ** 20).toFixed(0)} MiB: RSS ` +
          `${(heldBefore / 2 ** 20).toFixed(0)} MiB after the GET, ${(heldAfter / 2 ** 20).toFixed(0)} MiB after\n`,
      );
      expect(givenBack).toBeGreaterThan(16 * 2 ** 20);
      expect(heldAfter).toBeLessThan(heldBefore);
    } finally {
      // Frees the memstore; through the proxy, so the mirror follows the delete.
      await appClient(proxy.url)
        .send(new DeleteObjectCommand({ Bucket: bucket, Key: key }))
        .catch(() => undefined);
      await proxy.stop();
    }
  });
});

function refuses(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect(port, '127.0.0.1');
    socket.once('connect', () => {
      socket.destroy();
      resolve(false);
    });
    socket.once('error', () => resolve(true));
  });
}

function statusOf(url: string): Promise<number> {
  return new Promise((resolve, reject) => {
    http.get(url, (res) => resolve(res.resume().statusCode!)).on('error', reject);
  });
}
