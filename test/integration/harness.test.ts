/**
 * Proves the real-services harness: signature-checking S3 (Ceph RGW) with isolated main and mirror
 * tenants, a mirror gateway that can be taken down and brought back, and a restartable Postgres.
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';

import {
  CreateBucketCommand,
  GetObjectCommand,
  ListBucketsCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  S3Client,
  type S3ClientConfig,
} from '@aws-sdk/client-s3';
import { Client } from 'pg';

import { freePort } from '../harness/free-port';
import { spawnNode } from '../harness/process';
import { controls, loadServices, type TestServices } from '../harness/services';
import { startTcpFaultProxy } from '../harness/tcp-fault-proxy';
import { pollUntil } from '../harness/wait';

const services: TestServices = loadServices();
const ctl = controls(services);

const bucketName = (prefix: string): string => `${prefix}-${crypto.randomBytes(6).toString('hex')}`;

function client(
  endpoint: string,
  credentials: { accessKeyId: string; secretAccessKey: string },
  extra: Partial<S3ClientConfig> = {},
): S3Client {
  return new S3Client({
    endpoint,
    region: services.ceph.region,
    credentials,
    forcePathStyle: true,
    maxAttempts: 1,
    ...extra,
  });
}

const mainS3 = client(services.ceph.mainEndpoint, services.ceph.main);
const mirrorS3 = client(services.ceph.mirrorEndpoint, services.ceph.mirror);

async function keys(s3: S3Client, bucket: string): Promise<string[]> {
  const out = await s3.send(new ListObjectsV2Command({ Bucket: bucket }));
  return (out.Contents ?? []).map((o) => o.Key ?? '').sort();
}

async function errorOf(p: Promise<unknown>): Promise<{ name: string; message: string; code?: string }> {
  try {
    await p;
  } catch (err) {
    const e = err as { name?: string; message?: string; code?: string; Code?: string };
    return { name: e.name ?? '', message: e.message ?? '', code: e.code ?? e.Code };
  }
  throw new Error('expected the request to fail, it succeeded');
}

afterAll(() => {
  mainS3.destroy();
  mirrorS3.destroy();
});

describe('Ceph RGW from the harness', () => {
  test('main creates a bucket, puts and gets an object', async () => {
    const bucket = bucketName('main');
    await mainS3.send(new CreateBucketCommand({ Bucket: bucket }));
    await mainS3.send(new PutObjectCommand({ Bucket: bucket, Key: 'hello.txt', Body: 'hello, rgw' }));
    const got = await mainS3.send(new GetObjectCommand({ Bucket: bucket, Key: 'hello.txt' }));
    expect(await got.Body!.transformToString()).toBe('hello, rgw');
    expect(await keys(mainS3, bucket)).toEqual(['hello.txt']);
  });

  test('a wrong secret gets SignatureDoesNotMatch', async () => {
    const bad = client(services.ceph.mainEndpoint, {
      accessKeyId: services.ceph.main.accessKeyId,
      secretAccessKey: services.ceph.main.secretAccessKey.replace(/^./, (c) => (c === 'A' ? 'B' : 'A')),
    });
    try {
      const err = await errorOf(bad.send(new ListBucketsCommand({})));
      expect(err.name).toBe('SignatureDoesNotMatch');
    } finally {
      bad.destroy();
    }
  });

  test('main and mirror tenants own separate buckets of the same name', async () => {
    const bucket = bucketName('same');
    await mainS3.send(new CreateBucketCommand({ Bucket: bucket }));
    await mirrorS3.send(new CreateBucketCommand({ Bucket: bucket }));
    await mainS3.send(new PutObjectCommand({ Bucket: bucket, Key: 'only-main', Body: 'm' }));
    await mirrorS3.send(new PutObjectCommand({ Bucket: bucket, Key: 'only-mirror', Body: 'b' }));
    expect(await keys(mainS3, bucket)).toEqual(['only-main']);
    expect(await keys(mirrorS3, bucket)).toEqual(['only-mirror']);

    // Path-style requests resolve in the signer's tenant, whichever gateway receives them.
    const mirrorViaMainGateway = client(services.ceph.mainEndpoint, services.ceph.mirror);
    try {
      expect(await keys(mirrorViaMainGateway, bucket)).toEqual(['only-mirror']);
    } finally {
      mirrorViaMainGateway.destroy();
    }
  });

  test('virtual-hosted style on bucket.localhost reaches the bucket (rgw dns name = localhost)', async () => {
    const bucket = bucketName('vhost');
    await mainS3.send(new CreateBucketCommand({ Bucket: bucket }));
    await mainS3.send(new PutObjectCommand({ Bucket: bucket, Key: 'v', Body: 'virtual' }));
    // Node cannot resolve <bucket>.localhost, so resolve every name to 127.0.0.1.
    const seenHosts: string[] = [];
    const agent = new http.Agent({
      lookup: (hostname, options, callback) => {
        seenHosts.push(hostname);
        if ((options as { all?: boolean }).all) {
          (callback as unknown as (e: null, a: { address: string; family: number }[]) => void)(null, [
            { address: '127.0.0.1', family: 4 },
          ]);
        } else callback(null, '127.0.0.1', 4);
      },
    });
    const port = new URL(services.ceph.mainEndpoint).port;
    const vhost = client(`http://localhost:${port}`, services.ceph.main, {
      forcePathStyle: false,
      requestHandler: { httpAgent: agent },
    });
    try {
      const got = await vhost.send(new GetObjectCommand({ Bucket: bucket, Key: 'v' }));
      expect(await got.Body!.transformToString()).toBe('virtual');
      expect(seenHosts).toContain(`${bucket}.localhost`);
    } finally {
      vhost.destroy();
      agent.destroy();
    }
  });

  test('the mirror gateway can be stopped and started again', async () => {
    const bucket = bucketName('outage');
    await mirrorS3.send(new CreateBucketCommand({ Bucket: bucket }));
    await mirrorS3.send(new PutObjectCommand({ Bucket: bucket, Key: 'before', Body: 'x' }));
    await ctl.stopMirrorGateway();
    try {
      const err = await errorOf(mirrorS3.send(new ListObjectsV2Command({ Bucket: bucket })));
      // (Inside Jest's vm context the SDK wraps the cross-realm Error, so match on the message.)
      expect(err.message).toMatch(/ECONNREFUSED/);
      // The main gateway is unaffected.
      await mainS3.send(new ListBucketsCommand({}));
    } finally {
      await ctl.startMirrorGateway();
    }
    // Data lives in the cluster, not in the gateway.
    expect(await keys(mirrorS3, bucket)).toEqual(['before']);
  });

  describe('stream bodies (aws-chunked with trailing checksum)', () => {
    const body = Buffer.from('streamed body '.repeat(1000));
    const stream = (): Readable => Readable.from([body.subarray(0, 5000), body.subarray(5000)]);

    test('default SDK settings: RGW rejects STREAMING-UNSIGNED-PAYLOAD-TRAILER', async () => {
      const bucket = bucketName('stream');
      await mainS3.send(new CreateBucketCommand({ Bucket: bucket }));
      const sentHeaders: Record<string, string>[] = [];
      const s3 = client(services.ceph.mainEndpoint, services.ceph.main);
      s3.middlewareStack.add(
        (next) => async (args) => {
          sentHeaders.push({ ...(args.request as { headers: Record<string, string> }).headers });
          return next(args);
        },
        { step: 'finalizeRequest', priority: 'low' },
      );
      try {
        const err = await errorOf(
          s3.send(
            new PutObjectCommand({ Bucket: bucket, Key: 'k', Body: stream(), ContentLength: body.length }),
          ),
        );
        expect(sentHeaders[0]?.['x-amz-content-sha256']).toBe('STREAMING-UNSIGNED-PAYLOAD-TRAILER');
        expect(sentHeaders[0]?.['content-encoding']).toContain('aws-chunked');
        expect(err.name).toBe('MissingContentLength');
      } finally {
        s3.destroy();
      }
      expect(await keys(mainS3, bucket)).toEqual([]);
    });

    test("requestChecksumCalculation: 'WHEN_REQUIRED' uploads the same stream", async () => {
      const bucket = bucketName('stream');
      await mainS3.send(new CreateBucketCommand({ Bucket: bucket }));
      const s3 = client(services.ceph.mainEndpoint, services.ceph.main, {
        requestChecksumCalculation: 'WHEN_REQUIRED',
      });
      try {
        await s3.send(
          new PutObjectCommand({ Bucket: bucket, Key: 'k', Body: stream(), ContentLength: body.length }),
        );
      } finally {
        s3.destroy();
      }
      const got = await mainS3.send(new GetObjectCommand({ Bucket: bucket, Key: 'k' }));
      expect(Buffer.from(await got.Body!.transformToByteArray()).equals(body)).toBe(true);
    });
  });
});

describe('Postgres from the harness', () => {
  test('connect, create a database, survive a restart', async () => {
    const db = `harness_${crypto.randomBytes(4).toString('hex')}`;
    const admin = new Client({ connectionString: services.postgres.url });
    await admin.connect();
    try {
      await admin.query(`CREATE DATABASE ${db}`);
    } finally {
      await admin.end();
    }
    const dbUrl = new URL(services.postgres.url);
    dbUrl.pathname = `/${db}`;
    const before = new Client({ connectionString: dbUrl.toString() });
    await before.connect();
    await before.query('CREATE TABLE t (v text)');
    await before.query("INSERT INTO t VALUES ('kept')");

    if (!services.postgres.controllable) {
      await before.end();
      await expect(ctl.restartPostgres()).rejects.toThrow(/not supported with POSTGRES_URL/);
      return;
    }
    const lost = new Promise<Error>((resolve) => before.on('error', resolve));
    await ctl.restartPostgres();
    // The old connection is dead: the server terminated it.
    expect((await lost).message).toMatch(/terminat/i);
    await before.end().catch(() => undefined);

    const after = new Client({ connectionString: dbUrl.toString() });
    await after.connect();
    try {
      const { rows } = await after.query<{ v: string }>('SELECT v FROM t');
      expect(rows).toEqual([{ v: 'kept' }]);
    } finally {
      await after.end();
    }
    const cleanup = new Client({ connectionString: services.postgres.url });
    await cleanup.connect();
    await cleanup.query(`DROP DATABASE ${db}`);
    await cleanup.end();
  });
});

describe('TcpFaultProxy', () => {
  test('forwards to Postgres, cuts live and new connections, restores', async () => {
    const target = new URL(services.postgres.url);
    const proxy = await startTcpFaultProxy(target.hostname, Number(target.port));
    const viaProxy = new URL(services.postgres.url);
    viaProxy.host = proxy.address;
    try {
      const first = new Client({ connectionString: viaProxy.toString() });
      const lost = new Promise<Error>((resolve) => first.on('error', resolve));
      await first.connect();
      expect((await first.query<{ one: number }>('SELECT 1 AS one')).rows).toEqual([{ one: 1 }]);
      expect(proxy.totalConnections).toBe(1);
      expect(proxy.activeConnections).toBe(1);

      proxy.cut();
      await lost;
      await first.end().catch(() => undefined);
      const refused = new Client({ connectionString: viaProxy.toString() });
      await expect(refused.connect()).rejects.toThrow();
      await refused.end().catch(() => undefined);
      expect(proxy.refusedConnections).toBeGreaterThanOrEqual(1);

      proxy.restore();
      const again = new Client({ connectionString: viaProxy.toString() });
      await again.connect();
      expect((await again.query<{ two: number }>('SELECT 2 AS two')).rows).toEqual([{ two: 2 }]);
      await again.end();
      expect(proxy.totalConnections).toBe(2);
    } finally {
      await proxy.close();
    }
  });

  test('stall holds a query on an open connection; resume delivers it', async () => {
    const target = new URL(services.postgres.url);
    const proxy = await startTcpFaultProxy(target.hostname, Number(target.port));
    const viaProxy = new URL(services.postgres.url);
    viaProxy.host = proxy.address;
    const client = new Client({ connectionString: viaProxy.toString() });
    try {
      await client.connect();
      proxy.stall();
      let answered = false;
      const query = client.query<{ three: number }>('SELECT 3 AS three').finally(() => (answered = true));
      await pollUntil('the query held', () => Promise.resolve(proxy.heldChunks > 0));
      expect(answered).toBe(false);
      expect(proxy.activeConnections).toBe(1);
      proxy.resume();
      expect((await query).rows).toEqual([{ three: 3 }]);
      expect(proxy.heldChunks).toBe(0);
    } finally {
      proxy.resume();
      await client.end().catch(() => undefined);
      await proxy.close();
    }
  });
});

describe('spawnNode', () => {
  test('waits for HTTP 200, keeps the whole output, stops on SIGTERM', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 's3m-proc-'));
    const script = path.join(dir, 'server.js');
    fs.writeFileSync(
      script,
      `const http = require('node:http');
      console.log('starting with greeting ' + process.env.GREETING);
      console.error('to stderr');
      http.createServer((req, res) => res.writeHead(req.url === '/ready' ? 200 : 404).end()).listen(Number(process.env.PORT), '127.0.0.1');
      process.on('SIGTERM', () => { console.log('bye'); process.exit(0); });`,
    );
    const port = await freePort();
    const child = spawnNode(script, { env: { PORT: String(port), GREETING: 'hello-123' } });
    try {
      await child.waitForHttp(`http://127.0.0.1:${port}/ready`);
      expect(child.stdout()).toContain('starting with greeting hello-123');
      expect(child.stderr()).toContain('to stderr');
      expect(child.output()).toContain('hello-123');
      expect(await child.stop()).toEqual({ code: 0, signal: null });
      expect(child.output()).toContain('bye');
    } finally {
      child.kill('SIGKILL');
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  test('waitForHttp fails early, with the output, when the process exits', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 's3m-proc-'));
    const script = path.join(dir, 'crash.js');
    fs.writeFileSync(script, `console.error('boom: bad config'); process.exit(3);`);
    try {
      const child = spawnNode(script, { env: {} });
      const port = await freePort();
      await expect(child.waitForHttp(`http://127.0.0.1:${port}/`)).rejects.toThrow(
        /code 3[\s\S]*boom: bad config/,
      );
      expect(await child.exited).toEqual({ code: 3, signal: null });
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
