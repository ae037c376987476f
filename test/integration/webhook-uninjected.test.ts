/**
 * The uninjected-pod check in the built webhook (`node webhook/dist/main.js`) against the strict local fake of
 * the Kubernetes API: it lists every live pod in pages (`limit`, `continue`), posts one Warning Event per
 * opted-in pod running without the proxy (none for the same pod again, none from a second replica), leaves
 * out namespaces an admin opted out, and exports the count per namespace on /metrics.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  ANNOTATIONS,
  LABELS,
  NAMESPACE_INJECTION_DISABLED,
  PROXY_CONTAINER_NAME,
} from '../../webhook/src/annotations';
import { METRIC_NAMES } from '../../webhook/src/metrics';
import { allows, rbacRules } from '../../webhook/src/rbac';
import { generateCa, generateServingCert, serviceDnsNames } from '../../webhook/src/tls/pki';
import { SIDECAR_MISSING_REASON } from '../../webhook/src/uninjected';
import { POD_PAGE_SIZE } from '../../webhook/src/uninjected-detector';
import {
  accessOf,
  seedNamespace,
  seedPod,
  startFakeKubeApi,
  type FakeKubeApi,
} from '../../webhook/test/fake-kube-api';
import {
  REPO_ROOT,
  startWebhook,
  writeKubeconfig,
  type WebhookProcess,
} from '../../webhook/test/run-webhook';

const NS = 's3-mirror-system';
/** More than two pages of pods that never opted in. */
const FILLER = 2 * POD_PAGE_SIZE + 100;

let api: FakeKubeApi;
let wh: WebhookProcess;
let metricsPort: number;
let certDir: string;
const uids: Record<string, string> = {};

function pod(
  namespace: string,
  name: string,
  o: { optIn?: 'annotation' | 'label'; proxy?: boolean; phase?: string } = {},
) {
  const containers = [{ name: 'app', image: 'ghcr.io/acme/app:1' }];
  return {
    metadata: {
      name,
      namespace,
      annotations: o.optIn === 'annotation' ? { [ANNOTATIONS.inject]: 'true' } : {},
      labels: o.optIn === 'label' ? { [LABELS.inject]: 'true' } : { app: name },
    },
    spec: {
      containers,
      ...(o.proxy
        ? { initContainers: [{ name: PROXY_CONTAINER_NAME, image: 'proxy', restartPolicy: 'Always' }] }
        : {}),
    },
    status: { phase: o.phase ?? 'Running' },
  };
}

function seed(p: ReturnType<typeof pod>): void {
  uids[`${p.metadata.namespace}/${p.metadata.name}`] = seedPod(api, p).metadata.uid as string;
}

function scrape(): Promise<string> {
  return new Promise((resolve, reject) => {
    http
      .get({ host: '127.0.0.1', port: metricsPort, path: '/metrics' }, (res) => {
        let text = '';
        res.on('data', (c: Buffer) => (text += c.toString()));
        res.on('end', () => resolve(text));
      })
      .on('error', reject);
  });
}

/** Sample lines of one metric, as `name{labels} value` without the HELP/TYPE lines. */
async function samples(name: string): Promise<string[]> {
  return (await scrape()).split('\n').filter((l) => l.startsWith(`${name}{`) || l.startsWith(`${name} `));
}

async function until(pred: () => boolean | Promise<boolean>): Promise<void> {
  while (!(await pred())) await new Promise((r) => setTimeout(r, 50));
}

const checksDone = (w: WebhookProcess) => w.logs.filter((l) => l.message === 'uninjected-pod check');
/** Resolves once `n` more checks have completed in `w`. */
async function moreChecks(w: WebhookProcess, n: number): Promise<void> {
  const target = checksDone(w).length + n;
  await until(() => checksDone(w).length >= target);
}
const eventPosts = () => api.requests.filter((r) => r.method === 'POST' && /\/events$/.test(r.path));

function start(): WebhookProcess {
  return startWebhook({
    KUBECONFIG: writeKubeconfig(api),
    POD_NAMESPACE: NS,
    MIRROR_S3_ENDPOINT: 'https://backup.example.com',
    TLS_MODE: 'files',
    TLS_CERT_FILE: join(certDir, 'tls.crt'),
    TLS_KEY_FILE: join(certDir, 'tls.key'),
    UNINJECTED_CHECK_INTERVAL_SECONDS: '1',
  });
}

beforeAll(async () => {
  execFileSync(process.execPath, [join(REPO_ROOT, 'node_modules/typescript/bin/tsc'), '-b', 'webhook'], {
    cwd: REPO_ROOT,
  });
  api = await startFakeKubeApi();
  const ca = generateCa('test-ca', Date.now(), 86400);
  const leaf = generateServingCert(ca, serviceDnsNames('s3-mirror-webhook', NS), Date.now(), 3600);
  certDir = mkdtempSync(join(tmpdir(), 'wh-certs-'));
  writeFileSync(join(certDir, 'tls.crt'), leaf.certPem);
  writeFileSync(join(certDir, 'tls.key'), leaf.keyPem);

  for (const ns of ['bulk', 'team-a', 'team-b']) seedNamespace(api, ns);
  seedNamespace(api, 'team-off', { [LABELS.namespaceInjection]: NAMESPACE_INJECTION_DISABLED });
  for (let i = 0; i < FILLER; i++) seed(pod('bulk', `filler-${String(i).padStart(4, '0')}`));
  seed(pod('team-a', 'api-1', { optIn: 'annotation' })); // created while the webhook was down
  seed(pod('team-a', 'api-2', { optIn: 'annotation', proxy: true })); // injected
  seed(pod('team-b', 'worker-1', { optIn: 'label', phase: 'Pending' })); // down, opted in by label
  seed(pod('team-b', 'job-done', { optIn: 'annotation', phase: 'Succeeded' })); // finished
  seed(pod('team-off', 'legacy', { optIn: 'annotation' })); // namespace opted out by the admin
  seed(pod(NS, 'webhook-self', { optIn: 'annotation' })); // the webhook's namespace is never injected

  wh = start();
  metricsPort = await wh.metricsPort();
  await moreChecks(wh, 1);
});

afterAll(async () => {
  await wh?.stop();
  await api?.close();
});

test('one Warning Event on each opted-in pod running without the proxy, and no other', () => {
  const events = [...api.events.values()] as any[];
  expect(events.map((e) => `${e.metadata.namespace}/${e.involvedObject.name}`).sort()).toEqual([
    'team-a/api-1',
    'team-b/worker-1',
  ]);
  for (const e of events) {
    const key = `${e.involvedObject.namespace}/${e.involvedObject.name}`;
    expect(e).toMatchObject({
      involvedObject: { apiVersion: 'v1', kind: 'Pod', uid: uids[key] },
      reason: SIDECAR_MISSING_REASON,
      type: 'Warning',
      count: 1,
    });
    expect(e.message).toContain(PROXY_CONTAINER_NAME);
  }
  expect(eventPosts().map((r) => r.status)).toEqual([201, 201]);
});

test('every check lists all live pods in pages of POD_PAGE_SIZE, following continue', async () => {
  await moreChecks(wh, 1);
  const lists = api.requests.filter((r) => r.method === 'GET' && r.path === '/api/v1/pods');
  const firstPages = lists.filter((r) => !new URLSearchParams(r.query).has('continue'));
  expect(firstPages.length).toBeGreaterThanOrEqual(2);
  for (const r of lists) {
    const q = new URLSearchParams(r.query);
    expect(q.get('limit')).toBe(String(POD_PAGE_SIZE));
    expect(q.get('fieldSelector')).toBe('status.phase!=Succeeded,status.phase!=Failed');
    expect(r.status).toBe(200);
  }
  // Each check: a first page, then one request per continue token: 3 pages for FILLER + 5 live pods.
  const live = FILLER + 5;
  const perCheck: number[] = [];
  for (const r of lists) {
    if (!new URLSearchParams(r.query).has('continue')) perCheck.push(0);
    perCheck[perCheck.length - 1]!++;
  }
  expect(perCheck.slice(0, -1).every((n) => n === Math.ceil(live / POD_PAGE_SIZE))).toBe(true);
  expect(checksDone(wh).at(-1)).toMatchObject({ listed: live, pages: 3, uninjected: 2 });
});

test('the gauge counts them per namespace on /metrics; nothing is posted again', async () => {
  await moreChecks(wh, 2);
  expect((await samples(METRIC_NAMES.uninjectedPods)).sort()).toEqual([
    `${METRIC_NAMES.uninjectedPods}{namespace="team-a"} 1`,
    `${METRIC_NAMES.uninjectedPods}{namespace="team-b"} 1`,
  ]);
  expect(await samples(METRIC_NAMES.uninjectedEvents)).toEqual([
    `${METRIC_NAMES.uninjectedEvents}{result="created"} 2`,
  ]);
  const checks = await samples(METRIC_NAMES.uninjectedChecks);
  expect(checks).toEqual([expect.stringMatching(/\{result="success"\} \d+$/)]);
  expect(Number(checks[0]!.split(' ')[1])).toBeGreaterThanOrEqual(3);
  expect(eventPosts()).toHaveLength(2);
  // One log line per pod found, with its name; never the pod's spec.
  const found = wh.logs.filter((l) => l.message === 'opted-in pod runs without the s3-mirror proxy');
  expect(found.map((l) => `${l.namespace}/${l.pod}`).sort()).toEqual(['team-a/api-1', 'team-b/worker-1']);
});

test('a pod that appears is found at the next check; one that goes leaves the gauge', async () => {
  seed(pod('team-a', 'api-3', { optIn: 'annotation' }));
  api.pods.delete('team-b/worker-1');
  await moreChecks(wh, 2);
  expect(api.events.has(`team-a/s3-mirror-sidecar-missing.${uids['team-a/api-3']}`)).toBe(true);
  expect((await samples(METRIC_NAMES.uninjectedPods)).sort()).toEqual([
    `${METRIC_NAMES.uninjectedPods}{namespace="team-a"} 2`,
  ]);
  expect(eventPosts()).toHaveLength(3);
});

test('a second replica posts no duplicate: the Event name is taken (409)', async () => {
  const other = start();
  try {
    await moreChecks(other, 2);
    expect(api.events.size).toBe(3);
    const fromOther = eventPosts().slice(3);
    expect(fromOther.map((r) => r.status)).toEqual([409, 409]);
  } finally {
    expect(await other.stop()).toBe(0);
  }
});

test('every API call is covered by the always-needed RBAC rules; none outside the fake', () => {
  const rules = rbacRules().filter((r) => r.when === 'always');
  const seen = new Set<string>();
  for (const r of api.requests) {
    const access = accessOf(r);
    seen.add(`${access.resource}|${access.verb}`);
    expect({ access, allowed: allows(rules, access, NS) }).toEqual({ access, allowed: true });
  }
  expect([...seen].sort()).toEqual(['events|create', 'namespaces|get', 'pods|list']);
  expect(api.unexpected).toEqual([]);
});
