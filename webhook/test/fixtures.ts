import { applyPatch, deepClone } from 'fast-json-patch';
import { Pod as PodModel } from 'kubernetes-models/v1';
import { ANNOTATIONS, PROXY_CONTAINER_NAME } from '../src/annotations';
import { parseConfig, type Config } from '../src/config';
import type { PatchOp } from '../src/json-patch';
import { buildPatch } from '../src/patch-builder';
import type { Container, Pod } from '../src/pod';

export function testConfig(overrides: Record<string, string> = {}): Config {
  const r = parseConfig({
    MIRROR_S3_ENDPOINT: 'https://backup.example.com',
    MAIN_S3_ENDPOINT: 'https://s3.eu-central-1.amazonaws.com',
    MAIN_S3_REGION: 'eu-central-1',
    POD_NAMESPACE: 's3-mirror-system',
    ...overrides,
  });
  if (!r.ok) throw new Error(r.errors.join('; '));
  return r.config;
}

/** Applies with fast-json-patch in validating mode (throws on a bad path or missing parent). */
export function applyOps(pod: unknown, ops: PatchOp[]): Pod {
  return applyPatch(deepClone(pod), ops as never, true, false).newDocument as Pod;
}

/** `pod` injected in namespace team-a under the test config with `overrides`, checked valid: its proxy and the warnings. */
export function injectedProxyOf(
  pod: Pod,
  overrides: Record<string, string> = {},
): { proxy: Container; warnings: string[] } {
  const r = buildPatch({
    pod,
    namespace: 'team-a',
    config: testConfig(overrides),
    credentialsSecret: 'found',
  });
  if (r.action !== 'inject') throw new Error(`not injected: ${r.reason}`);
  const patched = applyOps(pod, r.patch);
  assertValidPod(patched);
  const proxy = [...(patched.spec.initContainers ?? []), ...patched.spec.containers].find(
    (c) => c.name === PROXY_CONTAINER_NAME,
  );
  if (!proxy) throw new Error('no proxy container');
  return { proxy, warnings: r.warnings };
}

/** Validates against the Kubernetes Pod schema plus invariants the schema does not express. */
export function assertValidPod(pod: Pod): void {
  new PodModel({ apiVersion: 'v1', kind: 'Pod', ...(pod as object) } as never).validate();
  const all = [...(pod.spec.initContainers ?? []), ...pod.spec.containers];
  const names = all.map((c) => c.name);
  if (new Set(names).size !== names.length) throw new Error(`duplicate container names: ${names.join(',')}`);
  const volumes = (pod.spec.volumes ?? []).map((v) => v.name);
  if (new Set(volumes).size !== volumes.length) throw new Error(`duplicate volumes: ${volumes.join(',')}`);
  for (const c of all) {
    for (const m of (c.volumeMounts as { name: string }[] | undefined) ?? []) {
      if (!volumes.includes(m.name)) throw new Error(`container ${c.name} mounts unknown volume ${m.name}`);
    }
  }
  const portNames = all.flatMap((c) => (c.ports ?? []).map((p) => p.name).filter((n) => n !== undefined));
  if (new Set(portNames).size !== portNames.length)
    throw new Error(`duplicate port names: ${portNames.join(',')}`);
}

export function proxyCount(pod: Pod): number {
  return [...(pod.spec.initContainers ?? []), ...pod.spec.containers].filter(
    (c) => c.name === PROXY_CONTAINER_NAME,
  ).length;
}

export function envOf(pod: Pod, container: string): Record<string, string | undefined> {
  const c = [...(pod.spec.initContainers ?? []), ...pod.spec.containers].find((x) => x.name === container);
  if (!c) throw new Error(`no container ${container}`);
  return Object.fromEntries((c.env ?? []).map((e) => [e.name, e.value]));
}

const optIn = { [ANNOTATIONS.inject]: 'true' };

/** Realistic pods, as the API server hands them to a mutating webhook. */
export const PODS: Record<string, Pod> = {
  deploymentTemplate: {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: {
      generateName: 'uploader-7d9f8b6c5-',
      labels: { app: 'uploader', 'pod-template-hash': '7d9f8b6c5' },
      annotations: { ...optIn },
      ownerReferences: [
        {
          apiVersion: 'apps/v1',
          kind: 'ReplicaSet',
          name: 'uploader-7d9f8b6c5',
          uid: '0d6c2a8e-1f0e-4c55-9e1b-3c1f0a9d2b11',
          controller: true,
        },
      ],
    },
    spec: {
      containers: [
        { name: 'app', image: 'ghcr.io/acme/uploader:1.2.3', ports: [{ containerPort: 3000, name: 'http' }] },
      ],
      serviceAccountName: 'uploader',
      restartPolicy: 'Always',
    },
  },
  noAnnotationsLabelOptIn: {
    metadata: { name: 'labelled', labels: { [ANNOTATIONS.inject]: 'true' } },
    spec: { containers: [{ name: 'app', image: 'busybox' }] },
  },
  noAnnotationsAtAll: {
    metadata: { name: 'plain' },
    spec: { containers: [{ name: 'app', image: 'busybox' }] },
  },
  existingEnvAndEnvFrom: {
    metadata: { name: 'envy', namespace: 'team-a', annotations: { ...optIn, 'other.io/x': 'y' } },
    spec: {
      containers: [
        {
          name: 'app',
          image: 'python:3.12',
          env: [
            { name: 'LOG', value: 'debug' },
            { name: 'DB_PASSWORD', valueFrom: { secretKeyRef: { name: 'db', key: 'password' } } },
          ],
          envFrom: [{ configMapRef: { name: 'app-config' } }],
        },
        { name: 'worker', image: 'python:3.12', env: [{ name: 'QUEUE', value: 'jobs' }] },
      ],
    },
  },
  initContainers: {
    metadata: { name: 'with-init', annotations: { ...optIn } },
    spec: {
      initContainers: [{ name: 'migrate', image: 'amazon/aws-cli', command: ['aws', 's3', 'ls'] }],
      containers: [{ name: 'app', image: 'amazon/aws-cli' }],
    },
  },
  existingSidecars: {
    metadata: { name: 'meshy', annotations: { ...optIn, 'sidecar.istio.io/status': '{}' } },
    spec: {
      initContainers: [
        { name: 'istio-init', image: 'istio/proxyv2' },
        { name: 'istio-proxy', image: 'istio/proxyv2', restartPolicy: 'Always' },
      ],
      containers: [
        { name: 'app', image: 'nginx' },
        {
          name: 'log-shipper',
          image: 'fluent/fluent-bit',
          volumeMounts: [{ name: 'logs', mountPath: '/logs' }],
        },
      ],
      volumes: [{ name: 'logs', emptyDir: {} }],
    },
  },
  setsEndpointAlready: {
    metadata: { name: 'custom-endpoint', annotations: { ...optIn } },
    spec: {
      containers: [
        {
          name: 'app',
          image: 'node:22',
          env: [
            { name: 'AWS_ENDPOINT_URL', value: 'http://minio:9000' },
            { name: 'AWS_ACCESS_KEY_ID', value: 'AKIAEXAMPLE' },
          ],
        },
      ],
    },
  },
  irsa: {
    metadata: { name: 'irsa', annotations: { ...optIn } },
    spec: {
      containers: [
        {
          name: 'app',
          image: 'node:22',
          env: [
            { name: 'AWS_ROLE_ARN', value: 'arn:aws:iam::123456789012:role/app' },
            {
              name: 'AWS_WEB_IDENTITY_TOKEN_FILE',
              value: '/var/run/secrets/eks.amazonaws.com/serviceaccount/token',
            },
          ],
        },
      ],
    },
  },
  jobPod: {
    metadata: {
      generateName: 'backup-28391-',
      labels: { [ANNOTATIONS.inject]: 'true', 'job-name': 'backup-28391' },
      ownerReferences: [
        {
          apiVersion: 'batch/v1',
          kind: 'Job',
          name: 'backup-28391',
          uid: '5b2f3f4e-9b7a-4d2c-8f0e-6a1d2c3b4a59',
          controller: true,
        },
      ],
    },
    spec: { restartPolicy: 'Never', containers: [{ name: 'backup', image: 'amazon/aws-cli' }] },
  },
  weirdNames: {
    metadata: {
      name: 'weird',
      annotations: { ...optIn, 'example.com/a~b/c': 'x', [ANNOTATIONS.skipContainers]: 'legacy' },
    },
    spec: {
      containers: [
        { name: 'app', image: 'busybox', env: null },
        { name: 'legacy', image: 'busybox' },
      ],
    },
  },
};
