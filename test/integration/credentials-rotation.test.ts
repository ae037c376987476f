/**
 * Temporary credentials rotating under load, end to end through the proxy process: no MAIN_* or MIRROR_*
 * keys; main's credentials come from a loopback container credentials endpoint (as EKS Pod Identity and
 * ECS serve them), the mirror's from STS AssumeRole of MIRROR_ROLE_ARN signed with main's. Both hand out
 * keys that expire a few seconds later; a rotator creates a new RGW key for each user every few seconds and
 * removes the one before last. Every PUT and GET through the proxy must succeed, and every write must reach
 * the mirror. RGW takes any x-amz-security-token with a plain key, so relays in front of main and the mirror
 * check that each request signed with a key id the endpoints issued carries a token issued with that key id
 * (a stale or missing token would otherwise pass).
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

import {
  CreateBucketCommand,
  GetObjectCommand,
  HeadObjectCommand,
  ListBucketsCommand,
  PutObjectCommand,
} from '@aws-sdk/client-s3';

import type { S3Credentials } from '../harness/ceph';
import {
  startCredentialsEndpoint,
  type CredentialsEndpoint,
  type Issued,
} from '../harness/credentials-endpoint';
import { appClient, directClient, proxyEnv, startProxyProcess, type ProxyInstance } from '../harness/proxy';
import { getText, metricValue, scrapeMetrics } from '../harness/proxies';
import { createKey, removeKey, type RgwUser } from '../harness/rgw-keys';
import { startSignatureAuditRelay, type SignatureAuditRelay } from '../harness/signature-audit';
import { loadServices, type TestServices } from '../harness/services';
import { pollUntil, sleep } from '../harness/wait';

const services: TestServices = loadServices();
const conf = services.ceph.conf;
/**
 * Credentials handed out live this long; the proxy replaces them at half-life (the proxy holds none that
 * live less than 10 s, and refreshes no sooner than 5 s after a fetch).
 */
const LIFE_MS = 12_000;
/** A new key per user this often; the key before last is removed at each rotation (so 2 × ROTATE_MS after it was the newest, later than the LIFE_MS / 2 it may still sign). */
const ROTATE_MS = 8_000;
const LOAD_MS = 45_000;
const WORKERS = 4;
const ROLE_ARN = 'arn:aws:iam::123456789012:role/s3-mirror-backup';

interface Rotating {
  user: RgwUser;
  /** The harness's key of the user: never handed out, never removed. */
  original: S3Credentials;
  keys: S3Credentials[];
  everIssued: Set<string>;
  removed: S3Credentials[];
}

const sides: { main: Rotating; mirror: Rotating } = {
  main: { user: { uid: 'main' }, original: services.ceph.main, keys: [], everIssued: new Set(), removed: [] },
  mirror: {
    user: { uid: 'mirror', tenant: services.ceph.mirrorTenant },
    original: services.ceph.mirror,
    keys: [],
    everIssued: new Set(),
    removed: [],
  },
};

const bucket = `rot-${crypto.randomBytes(4).toString('hex')}`;
const main = directClient(services.ceph.mainEndpoint, services.ceph.main);
const mirror = directClient(services.ceph.mirrorEndpoint, services.ceph.mirror);
let endpoint: CredentialsEndpoint;
let proxy: ProxyInstance;
/** In front of main (before the harness's own signature audit relay) and of the mirror. */
let relays: { main: SignatureAuditRelay; mirror: SignatureAuditRelay };
let tokenDir: string;
let sessionTokens = true;

function issue(side: Rotating, n: { count: number }): Issued {
  const key = side.keys[side.keys.length - 1]!;
  side.everIssued.add(key.accessKeyId);
  n.count += 1;
  return {
    ...key,
    sessionToken: sessionTokens ? `session-${n.count}-${crypto.randomBytes(8).toString('hex')}` : '',
    expiration: new Date(Date.now() + LIFE_MS),
  };
}

async function rotate(side: Rotating): Promise<void> {
  const known = new Set([side.original.accessKeyId, ...side.keys.map((k) => k.accessKeyId)]);
  side.keys.push(await createKey(conf, side.user, known));
  if (side.keys.length > 2) {
    const old = side.keys.shift()!;
    await removeKey(conf, side.user, old.accessKeyId);
    side.removed.push(old);
  }
}

beforeAll(async () => {
  // What RGW does with a session token on a plain S3 key decides what the endpoints hand out.
  const probe = directClient(services.ceph.mainEndpoint, services.ceph.main, {
    credentials: { ...services.ceph.main, sessionToken: 'not-an-sts-token' },
  });
  sessionTokens = await probe.send(new ListBucketsCommand({})).then(
    () => true,
    (err: unknown) => {
      process.stdout.write(`RGW refuses a session token on a plain key: ${(err as Error).name}\n`);
      return false;
    },
  );
  probe.destroy();

  await main.send(new CreateBucketCommand({ Bucket: bucket }));
  await mirror.send(new CreateBucketCommand({ Bucket: bucket }));
  await Promise.all([rotate(sides.main), rotate(sides.mirror)]);
  tokenDir = fs.mkdtempSync(path.join(os.tmpdir(), 's3m-token-'));
  const token = crypto.randomBytes(24).toString('base64');
  fs.writeFileSync(path.join(tokenDir, 'token'), token);
  const mainCount = { count: 0 };
  const mirrorCount = { count: 0 };
  endpoint = await startCredentialsEndpoint({
    token,
    container: () => issue(sides.main, mainCount),
    assumeRole: () => issue(sides.mirror, mirrorCount),
  });
  const issuedTokens = (keyId: string) => endpoint.tokensIssuedWith(keyId);
  relays = {
    main: await startSignatureAuditRelay(services.ceph.proxyMainEndpoint, { issuedTokens }),
    mirror: await startSignatureAuditRelay(services.ceph.mirrorEndpoint, { issuedTokens }),
  };
  // No keys for either side: the default chain.
  const {
    MAIN_ACCESS_KEY: _mainKey,
    MAIN_SECRET_KEY: _mainSecret,
    MIRROR_ACCESS_KEY: _mirrorKey,
    MIRROR_SECRET_KEY: _mirrorSecret,
    ...env
  } = proxyEnv(services, {
    AWS_CONTAINER_CREDENTIALS_FULL_URI: endpoint.containerUri,
    AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE: path.join(tokenDir, 'token'),
    AWS_ENDPOINT_URL_STS: endpoint.stsUrl,
    MAIN_S3_ENDPOINT: relays.main.url,
    MIRROR_S3_ENDPOINT: relays.mirror.url,
    MIRROR_ROLE_ARN: ROLE_ARN,
    // Nothing else of the chain may answer on this machine.
    AWS_EC2_METADATA_DISABLED: 'true',
    AWS_CONFIG_FILE: path.join(tokenDir, 'no-config'),
    AWS_SHARED_CREDENTIALS_FILE: path.join(tokenDir, 'no-credentials'),
  });
  proxy = await startProxyProcess(env);
}, 120_000);

afterAll(async () => {
  await proxy?.stop();
  await endpoint?.close();
  await relays?.main.close();
  await relays?.mirror.close();
  main.destroy();
  mirror.destroy();
  if (tokenDir) fs.rmSync(tokenDir, { recursive: true, force: true });
});

test('every request succeeds while both sides rotate and old keys are removed on RGW', async () => {
  const app = appClient(proxy.url);
  const failures: string[] = [];
  const written = new Map<string, string>();
  let requests = 0;
  let running = true;

  const rotator = (async () => {
    while (running) {
      await sleep(ROTATE_MS);
      if (running) await Promise.all([rotate(sides.main), rotate(sides.mirror)]);
    }
  })();
  const worker = async (w: number): Promise<void> => {
    for (let i = 0; running; i++) {
      const key = `w${w}/${i}`;
      const body = crypto.randomBytes(1024 + ((w * 7919 + i * 104729) % 64) * 1024);
      const md5 = crypto.createHash('md5').update(body).digest('hex');
      try {
        await app.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: body }));
        written.set(key, md5);
        const got = await app.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
        const back = Buffer.from(await got.Body!.transformToByteArray());
        if (!back.equals(body)) failures.push(`${key}: GET returned other bytes`);
      } catch (err) {
        failures.push(`${key}: ${(err as Error).name}: ${(err as Error).message}`);
      }
      requests += 2;
    }
  };
  const load = Promise.all(Array.from({ length: WORKERS }, (_, w) => worker(w)));
  await sleep(LOAD_MS);
  running = false;
  await load;
  await rotator;
  app.destroy();

  expect(failures).toEqual([]);
  expect(requests).toBeGreaterThan(100);
  // Rotations happened on both sides, and keys the proxy had used were removed under it.
  expect(sides.main.removed.length).toBeGreaterThanOrEqual(3);
  expect(sides.mirror.removed.length).toBeGreaterThanOrEqual(3);
  expect(endpoint.counts.container).toBeGreaterThanOrEqual(LOAD_MS / LIFE_MS);
  expect(endpoint.counts.assumeRole).toBeGreaterThanOrEqual(LOAD_MS / LIFE_MS);
  expect(endpoint.counts.refused).toBe(0);
  // The role is assumed with main's identity from the container endpoint.
  for (const signer of endpoint.assumeRoleSigners) expect(sides.main.everIssued.has(signer)).toBe(true);
  for (const side of [sides.main, sides.mirror]) {
    for (const old of side.removed) expect(side.everIssued.has(old.accessKeyId)).toBe(true);
  }

  // Every write reached the mirror, copied with the mirror's rotating keys.
  const keys = [...written.keys()];
  await pollUntil(
    'every write mirrored',
    async () => {
      for (const key of keys) {
        const head = await mirror
          .send(new HeadObjectCommand({ Bucket: bucket, Key: key }))
          .catch(() => undefined);
        if (head?.ETag !== `"${written.get(key)}"`) return false;
      }
      return true;
    },
    { timeoutMs: 60_000, maxIntervalMs: 1_000 },
  );

  // Every request signed with an issued key carried a token issued with that very key id.
  expect(relays.main.tokenFindings).toEqual([]);
  expect(relays.mirror.tokenFindings).toEqual([]);
  expect(relays.main.tokensChecked).toBeGreaterThanOrEqual(requests);
  expect(relays.mirror.tokensChecked).toBeGreaterThanOrEqual(keys.length);

  const metrics = await scrapeMetrics(proxy);
  expect(metricValue(metrics, 's3mirror_credentials_refresh_failures_total')).toBe(0);
  const ready = JSON.parse(await getText(`${proxy.adminUrl}/readyz`)) as {
    ready: boolean;
    credentials: Record<string, { ok: boolean; kind: string }>;
  };
  expect(ready.ready).toBe(true);
  expect(ready.credentials).toMatchObject({
    main: { ok: true, kind: 'refreshing' },
    mirror: { ok: true, kind: 'refreshing' },
  });

  // The removal is real: RGW refuses a removed key (after its user cache caught up).
  const removed = directClient(services.ceph.mainEndpoint, sides.main.removed[0]!);
  await pollUntil(
    'a removed key refused',
    () =>
      removed.send(new ListBucketsCommand({})).then(
        () => false,
        (err: unknown) => (err as Error).name === 'InvalidAccessKeyId',
      ),
    { timeoutMs: 20_000 },
  );
  removed.destroy();
}, 240_000);
