/**
 * Self-managed certificates: the built webhook against a strict local fake of the Kubernetes API. Checks the
 * exact verbs, paths, patch type and resourceVersion handling of Secret, Lease and caBundle writes.
 */
import { execFileSync } from 'node:child_process';
import http from 'node:http';
import { join } from 'node:path';
import tls from 'node:tls';
import { generateCa, generateServingCert, serviceDnsNames, splitPemBundle } from '../../webhook/src/tls/pki';
import { allows, rbacRules } from '../../webhook/src/rbac';
import { microTime } from '../../webhook/src/tls/lease';
import {
  seedWebhookConfiguration,
  startFakeKubeApi,
  type FakeKubeApi,
  type RecordedRequest,
  accessOf,
} from '../../webhook/test/fake-kube-api';
import {
  REPO_ROOT,
  startWebhook,
  writeKubeconfig,
  type WebhookProcess,
} from '../../webhook/test/run-webhook';

const NS = 's3-mirror-system';
const SECRET_PATH = `/api/v1/namespaces/${NS}/secrets`;
const LEASE_PATH = `/apis/coordination.k8s.io/v1/namespaces/${NS}/leases`;
const MWC_PATH = '/apis/admissionregistration.k8s.io/v1/mutatingwebhookconfigurations/s3-mirror-webhook';
const SERVERNAME = `s3-mirror-webhook.${NS}.svc`;

let api: FakeKubeApi;
let kubeconfig: string;
const running: WebhookProcess[] = [];

/** A distinctive line from the middle of a PEM key (its base64 body, without the armour). */
function keyBody(pem: string): string {
  const lines = pem.split('\n').filter((l) => l && !l.startsWith('-----'));
  return lines[Math.floor(lines.length / 2)]!;
}

function start(identity: string, extra: Record<string, string> = {}): WebhookProcess {
  const wh = startWebhook({
    KUBECONFIG: kubeconfig,
    POD_NAMESPACE: NS,
    POD_NAME: identity,
    MIRROR_S3_ENDPOINT: 'https://backup.example.com',
    TLS_MODE: 'self-managed',
    CERT_CHECK_INTERVAL_SECONDS: '1',
    ...extra,
  });
  running.push(wh);
  return wh;
}

function caBundleOf(webhookIndex = 0): string {
  const mwc = api.webhookConfigurations.get('s3-mirror-webhook') as any;
  return Buffer.from(mwc.webhooks[webhookIndex].clientConfig.caBundle ?? '', 'base64').toString('utf8');
}

function secretData(): Record<string, string> {
  const s = api.secrets.get(`${NS}/s3-mirror-webhook-tls`) as any;
  return Object.fromEntries(
    Object.entries(s.data as Record<string, string>).map(([k, v]) => [
      k,
      Buffer.from(v, 'base64').toString('utf8'),
    ]),
  );
}

/** Connects with the caBundle as the only trust root and the Service DNS name, like the API server does. */
function peerCert(port: number, ca: string): Promise<tls.PeerCertificate> {
  return new Promise((resolve, reject) => {
    const s = tls.connect(
      { host: '127.0.0.1', port, servername: SERVERNAME, ca, minVersion: 'TLSv1.2' },
      () => {
        const c = s.getPeerCertificate();
        s.end();
        resolve(c);
      },
    );
    s.on('error', reject);
  });
}

function readyz(port: number): Promise<number> {
  return new Promise((resolve, reject) => {
    http
      .get({ host: '127.0.0.1', port, path: '/readyz' }, (res) => {
        res.resume();
        resolve(res.statusCode ?? 0);
      })
      .on('error', reject);
  });
}

const writes = (pred: (r: RecordedRequest) => boolean) =>
  api.requests.filter((r) => r.method !== 'GET' && pred(r));

/** Waits (without a deadline of its own) until `cond` holds; jest's timeout is the only limit. */
async function until(cond: () => boolean): Promise<void> {
  while (!cond()) await new Promise((r) => setTimeout(r, 50));
}

beforeAll(() => {
  execFileSync(process.execPath, [join(REPO_ROOT, 'node_modules/typescript/bin/tsc'), '-b', 'webhook'], {
    cwd: REPO_ROOT,
  });
});

beforeEach(async () => {
  api = await startFakeKubeApi();
  kubeconfig = writeKubeconfig(api);
  seedWebhookConfiguration(api, 's3-mirror-webhook', ['pods.s3-mirror.io', 'pods-by-label.s3-mirror.io']);
});

afterEach(async () => {
  const webhooks = running.splice(0);
  await Promise.all(webhooks.map((w) => w.stop()));
  // No private key the webhook generated or loaded, and not its API token, ever reaches its output.
  const secrets: [string, string][] = [['kube API token', api.token]];
  for (const [name, secret] of api.secrets) {
    for (const [key, b64] of Object.entries((secret as { data?: Record<string, string> }).data ?? {})) {
      if (key.endsWith('.key'))
        secrets.push([`${name} ${key}`, keyBody(Buffer.from(b64, 'base64').toString())]);
    }
  }
  for (const w of webhooks) {
    const output = w.logs.map((l) => JSON.stringify(l)).join('\n') + w.stderr.join('');
    expect(secrets.filter(([, value]) => output.includes(value)).map(([name]) => name)).toEqual([]);
  }
  // Every call the webhook made is covered by the RBAC rules it declares (webhook/src/rbac.ts).
  const rules = rbacRules();
  for (const r of api.requests) {
    const access = accessOf(r);
    expect({ access, allowed: allows(rules, access, NS) }).toEqual({ access, allowed: true });
  }
  await api.close();
});

test('two replicas: one Secret write, caBundle set by JSON Patch, both serve a cert the caBundle trusts', async () => {
  const a = start('replica-a');
  const b = start('replica-b');
  const [pa, pb] = await Promise.all([a.httpsPort(), b.httpsPort()]);

  // Exactly one successful create; any loser saw a Lease it could not take, or a 409.
  const creates = writes((r) => r.path === SECRET_PATH && r.method === 'POST');
  expect(creates.filter((r) => r.status === 201)).toHaveLength(1);
  expect(writes((r) => r.path.startsWith(SECRET_PATH) && r.method === 'PUT')).toHaveLength(0);
  const secret = api.secrets.get(`${NS}/s3-mirror-webhook-tls`) as any;
  expect(secret.type).toBe('kubernetes.io/tls');
  expect(Object.keys(secret.data).sort()).toEqual(['ca.crt', 'ca.key', 'tls.crt', 'tls.key']);

  // caBundle: PATCH with the JSON Patch content type, guarded by `test` ops, on every webhook.
  const patches = writes((r) => r.path === MWC_PATH);
  expect(patches.length).toBeGreaterThanOrEqual(1);
  for (const p of patches) {
    expect(p.method).toBe('PATCH');
    expect(p.contentType).toBe('application/json-patch+json');
    expect(p.status).toBe(200);
    expect(p.body).toEqual([
      { op: 'test', path: '/webhooks/0/name', value: 'pods.s3-mirror.io' },
      { op: 'add', path: '/webhooks/0/clientConfig/caBundle', value: expect.any(String) },
      { op: 'test', path: '/webhooks/1/name', value: 'pods-by-label.s3-mirror.io' },
      { op: 'add', path: '/webhooks/1/clientConfig/caBundle', value: expect.any(String) },
    ]);
  }
  const data = secretData();
  expect(caBundleOf(0)).toBe(data['ca.crt']);
  expect(caBundleOf(1)).toBe(data['ca.crt']);

  // Writes happened under the Lease, and the fake saw no unknown route or verb.
  expect(writes((r) => r.path.startsWith(LEASE_PATH)).length).toBeGreaterThan(0);
  expect(api.unexpected).toEqual([]);

  const [ca, cb] = await Promise.all([peerCert(pa, caBundleOf()), peerCert(pb, caBundleOf())]);
  expect(ca.serialNumber).toBe(cb.serialNumber);
  expect(ca.subjectaltname).toContain(`DNS:${SERVERNAME}`);
});

test('a Lease held by another replica blocks writes until it expires; readiness waits for a certificate', async () => {
  const now = Date.now();
  const lease = {
    metadata: { name: 's3-mirror-webhook-cert', namespace: NS },
    spec: {
      holderIdentity: 'someone-else',
      leaseDurationSeconds: 3600,
      acquireTime: microTime(now),
      renewTime: microTime(now),
    },
  };
  api.bump(lease as any);
  api.leases.set(`${NS}/s3-mirror-webhook-cert`, lease as any);

  const wh = start('replica-c');
  const mport = await wh.metricsPort();
  // It tried (read the Lease at least twice) and wrote nothing.
  await until(
    () => api.requests.filter((r) => r.method === 'GET' && r.path.startsWith(LEASE_PATH)).length >= 2,
  );
  expect(writes(() => true)).toEqual([]);
  expect(await readyz(mport)).toBe(503);

  // The holder's lease runs out.
  const held = api.leases.get(`${NS}/s3-mirror-webhook-cert`) as any;
  held.spec.renewTime = microTime(now - 7200 * 1000);
  api.bump(held);
  await wh.httpsPort();
  expect(await readyz(mport)).toBe(200);
  const taken = api.leases.get(`${NS}/s3-mirror-webhook-cert`) as any;
  expect(taken.spec.leaseTransitions).toBe(1);
  expect(writes((r) => r.path === SECRET_PATH && r.status === 201)).toHaveLength(1);
});

test('a stale resourceVersion on the Lease gets 409 and the webhook retries with a fresh read', async () => {
  // A concurrent writer bumps the Lease right before our first PUT.
  const lease = {
    metadata: { name: 's3-mirror-webhook-cert', namespace: NS },
    spec: { holderIdentity: '', leaseDurationSeconds: 1, renewTime: microTime(Date.now() - 60_000) },
  };
  api.bump(lease as any);
  api.leases.set(`${NS}/s3-mirror-webhook-cert`, lease as any);
  let raced = false;
  api.beforePut = (kind, key) => {
    if (kind === 'leases' && !raced) {
      raced = true;
      api.bump(api.leases.get(key)!);
    }
  };
  const wh = start('replica-d');
  await wh.httpsPort();
  const leasePuts = writes((r) => r.path === `${LEASE_PATH}/s3-mirror-webhook-cert` && r.method === 'PUT');
  expect(leasePuts[0]!.status).toBe(409);
  expect(leasePuts.some((r) => r.status === 200)).toBe(true);
  expect(writes((r) => r.path === SECRET_PATH && r.status === 201)).toHaveLength(1);
  expect(api.unexpected).toEqual([]);
});

test('rotation before expiry: a soon-expiring serving cert is replaced via PUT with the current resourceVersion', async () => {
  const now = Date.now();
  const ca = generateCa('existing-ca', now, 10 * 365 * 86400);
  const oldLeaf = generateServingCert(ca, serviceDnsNames('s3-mirror-webhook', NS), now, 3 * 86400); // inside the 30-day window
  const b64 = (s: string) => Buffer.from(s).toString('base64');
  const secret: any = {
    metadata: { name: 's3-mirror-webhook-tls', namespace: NS },
    type: 'kubernetes.io/tls',
    data: {
      'ca.crt': b64(ca.certPem),
      'ca.key': b64(ca.keyPem),
      'tls.crt': b64(oldLeaf.certPem),
      'tls.key': b64(oldLeaf.keyPem),
    },
  };
  api.bump(secret as any);
  api.secrets.set(`${NS}/s3-mirror-webhook-tls`, secret as any);
  const rvBefore = secret.metadata.resourceVersion;

  const wh = start('replica-e');
  const port = await wh.httpsPort();
  const puts = writes((r) => r.path === `${SECRET_PATH}/s3-mirror-webhook-tls`);
  expect(puts).toHaveLength(1);
  expect(puts[0]!.method).toBe('PUT');
  expect((puts[0]!.body as any).metadata.resourceVersion).toBe(rvBefore);
  expect(writes((r) => r.path === SECRET_PATH)).toHaveLength(0); // no create

  const data = secretData();
  expect(data['ca.crt']).toBe(ca.certPem); // the CA was still good: kept
  expect(data['tls.crt']).not.toBe(oldLeaf.certPem);
  expect(caBundleOf()).toBe(ca.certPem);
  const served = await peerCert(port, ca.certPem);
  expect(Date.parse(served.valid_to)).toBeGreaterThan(now + 300 * 86400 * 1000);
});

test('CA rotation keeps the previous CA in the bundle while it is valid', async () => {
  const now = Date.now();
  const ca = generateCa('old-ca', now, 30 * 86400); // inside CA_RENEW_BEFORE (365 days)
  const leaf = generateServingCert(ca, serviceDnsNames('s3-mirror-webhook', NS), now, 20 * 86400);
  const b64 = (s: string) => Buffer.from(s).toString('base64');
  const secret: any = {
    metadata: { name: 's3-mirror-webhook-tls', namespace: NS },
    type: 'kubernetes.io/tls',
    data: {
      'ca.crt': b64(ca.certPem),
      'ca.key': b64(ca.keyPem),
      'tls.crt': b64(leaf.certPem),
      'tls.key': b64(leaf.keyPem),
    },
  };
  api.bump(secret as any);
  api.secrets.set(`${NS}/s3-mirror-webhook-tls`, secret as any);

  const wh = start('replica-f');
  const port = await wh.httpsPort();
  await until(() => caBundleOf() !== '' && splitPemBundle(caBundleOf()).length === 2);
  const bundle = splitPemBundle(caBundleOf());
  expect(bundle[1]).toBe(ca.certPem.trim());
  const newCa = bundle[0]!;
  // The served certificate chains to the new CA alone.
  await expect(peerCert(port, newCa)).resolves.toBeDefined();
  await expect(peerCert(port, ca.certPem)).rejects.toThrow();
});
