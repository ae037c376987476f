/**
 * The built webhook (`node webhook/dist/main.js`) over HTTPS with file-mounted certificates, answering
 * AdmissionReview v1 documents. The credentials-Secret check goes to a local fake Kubernetes API.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, renameSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import tls from 'node:tls';
import { applyPatch, deepClone } from 'fast-json-patch';
import { Pod as PodModel } from 'kubernetes-models/v1';
import { ANNOTATIONS, PROXY_CONTAINER_NAME, STATUS_INJECTED } from '../../webhook/src/annotations';
import { MUTATE_PATH } from '../../webhook/src/config';
import { METRIC_NAMES } from '../../webhook/src/metrics';
import { generateCa, generateServingCert, serviceDnsNames } from '../../webhook/src/tls/pki';
import { allows, rbacRules } from '../../webhook/src/rbac';
import { accessOf, seedSecret, startFakeKubeApi, type FakeKubeApi } from '../../webhook/test/fake-kube-api';
import {
  REPO_ROOT,
  startWebhook,
  writeKubeconfig,
  type WebhookProcess,
} from '../../webhook/test/run-webhook';

const NS = 's3-mirror-system';
const SERVERNAME = `s3-mirror-webhook.${NS}.svc`;

let api: FakeKubeApi;
let wh: WebhookProcess;
let port: number;
let metricsPort: number;
let caPem: string;
let certDir: string;

interface Reply {
  status: number;
  json: any;
  peerSerial?: string;
}

function post(body: string | object, headers: Record<string, string> = {}, ca = caPem): Promise<Reply> {
  const data = typeof body === 'string' ? body : JSON.stringify(body);
  return new Promise((resolve, reject) => {
    const req = https.request(
      {
        host: '127.0.0.1',
        port,
        path: MUTATE_PATH,
        method: 'POST',
        ca,
        servername: SERVERNAME,
        agent: false,
        headers: {
          'content-type': 'application/json',
          'content-length': Buffer.byteLength(data),
          ...headers,
        },
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          let json: unknown;
          try {
            json = JSON.parse(text);
          } catch {
            json = text;
          }
          const cert = (res.socket as tls.TLSSocket).getPeerCertificate?.();
          resolve({ status: res.statusCode ?? 0, json, peerSerial: cert?.serialNumber });
        });
      },
    );
    req.on('error', reject);
    req.end(data);
  });
}

function review(object: unknown, request: Record<string, unknown> = {}) {
  return {
    apiVersion: 'admission.k8s.io/v1',
    kind: 'AdmissionReview',
    request: {
      uid: `uid-${Math.random().toString(36).slice(2)}`,
      kind: { group: '', version: 'v1', kind: 'Pod' },
      resource: { group: '', version: 'v1', resource: 'pods' },
      requestKind: { group: '', version: 'v1', kind: 'Pod' },
      namespace: 'team-a',
      operation: 'CREATE',
      userInfo: { username: 'system:serviceaccount:kube-system:replicaset-controller' },
      object,
      dryRun: false,
      ...request,
    },
  };
}

function deploymentPod(extraAnnotations: Record<string, string> = {}) {
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: {
      generateName: 'api-5f7c9d8b6-',
      // Pods created by a ReplicaSet reach the webhook without metadata.namespace.
      labels: { app: 'api' },
      annotations: { [ANNOTATIONS.inject]: 'true', ...extraAnnotations },
    },
    spec: {
      containers: [{ name: 'api', image: 'ghcr.io/acme/api:2.0.0', env: [{ name: 'PORT', value: '3000' }] }],
    },
  };
}

function decodePatch(reply: Reply): any[] {
  expect(reply.json.response.patchType).toBe('JSONPatch');
  return JSON.parse(Buffer.from(reply.json.response.patch, 'base64').toString('utf8'));
}

function httpGet(p: number, path: string): Promise<{ status: number; text: string }> {
  return new Promise((resolve, reject) => {
    http
      .get({ host: '127.0.0.1', port: p, path }, (res) => {
        let text = '';
        res.on('data', (c: Buffer) => (text += c.toString()));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, text }));
      })
      .on('error', reject);
  });
}

function writeCerts(dir: string, ca: { certPem: string; keyPem: string }): void {
  const leaf = generateServingCert(ca, serviceDnsNames('s3-mirror-webhook', NS), Date.now(), 3600);
  // Write like a Secret volume update: new files renamed into place.
  writeFileSync(join(dir, 'tls.crt.tmp'), leaf.certPem);
  writeFileSync(join(dir, 'tls.key.tmp'), leaf.keyPem);
  renameSync(join(dir, 'tls.key.tmp'), join(dir, 'tls.key'));
  renameSync(join(dir, 'tls.crt.tmp'), join(dir, 'tls.crt'));
}

beforeAll(async () => {
  execFileSync(process.execPath, [join(REPO_ROOT, 'node_modules/typescript/bin/tsc'), '-b', 'webhook'], {
    cwd: REPO_ROOT,
  });
  api = await startFakeKubeApi();
  seedSecret(api, 'team-a', 's3-mirror-credentials', {
    MAIN_ACCESS_KEY: Buffer.from('AKIASECRETVALUE').toString('base64'),
  });
  const ca = generateCa('test-ca', Date.now(), 86400);
  caPem = ca.certPem;
  certDir = mkdtempSync(join(tmpdir(), 'wh-certs-'));
  writeCerts(certDir, ca);
  wh = startWebhook({
    KUBECONFIG: writeKubeconfig(api),
    POD_NAMESPACE: NS,
    MIRROR_S3_ENDPOINT: 'https://backup.example.com',
    TLS_MODE: 'files',
    TLS_CERT_FILE: join(certDir, 'tls.crt'),
    TLS_KEY_FILE: join(certDir, 'tls.key'),
    TLS_RELOAD_INTERVAL_SECONDS: '1',
    MAX_BODY_BYTES: String(256 * 1024),
    SHUTDOWN_DELAY_SECONDS: '10',
    // Admission only: the uninjected-pod check's own calls are tested in webhook-uninjected.test.ts.
    UNINJECTED_CHECK_INTERVAL_SECONDS: '0',
  });
  metricsPort = await wh.metricsPort();
  port = await wh.httpsPort();
});

afterAll(async () => {
  await wh?.stop();
  await api?.close();
});

test('health and readiness on both ports once the certificate is loaded', async () => {
  expect(await httpGet(metricsPort, '/healthz')).toEqual({ status: 200, text: 'ok' });
  expect(await httpGet(metricsPort, '/readyz')).toEqual({ status: 200, text: 'ready' });
});

test('opt-in: Deployment pod without metadata.namespace is injected using request.namespace', async () => {
  const pod = deploymentPod();
  const rev = review(pod);
  const reply = await post(rev);
  expect(reply.status).toBe(200);
  expect(reply.json.apiVersion).toBe('admission.k8s.io/v1');
  expect(reply.json.kind).toBe('AdmissionReview');
  expect(reply.json.response.uid).toBe(rev.request.uid);
  expect(reply.json.response.allowed).toBe(true);
  expect(reply.json.response.warnings).toBeUndefined(); // Secret exists in team-a
  const patched = applyPatch(deepClone(pod), decodePatch(reply), true, false).newDocument as any;
  new PodModel(patched).validate();
  expect(patched.spec.initContainers[0].name).toBe(PROXY_CONTAINER_NAME);
  expect(patched.metadata.annotations[ANNOTATIONS.status]).toBe(STATUS_INJECTED);
  expect(patched.spec.containers[0].env).toContainEqual({
    name: 'AWS_ENDPOINT_URL',
    value: 'http://127.0.0.1:8080',
  });
  // The Secret's value never ends up in the response.
  expect(JSON.stringify(reply.json)).not.toContain('AKIASECRETVALUE');

  // Idempotent: the patched pod comes back (reinvocation) → allowed, no patch.
  const again = await post(review(patched));
  expect(again.json.response).toEqual({ uid: expect.any(String), allowed: true });
});

test('the Secret lookup used the request namespace, asked for metadata only, and was cached', () => {
  const lookups = api.requests.filter(
    (r) => r.path === '/api/v1/namespaces/team-a/secrets/s3-mirror-credentials',
  );
  // Two admissions in team-a so far (injection and the re-invocation): one API call, the second was cached.
  expect(lookups).toHaveLength(1);
  expect(api.requests.every((r) => r.path.startsWith('/api/v1/namespaces/team-a/'))).toBe(true);
  for (const r of lookups) {
    expect(r.method).toBe('GET');
    expect(r.accept).toContain('as=PartialObjectMetadata');
  }
  expect(api.unexpected).toEqual([]);
});

test('every API call of the files mode is covered by the always-needed RBAC rules', () => {
  const rules = rbacRules().filter((r) => r.when === 'always');
  expect(api.requests.length).toBeGreaterThan(0);
  for (const r of api.requests)
    expect({ access: accessOf(r), allowed: allows(rules, accessOf(r), NS) }).toEqual({
      access: accessOf(r),
      allowed: true,
    });
});

test('missing credentials Secret: injected anyway, with a warning', async () => {
  const reply = await post(review(deploymentPod(), { namespace: 'team-b' }));
  expect(reply.json.response.allowed).toBe(true);
  expect(reply.json.response.patch).toBeDefined();
  expect(reply.json.response.warnings).toEqual([
    'Secret "s3-mirror-credentials" not found in namespace "team-b": the s3-mirror proxy cannot start until it exists',
  ]);
});

test('skip: no opt-in, system namespace, own namespace, non-Pod, non-CREATE', async () => {
  const plain = { metadata: { name: 'p' }, spec: { containers: [{ name: 'c', image: 'x' }] } };
  for (const [obj, req] of [
    [plain, {}],
    [deploymentPod(), { namespace: 'kube-system' }],
    [deploymentPod(), { namespace: NS }],
    [deploymentPod(), { operation: 'UPDATE' }],
    [{ metadata: { name: 'cm' }, data: {} }, { kind: { group: '', version: 'v1', kind: 'ConfigMap' } }],
  ] as const) {
    const rev = review(obj, req);
    const reply = await post(rev);
    expect(reply.status).toBe(200);
    expect(reply.json.response).toEqual({ uid: rev.request.uid, allowed: true });
  }
});

test('malformed input gets a clear error, never a crash', async () => {
  const bad = await post('{"apiVersion": "admission.k8s.io/v1", ');
  expect(bad.status).toBe(400);
  expect(bad.json.error).toBe('request body is not valid JSON');

  const v1beta1 = await post({ ...review(deploymentPod()), apiVersion: 'admission.k8s.io/v1beta1' });
  expect(v1beta1.status).toBe(400);
  expect(v1beta1.json.error).toContain('unsupported apiVersion');

  const noUid = await post({
    apiVersion: 'admission.k8s.io/v1',
    kind: 'AdmissionReview',
    request: { kind: { kind: 'Pod' } },
  });
  expect(noUid.status).toBe(400);
  expect(noUid.json.error).toBe('request.uid is missing');

  const noRequest = await post({ apiVersion: 'admission.k8s.io/v1', kind: 'AdmissionReview' });
  expect(noRequest.json.error).toBe('request is missing');

  const huge = await post(review({ ...deploymentPod(), padding: 'x'.repeat(300 * 1024) }));
  expect(huge.status).toBe(413);
  expect(huge.json.error).toBe(`request body exceeds ${256 * 1024} bytes`);

  const oddPod = review({
    metadata: { annotations: { [ANNOTATIONS.inject]: 'true' } },
    spec: { containers: 'nope' },
  });
  const odd = await post(oddPod);
  expect(odd.status).toBe(200);
  expect(odd.json.response.allowed).toBe(true);
  expect(odd.json.response.patch).toBeUndefined();
  expect(odd.json.response.warnings[0]).toContain('spec.containers');

  // Still serving after all that.
  expect((await post(review(deploymentPod()))).json.response.allowed).toBe(true);
});

test('admission is HTTPS only: plain HTTP gets nothing from the HTTPS port, and no /mutate on the metrics port', async () => {
  const plainToHttps = await new Promise<string>((resolve) => {
    const req = http.request({ host: '127.0.0.1', port, path: MUTATE_PATH, method: 'POST' }, (res) =>
      resolve(`status ${res.statusCode}`),
    );
    req.on('error', (e) => resolve(`error: ${e.message}`));
    req.end(JSON.stringify(review(deploymentPod())));
  });
  // Node's TLS server answers a plain-HTTP request with "400 Bad Request" at most, never an AdmissionReview.
  expect(plainToHttps).toMatch(/^(error|status 400)/);
  const onMetrics = await new Promise<number>((resolve, reject) => {
    const req = http.request(
      { host: '127.0.0.1', port: metricsPort, path: MUTATE_PATH, method: 'POST' },
      (res) => {
        res.resume();
        resolve(res.statusCode ?? 0);
      },
    );
    req.on('error', reject);
    req.end(JSON.stringify(review(deploymentPod())));
  });
  expect(onMetrics).toBe(405);
  expect((await httpGet(metricsPort, MUTATE_PATH)).status).toBe(404);
});

test('logs: one JSON line per admission with uid, namespace, result and reason; no secrets, no pod specs', () => {
  expect(wh.logs.filter((l) => l.unparsed)).toEqual([]);
  const admissions = wh.logs.filter((l) => l.message === 'admission');
  expect(admissions.length).toBeGreaterThan(3);
  for (const l of admissions) {
    expect(l).toMatchObject({
      level: 'info',
      component: 's3-mirror-webhook',
      uid: expect.any(String),
      namespace: expect.any(String),
      result: expect.any(String),
      reason: expect.any(String),
      timestamp: expect.any(String),
    });
  }
  expect(admissions).toContainEqual(
    expect.objectContaining({ namespace: 'team-a', result: 'injected', reason: 'injected' }),
  );
  const all = JSON.stringify(wh.logs);
  expect(all).not.toContain('AKIASECRETVALUE');
  expect(all).not.toContain('ghcr.io/acme/api'); // the pod's image: pod specs are never logged
  expect(all).not.toContain('BEGIN');
});

test('TLS 1.1 is refused', async () => {
  const result = await new Promise<string>((resolve) => {
    const s = tls.connect({
      host: '127.0.0.1',
      port,
      servername: SERVERNAME,
      ca: caPem,
      minVersion: 'TLSv1',
      maxVersion: 'TLSv1.1',
    });
    s.on('secureConnect', () => {
      s.destroy();
      resolve('connected');
    });
    s.on('error', (e) => resolve(`error: ${e.message}`));
  });
  expect(result).toMatch(/^error/);
});

test('metrics expose the admission counters with results and reasons', async () => {
  const m = await httpGet(metricsPort, '/metrics');
  expect(m.status).toBe(200);
  expect(m.text).toMatch(
    new RegExp(`${METRIC_NAMES.admissionRequests}\\{result="injected",reason="injected"\\} \\d+`),
  );
  expect(m.text).toMatch(
    new RegExp(`${METRIC_NAMES.admissionRequests}\\{result="skipped",reason="excluded-namespace"\\} \\d+`),
  );
  expect(m.text).toMatch(new RegExp(`${METRIC_NAMES.injections}\\{namespace="team-a"\\} \\d+`));
  expect(m.text).toContain(`${METRIC_NAMES.admissionDuration}_bucket`);
  expect(m.text).toContain(`${METRIC_NAMES.certificateExpiry} `);
  expect(m.text).not.toContain('AKIASECRETVALUE');
});

test('certificate files are reloaded when they change', async () => {
  const before = await post(review(deploymentPod()));
  const ca2 = generateCa('rotated-ca', Date.now(), 86400);
  writeCerts(certDir, ca2);
  await wh.waitForLog(
    (l) =>
      l.message === 'serving certificate loaded from files' &&
      wh.logs.filter((x) => x.message === l.message).length >= 2,
  );
  const after = await post(review(deploymentPod()), {}, ca2.certPem);
  expect(after.status).toBe(200);
  expect(after.peerSerial).not.toBe(before.peerSerial);
  // The old CA no longer verifies the new certificate.
  await expect(post(review(deploymentPod()), {}, caPem)).rejects.toThrow();
  caPem = ca2.certPem;
});

test('SIGTERM: readiness drops at once, admission keeps working during the delay, then a clean exit', async () => {
  wh.child.kill('SIGTERM');
  await wh.waitForLog((l) => l.message === 'shutting down');
  expect(await httpGet(metricsPort, '/readyz')).toEqual({ status: 503, text: 'shutting down' });
  const reply = await post(review(deploymentPod()));
  expect(reply.json.response.allowed).toBe(true);
  expect(await wh.stop()).toBe(0);
});

describe('configuration sources', () => {
  test('a ConfigMap mounted as files (CONFIG_DIR) is read; the environment wins over files', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'wh-config-'));
    writeFileSync(join(dir, 'MIRROR_S3_ENDPOINT'), 'https://mirror.from-file.example\n');
    writeFileSync(join(dir, 'PROXY_IMAGE'), 'registry.local/proxy:from-file\n');
    writeFileSync(join(dir, 'SIDECAR_MODE'), 'classic\n');
    const ca = generateCa('cfg-ca', Date.now(), 86400);
    const certs = mkdtempSync(join(tmpdir(), 'wh-certs-'));
    writeCerts(certs, ca);
    const other = startWebhook({
      KUBECONFIG: writeKubeconfig(api),
      POD_NAMESPACE: NS,
      CONFIG_DIR: dir,
      SIDECAR_MODE: 'native', // env beats the file
      TLS_CERT_FILE: join(certs, 'tls.crt'),
      TLS_KEY_FILE: join(certs, 'tls.key'),
      UNINJECTED_CHECK_INTERVAL_SECONDS: '0',
    });
    try {
      const otherPort = await other.httpsPort();
      const saved = port;
      port = otherPort;
      const reply = await post(review(deploymentPod()), {}, ca.certPem).finally(() => (port = saved));
      const pod = applyPatch(deepClone(deploymentPod()), decodePatch(reply), true, false).newDocument as any;
      const proxy = pod.spec.initContainers[0];
      expect(proxy.image).toBe('registry.local/proxy:from-file');
      expect(proxy.env).toContainEqual({
        name: 'MIRROR_S3_ENDPOINT',
        value: 'https://mirror.from-file.example',
      });
    } finally {
      expect(await other.stop()).toBe(0);
    }
  });

  test('invalid configuration exits with code 2 and names each problem', async () => {
    const bad = startWebhook({ POD_NAMESPACE: NS, SIDECAR_MODE: 'sometimes', PROXY_MEMORY_LIMIT: '1 GB' });
    expect(await bad.exited).toBe(2);
    const err = bad.stderr.join('');
    expect(err).toContain('config error: MIRROR_S3_ENDPOINT is required');
    expect(err).toContain('config error: SIDECAR_MODE must be one of native, classic, got "sometimes"');
    expect(err).toContain('config error: PROXY_MEMORY_LIMIT is not a Kubernetes quantity: "1 GB"');
  });
});
