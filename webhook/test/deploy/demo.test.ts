/**
 * deploy/examples (the local walkthrough in docs/install.md) cannot run here (no cluster), so its parts are
 * checked against each other and against the code: the webhook settings point at the demo's Services, the
 * demo Secret matches the backends' passwords and the keys the proxy reads, and the demo app's pod goes
 * through the real patch builder into a valid Pod.
 */
import { applyPatch, deepClone } from 'fast-json-patch';
import { Pod as PodModel } from 'kubernetes-models/v1';
import { ANNOTATIONS, PROXY_CONTAINER_NAME, STATUS_INJECTED } from '../../src/annotations';
import { parseConfig, proxyEndpointUrl, type Config } from '../../src/config';
import { buildPatch } from '../../src/patch-builder';
import type { Pod } from '../../src/pod';
import { SECRET_ENV_KEYS } from '../../src/sidecar-container';
import { one, ofKind, render, type K8sObject } from './render';

const demo = () => render('deploy/examples/demo');
const DEMO_NS = 's3-mirror-demo';

function webhookConfig(dir: string): Config {
  const objects = render(dir);
  const data = one(objects, 'ConfigMap', 's3-mirror-webhook-config').data as Record<string, string>;
  const r = parseConfig({ ...data, POD_NAMESPACE: 's3-mirror-system' });
  if (!r.ok) throw new Error(r.errors.join('; '));
  return r.config;
}

/** The demo Service and port a URL's host:port names (`<svc>.<namespace>.svc:<port>`), or why not. */
function serviceFor(url: string): { service: K8sObject; port: number } {
  const u = new URL(url);
  const [svc, ns, suffix] = u.hostname.split('.');
  if (ns !== DEMO_NS || suffix !== 'svc') throw new Error(`${url} is not a Service in ${DEMO_NS}`);
  const service = one(demo(), 'Service', svc);
  const port = Number(u.port);
  const p = service.spec.ports.find((x: { port: number }) => x.port === port);
  if (!p) throw new Error(`Service ${svc} has no port ${port}`);
  return { service, port };
}

/** The container behind a Service (selector → Deployment template). */
function backendEnv(service: K8sObject): Record<string, string> {
  const dep = ofKind(demo(), 'Deployment').find((d) =>
    Object.entries(service.spec.selector as Record<string, string>).every(
      ([k, v]) => d.spec.template.metadata.labels[k] === v,
    ),
  );
  if (!dep) throw new Error(`no Deployment behind Service ${service.metadata.name}`);
  return Object.fromEntries(
    dep.spec.template.spec.containers[0].env.map((e: { name: string; value: string }) => [e.name, e.value]),
  );
}

const secret = () =>
  Object.fromEntries(Object.entries(one(demo(), 'Secret').stringData as Record<string, string>));

describe.each(['deploy/examples/local/self-managed', 'deploy/examples/local/cert-manager'])('%s', (dir) => {
  test('main and mirror endpoints are the demo MinIO Services, and the demo Secret holds their passwords', () => {
    const config = webhookConfig(dir);
    const main = serviceFor(config.proxy.mainEndpoint);
    const mirror = serviceFor(config.proxy.mirrorEndpoint);
    expect(main.service.metadata.name).not.toBe(mirror.service.metadata.name);
    const s = secret();
    expect(backendEnv(main.service)).toMatchObject({
      MINIO_ROOT_USER: s.MAIN_ACCESS_KEY,
      MINIO_ROOT_PASSWORD: s.MAIN_SECRET_KEY,
    });
    expect(backendEnv(mirror.service)).toMatchObject({
      MINIO_ROOT_USER: s.MIRROR_ACCESS_KEY,
      MINIO_ROOT_PASSWORD: s.MIRROR_SECRET_KEY,
    });
  });

  test('the demo app pod goes through the real patch builder into a valid Pod', () => {
    const config = webhookConfig(dir);
    const app = one(demo(), 'Deployment', 'demo-app');
    const pod: Pod = {
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: { generateName: 'demo-app-5d8f7c9b4-', ...deepClone(app.spec.template.metadata) },
      spec: deepClone(app.spec.template.spec),
    };
    const r = buildPatch({ pod, namespace: DEMO_NS, config, credentialsSecret: 'found' });
    expect(r).toMatchObject({ action: 'inject', warnings: [] });
    const patched = applyPatch(deepClone(pod), r.patch as never, true, false).newDocument as Pod;
    new PodModel(patched as never).validate();
    expect(patched.metadata!.annotations![ANNOTATIONS.status]).toBe(STATUS_INJECTED);
    const proxy = patched.spec.initContainers!.find((c) => c.name === PROXY_CONTAINER_NAME)!;
    const env = Object.fromEntries(proxy.env!.map((e) => [e.name, e.value]));
    expect(env).toMatchObject({
      MAIN_S3_ENDPOINT: config.proxy.mainEndpoint,
      MIRROR_S3_ENDPOINT: config.proxy.mirrorEndpoint,
      ALLOWED_BUCKETS: 'demo',
      LOG_LEVEL: 'debug',
    });
    expect(proxy.image).toBe(config.proxy.image);
    const appEnv = Object.fromEntries(patched.spec.containers[0]!.env!.map((e) => [e.name, e.value]));
    expect(appEnv.AWS_ENDPOINT_URL).toBe(proxyEndpointUrl(config.proxy));
  });
});

test('the demo Secret: the credentials Secret name and exactly the keys the proxy reads', () => {
  const s = one(demo(), 'Secret');
  expect(s.metadata).toMatchObject({ name: 's3-mirror-credentials', namespace: DEMO_NS });
  expect(Object.keys(s.stringData).sort()).toEqual([...SECRET_ENV_KEYS].sort());
});

test("the demo Secret's POSTGRES_URL reaches the demo Postgres with its password", () => {
  const u = new URL(secret().POSTGRES_URL!);
  const { service } = serviceFor(`http://${u.host}`);
  expect(backendEnv(service).POSTGRES_PASSWORD).toBe(decodeURIComponent(u.password));
});

test('the bucket the demo creates is the one the app writes and is allowed to use; the Job is not injected', () => {
  const job = one(demo(), 'Job', 'create-buckets');
  expect(job.spec.template.metadata.annotations[ANNOTATIONS.inject]).toBe('false');
  const script = job.spec.template.spec.containers[0].args.join('\n');
  const created = new Set([...script.matchAll(/s3 mb s3:\/\/([a-z0-9.-]+)/g)].map((m) => m[1]));
  expect(created).toEqual(new Set(['demo']));
  const app = one(demo(), 'Deployment', 'demo-app').spec.template;
  expect(app.metadata.annotations[ANNOTATIONS.inject]).toBe('true');
  expect(app.metadata.annotations[ANNOTATIONS.allowedBuckets]).toBe('demo');
  const used = new Set(
    [...app.spec.containers[0].args.join('\n').matchAll(/s3:\/\/([a-z0-9.-]+)\//g)].map((m) => m[1]),
  );
  expect(used).toEqual(new Set(['demo']));
});

test('the demo namespace does not opt out, and every demo object lands in it', () => {
  const ns = one(demo(), 'Namespace');
  expect(ns.metadata.name).toBe(DEMO_NS);
  expect(ns.metadata.labels?.['s3-mirror.io/injection']).toBeUndefined();
  for (const o of demo().filter((x) => x.kind !== 'Namespace')) expect(o.metadata.namespace).toBe(DEMO_NS);
});
