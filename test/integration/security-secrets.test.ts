/**
 * Secrets never appear in logs, errors, metrics labels or crash output (issue 7, security review). Proxies
 * run through the paths where secrets are most likely to slip out: Postgres unreachable or refusing the
 * password, the mirror down or refusing the key, main unreachable or refusing the signature, debug logging,
 * invalid configuration that contains a secret, and a crash at start. Everything they print, every answer
 * they give and every /metrics sample is checked against the configured secrets. (Every other process any
 * integration test starts is scanned too, by the global teardown: see test/harness/secret-scan.ts.)
 */
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { CreateBucketCommand, GetObjectCommand, PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { freePort, refusedPort } from '../harness/free-port';
import { spawnNode, type NodeProcess } from '../harness/process';
import { appClient, directClient, PROXY_MAIN, proxyEnv, startProxyProcess } from '../harness/proxy';
import { rawRequest } from '../harness/raw-http';
import {
  captureDir,
  harnessSecrets,
  leakedSecrets,
  secretsInEnv,
  type NamedSecret,
} from '../harness/secret-scan';
import { loadServices, type TestServices } from '../harness/services';
import { sleep } from '../harness/wait';

let services: TestServices;
let direct: S3Client;
let closedPort: number;
const bucket = `secrets-${Date.now().toString(36)}`;

beforeAll(async () => {
  services = loadServices();
  direct = directClient(services.ceph.mainEndpoint, services.ceph.main);
  await direct.send(new CreateBucketCommand({ Bucket: bucket }));
  closedPort = await refusedPort();
});

afterAll(() => direct?.destroy());

/** The harness credentials plus every secret in this environment. */
function allSecrets(env: Record<string, string>): NamedSecret[] {
  return [...harnessSecrets(services), ...secretsInEnv(env)];
}

function expectNoSecrets(what: string, text: string, secrets: NamedSecret[]): void {
  // Report names only: the failure message must not itself print the secret.
  expect({ what, leaked: leakedSecrets(text, secrets) }).toEqual({ what, leaked: [] });
}

/** Drives a proxy through reads, writes and errors; returns every response body and the metrics text. */
async function exercise(url: string, adminUrl: string): Promise<string[]> {
  const port = Number(new URL(url).port);
  const seen: string[] = [];
  const app = appClient(url, { maxAttempts: 1 });
  const put = (key: string) =>
    app.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: 'payload' })).then(
      (r) => JSON.stringify(r.$metadata),
      (err: unknown) => `${String(err)} ${JSON.stringify((err as { $metadata?: unknown }).$metadata ?? {})}`,
    );
  seen.push(await put('exercise/one'));
  seen.push(
    await app.send(new GetObjectCommand({ Bucket: bucket, Key: 'exercise/missing' })).then(
      () => 'found?',
      (err: unknown) => String(err),
    ),
  );
  for (const request of [
    `GET /${bucket}/exercise/one HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n`,
    `GET /-bad-/k HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n`,
    `PUT /${bucket}/x HTTP/1.1\r\nHost: localhost\r\nx-amz-content-sha256: STREAMING-UNSIGNED-PAYLOAD-TRAILER\r\n` +
      `content-encoding: aws-chunked\r\nx-amz-decoded-content-length: 3\r\nContent-Length: 5\r\nConnection: close\r\n\r\nzz\r\n\r\n`,
    `CONNECT 127.0.0.1:1 HTTP/1.1\r\nHost: x\r\n\r\n`,
    `GET /${bucket}/k HTTP/1.1\r\nHost: localhost\r\nX-Big: ${'a'.repeat(20_000)}\r\n\r\n`,
  ]) {
    seen.push((await rawRequest(port, request, { waitClose: true, timeoutMs: 20_000 })).raw);
  }
  app.destroy();
  // Give background work (inventory, mirror retries) time to fail and log.
  await sleep(3000);
  seen.push(await (await fetch(`${adminUrl}/metrics`)).text());
  seen.push(await (await fetch(`${adminUrl}/readyz`)).text());
  return seen;
}

describe('a running proxy in error paths', () => {
  const wrongPg = () => {
    const url = new URL(services.postgres.url);
    url.password = 'wrong-postgres-password-5e1f';
    return url.toString();
  };
  const closedPg = () => {
    const url = new URL(services.postgres.url);
    url.port = String(closedPort);
    return url.toString();
  };

  test.each([
    [
      'Postgres unreachable',
      () => ({ POSTGRES_URL: closedPg() }),
      /^(?=.*inventory write failed)(?=.*ECONNREFUSED)/m,
    ],
    ['Postgres refuses the password', () => ({ POSTGRES_URL: wrongPg() }), /password authentication failed/],
    [
      'mirror unreachable',
      () => ({ MIRROR_S3_ENDPOINT: `http://127.0.0.1:${closedPort}` }),
      /^(?=.*mirror failed; will retry)(?=.*ECONNREFUSED)/m,
    ],
    [
      'mirror refuses the key',
      () => ({ MIRROR_SECRET_KEY: 'wrong-mirror-secret-key-0123456789abcdef' }),
      /^(?=.*mirror failed; will retry)(?=.*SignatureDoesNotMatch)/m,
    ],
    [
      'main unreachable',
      () => ({ MAIN_S3_ENDPOINT: `http://127.0.0.1:${closedPort}` }),
      /upstream request failed/,
    ],
    [
      'main refuses the signature',
      () => ({ MAIN_SECRET_KEY: 'wrong-main-secret-key-0123456789abcdefgh' }),
      /^(?=.*"operation":"PutObject")(?=.*"status":403)/m,
    ],
    ['debug logging', () => ({ LOG_LEVEL: 'debug' }), /"message":"request"/],
  ])('%s: no secret in output, answers or metrics', async (_name, overrides, pathTaken) => {
    const env = proxyEnv(services, overrides());
    const proxy = await startProxyProcess(env);
    let seen: string[];
    try {
      seen = await exercise(proxy.url, proxy.adminUrl);
    } finally {
      await proxy.stop();
    }
    const secrets = allSecrets(proxy.env);
    // The scenario really took its error path, so the checks below looked at what that path prints.
    expect(proxy.process.output()).toMatch(pathTaken);
    expectNoSecrets('process output', proxy.process.output(), secrets);
    seen.forEach((text, i) => expectNoSecrets(`answer ${i}`, text, secrets));
    // And the process left a capture for the suite-wide scan.
    const dir = captureDir()!;
    const captures = fs.readdirSync(dir).filter((f) => f.includes(`-${proxy.process.pid}-`));
    expect(captures).toHaveLength(1);
    expect(fs.readFileSync(path.join(dir, captures[0]!), 'utf8')).toContain('"output"');
  });

  test('a key equal to the secret is logged as [REDACTED] (the logger scrubs what apps send, too)', async () => {
    const proxy = await startProxyProcess(proxyEnv(services));
    const secret = services.ceph.main.secretAccessKey;
    try {
      const res = await rawRequest(
        proxy.port,
        `PUT /${bucket}/leak/${secret} HTTP/1.1\r\nHost: localhost\r\nContent-Length: 1\r\nConnection: close\r\n\r\nx`,
      );
      expect(res.status).toBe(200);
    } finally {
      await proxy.stop();
    }
    const requestLine = proxy.process
      .stdout()
      .split('\n')
      .find((l) => l.includes('"message":"request"') && l.includes('"method":"PUT"'));
    expect(requestLine).toContain('"key":"leak/[REDACTED]"');
    expectNoSecrets('process output', proxy.process.output(), allSecrets(proxy.env));
    await direct.send(new GetObjectCommand({ Bucket: bucket, Key: `leak/${secret}` }));
  });
});

describe('configuration errors never echo a secret', () => {
  const secret = 'Sup3r-S3cret-Value-That-Must-Not-Print';
  test.each([
    ['MAIN_S3_ENDPOINT', { MAIN_S3_ENDPOINT: `http://AKIAEXAMPLE:${secret}@s3.example.com` }],
    ['MIRROR_S3_ENDPOINT', { MIRROR_S3_ENDPOINT: secret }],
    ['POSTGRES_URL (not a URL)', { POSTGRES_URL: `postgres://user:${secret}@[` }],
    ['POSTGRES_URL (wrong scheme)', { POSTGRES_URL: `mysql://user:${secret}@db/x` }],
    ['MAIN_S3_REGION', { MAIN_S3_REGION: secret }],
    ['LOG_LEVEL', { LOG_LEVEL: secret }],
    ['LISTEN_ADDR', { LISTEN_ADDR: secret }],
    ['CLIENT_IDLE_TIMEOUT_MS', { CLIENT_IDLE_TIMEOUT_MS: secret }],
  ])('%s: exit 2, a message naming the variable, never the value', async (variable, patch) => {
    const child = spawnNode(PROXY_MAIN, { env: { ...proxyEnv(services), ...patch } });
    const { code } = await child.exited;
    expect(code).toBe(2);
    expect(child.stderr()).toMatch(/^\{"level":"error","message":"config error: [A-Z_0-9]+: /);
    expect(child.output()).not.toContain(secret);
    expect(child.output()).not.toContain(encodeURIComponent(secret));
    expectNoSecrets('output', child.output(), allSecrets(proxyEnv(services)));
  });
});

test('a crash at start (admin port taken) prints no secret', async () => {
  const blocker = net.createServer();
  await new Promise<void>((resolve) => blocker.listen(0, '127.0.0.1', resolve));
  const taken = (blocker.address() as net.AddressInfo).port;
  let child: NodeProcess | undefined;
  try {
    // Its own listening port and no journal: only the admin port may stop this start.
    child = spawnNode(PROXY_MAIN, {
      env: proxyEnv(services, {
        LISTEN_ADDR: `127.0.0.1:${await freePort()}`,
        ADMIN_ADDR: `127.0.0.1:${taken}`,
        STATE_DIR: 'off',
      }),
    });
    const { code } = await child.exited;
    expect(code).not.toBe(0);
    expect(child.output()).toMatch(/EADDRINUSE/);
    expectNoSecrets('output', child.output(), allSecrets(proxyEnv(services)));
  } finally {
    child?.kill('SIGKILL');
    await new Promise<void>((resolve) => blocker.close(() => resolve()));
  }
});

test('an uncaught error at run time exits 1 with one redacted fatal line naming it', async () => {
  // A preload that throws once the proxy is serving, with the secret in the message, as a careless bug might.
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 's3m-bug-'));
  const preload = path.join(dir, 'bug.js');
  fs.writeFileSync(
    preload,
    `setTimeout(() => Promise.reject(new Error('bug holding ' + process.env.MAIN_SECRET_KEY)), 1500);`,
  );
  const env = proxyEnv(services);
  let child: NodeProcess | undefined;
  try {
    child = spawnNode(PROXY_MAIN, {
      env: {
        ...env,
        LISTEN_ADDR: `127.0.0.1:${await freePort()}`,
        ADMIN_ADDR: `127.0.0.1:${await freePort()}`,
      },
      nodeArgs: ['--require', preload],
    });
    const { code } = await child.exited;
    expect(code).toBe(1);
    const fatal = child
      .stdout()
      .split('\n')
      .filter((l) => l.includes('fatal: uncaught error'))
      .map((l) => JSON.parse(l) as { level: string; origin: string; error: string; stack: string });
    expect(fatal).toHaveLength(1);
    expect(fatal[0]).toMatchObject({ level: 'error', origin: 'unhandledRejection' });
    expect(fatal[0]!.error).toBe('bug holding [REDACTED]');
    expect(fatal[0]!.stack).toContain('bug.js');
    expectNoSecrets('output', child.output(), allSecrets(env));
  } finally {
    child?.kill('SIGKILL');
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
