import winston from 'winston';

import { parseConfig } from '../src/config';
import { secretChecker } from '../src/k8s-client';
import {
  KubeApiError,
  type JsonPatchOp,
  type KubeApi,
  type LeaseObject,
  type SecretObject,
  type WebhookConfigurationObject,
} from '../src/kube-api';
import { createMetrics } from '../src/metrics';
import { LeaseLock, microTime } from '../src/tls/lease';
import { generateCa, generateServingCert, serviceDnsNames, signedBy, splitPemBundle } from '../src/tls/pki';
import {
  caBundlePatch,
  evaluateBundle,
  nextBundle,
  SECRET_KEYS,
  SelfManagedCerts,
  type Bundle,
} from '../src/tls/self-managed';

const r = parseConfig({ MIRROR_S3_ENDPOINT: 'https://m' });
if (!r.ok) throw new Error('config');
const tlsSettings = r.config.tls;
const DAY = 86400 * 1000;
const NOW = Date.UTC(2026, 10, 25);
const names = serviceDnsNames('s3-mirror-webhook', 's3-mirror-system');

describe('evaluateBundle / nextBundle', () => {
  const fresh = nextBundle(undefined, true, names, NOW, tlsSettings);

  test('a fresh bundle is good, chains to its CA, and covers the Service names', () => {
    expect(evaluateBundle(fresh, names, NOW, tlsSettings)).toEqual({ ok: true });
    expect(signedBy(fresh.cert, fresh.caBundle)).toBe(true);
  });

  test.each<[string, (b: Bundle) => Bundle, number, boolean]>([
    ['nothing stored', () => undefined as unknown as Bundle, NOW, true],
    ['serving cert inside the renewal window', (b) => b, NOW + 340 * DAY, false],
    ['CA inside its renewal window', (b) => b, NOW + 9.5 * 365 * DAY, true],
    [
      'cert for other names',
      (b) => ({
        ...b,
        ...pair(generateServingCert({ certPem: b.caBundle, keyPem: b.caKey }, ['other'], NOW, 365 * 86400)),
      }),
      NOW,
      false,
    ],
    [
      'cert from another CA',
      (b) => ({
        ...b,
        ...pair(generateServingCert(generateCa('x', NOW, 86400 * 3650), names, NOW, 365 * 86400)),
      }),
      NOW,
      false,
    ],
    ['CA key missing', (b) => ({ ...b, caKey: '' }), NOW, true],
  ])('%s → rotate (CA too: %s)', (_n, mutate, at, rotateCa) => {
    const v = evaluateBundle(mutate(fresh), names, at, tlsSettings);
    expect(v.ok).toBe(false);
    if (!v.ok) expect(v.rotateCa).toBe(rotateCa);
  });

  test('CA rotation keeps the old CA second in the bundle; the next rotation of the leaf keeps both', () => {
    const at = NOW + 9.5 * 365 * DAY;
    const rotated = nextBundle(fresh, true, names, at, tlsSettings);
    const cas = splitPemBundle(rotated.caBundle);
    expect(cas).toHaveLength(2);
    expect(cas[1]).toBe(splitPemBundle(fresh.caBundle)[0]);
    expect(signedBy(rotated.cert, cas[0]!)).toBe(true);
    expect(nextBundle(rotated, false, names, at, tlsSettings).caBundle).toBe(rotated.caBundle);
    // Once the old CA has expired it is dropped.
    expect(
      splitPemBundle(nextBundle(rotated, false, names, NOW + 10.1 * 365 * DAY, tlsSettings).caBundle),
    ).toHaveLength(1);
  });
});

function pair(p: { certPem: string; keyPem: string }) {
  return { cert: p.certPem, key: p.keyPem };
}

test('caBundlePatch guards each index with a test op and skips webhooks already up to date', () => {
  expect(
    caBundlePatch(
      [
        { name: 'a', clientConfig: { caBundle: 'NEW' } },
        { name: 'b', clientConfig: {} },
      ],
      'NEW',
    ),
  ).toEqual([
    { op: 'test', path: '/webhooks/1/name', value: 'b' },
    { op: 'add', path: '/webhooks/1/clientConfig/caBundle', value: 'NEW' },
  ]);
});

/** In-memory Lease store with the API server's optimistic concurrency. */
function leaseStore() {
  let lease: LeaseObject | undefined;
  let rv = 1;
  const api = {
    getLease: async () => (lease ? structuredClone(lease) : undefined),
    createLease: async (_ns: string, l: LeaseObject) => {
      if (lease) throw new KubeApiError(409, 'exists');
      lease = { ...structuredClone(l), metadata: { ...l.metadata, resourceVersion: String(++rv) } };
      return lease;
    },
    replaceLease: async (_ns: string, l: LeaseObject) => {
      if (!lease || l.metadata.resourceVersion !== lease.metadata.resourceVersion)
        throw new KubeApiError(409, 'conflict');
      lease = { ...structuredClone(l), metadata: { ...l.metadata, resourceVersion: String(++rv) } };
      return lease;
    },
  } as unknown as KubeApi;
  return { api, get: () => lease };
}

test('LeaseLock: first taker wins, a live lease blocks, an expired one is taken over with a transition', async () => {
  const store = leaseStore();
  let now = NOW;
  const mk = (identity: string) =>
    new LeaseLock({
      api: store.api,
      namespace: 'ns',
      name: 'l',
      identity,
      durationSeconds: 30,
      now: () => now,
    });
  const a = mk('a');
  const b = mk('b');
  expect(await a.tryAcquire()).toBe(true);
  expect(await b.tryAcquire()).toBe(false);
  expect(await a.tryAcquire()).toBe(true); // renew
  now += 31_000;
  expect(await b.tryAcquire()).toBe(true);
  expect(store.get()!.spec).toMatchObject({
    holderIdentity: 'b',
    leaseTransitions: 1,
    renewTime: microTime(now),
  });
  await b.release();
  expect(store.get()!.spec.holderIdentity).toBe('');
  expect(await a.tryAcquire()).toBe(true);
});

describe('SelfManagedCerts and the Lease', () => {
  const NS = 's3-mirror-system';
  const stored = nextBundle(undefined, true, names, NOW, tlsSettings);
  const b64 = (s: string): string => Buffer.from(s, 'utf8').toString('base64');

  /** The lease store plus a valid Secret and a webhook configuration (without caBundle unless given). */
  function cluster(patch: (ops: JsonPatchOp[]) => Promise<void> = async () => undefined, caBundle?: string) {
    const leases = leaseStore();
    const secret: SecretObject = {
      metadata: { name: tlsSettings.secretName, namespace: NS, resourceVersion: '7' },
      type: 'kubernetes.io/tls',
      data: {
        [SECRET_KEYS.caCert]: b64(stored.caBundle),
        [SECRET_KEYS.caKey]: b64(stored.caKey),
        [SECRET_KEYS.cert]: b64(stored.cert),
        [SECRET_KEYS.key]: b64(stored.key),
      },
    };
    const mwc = {
      metadata: { name: tlsSettings.webhookConfigurationName },
      webhooks: [{ name: 'pods.s3-mirror.io', clientConfig: caBundle ? { caBundle } : {} }],
    } as WebhookConfigurationObject;
    const api = {
      ...leases.api,
      getSecret: async () => structuredClone(secret),
      getMutatingWebhookConfiguration: async () => structuredClone(mwc),
      patchMutatingWebhookConfiguration: async (_name: string, ops: JsonPatchOp[]) => patch(ops),
    } as KubeApi;
    return { api, lease: leases.get };
  }

  const manager = (api: KubeApi, identity: string) =>
    new SelfManagedCerts({
      api,
      settings: tlsSettings,
      namespace: NS,
      identity,
      onCert: async () => undefined,
      logger: winston.createLogger({ silent: true }),
      metrics: createMetrics(),
      now: () => NOW,
    });

  test('a valid Secret and a caBundle already set: served without touching the Lease', async () => {
    let patched = 0;
    const c = cluster(async () => void patched++, b64(stored.caBundle));
    expect(await manager(c.api, 'replica-a').reconcile()).toBe('serving');
    expect(c.lease()).toBeUndefined();
    expect(patched).toBe(0);
  });

  test('patching only the caBundle (no rotation) gives the Lease back, so another replica need not wait', async () => {
    const c = cluster();
    expect(await manager(c.api, 'replica-a').reconcile()).toBe('serving');
    expect(c.lease()?.spec.holderIdentity).toBe('');
    const b = new LeaseLock({
      api: c.api,
      namespace: NS,
      name: tlsSettings.leaseName,
      identity: 'replica-b',
      durationSeconds: tlsSettings.leaseDurationSeconds,
      now: () => NOW,
    });
    expect(await b.tryAcquire()).toBe(true);
  });

  test('a caBundle patch that loses a race (422) gives the Lease back too', async () => {
    const c = cluster(async () => {
      throw new KubeApiError(422, 'test op failed');
    });
    expect(await manager(c.api, 'replica-a').reconcile()).toBe('waiting');
    expect(c.lease()?.spec.holderIdentity).toBe('');
  });

  test('a caBundle patch that fails otherwise gives the Lease back too', async () => {
    const c = cluster(async () => {
      throw new KubeApiError(500, 'etcd timeout');
    });
    await expect(manager(c.api, 'replica-a').reconcile()).rejects.toThrow(/etcd/);
    expect(c.lease()?.spec.holderIdentity).toBe('');
  });
});

test('microTime has microsecond precision like Kubernetes MicroTime', () => {
  expect(microTime(Date.UTC(2026, 0, 2, 3, 4, 5, 678))).toBe('2026-01-02T03:04:05.678000Z');
});

test('secretChecker: found/missing cached, errors and timeouts become unknown and are not cached', async () => {
  let calls = 0;
  let answer: () => Promise<boolean> = async () => true;
  const api = { secretExists: () => (calls++, answer()) };
  let now = 0;
  const check = secretChecker(api, 's', 50, 30, undefined, () => now);
  expect(await check('a')).toBe('found');
  expect(await check('a')).toBe('found');
  expect(calls).toBe(1);
  now = 31_000;
  answer = async () => false;
  expect(await check('a')).toBe('missing');
  answer = () => Promise.reject(new Error('boom'));
  expect(await check('b')).toBe('unknown');
  answer = () => new Promise(() => undefined); // never answers
  expect(await check('c')).toBe('unknown');
  expect(calls).toBe(4);
  answer = async () => true;
  expect(await check('c')).toBe('found');
});
