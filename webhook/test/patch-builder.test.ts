import {
  ANNOTATIONS,
  PLACEHOLDER_ACCESS_KEY_ID,
  PLACEHOLDER_SECRET_ACCESS_KEY,
  PROXY_CONTAINER_NAME,
  STATUS_INJECTED,
} from '../src/annotations';
import { planContainerEnv } from '../src/env-injection';
import { buildPatch, type BuildResult, type SecretState } from '../src/patch-builder';
import type { Pod } from '../src/pod';
import { SECRET_ENV_KEYS } from '../src/sidecar-container';
import { PODS, applyOps, assertValidPod, envOf, proxyCount, testConfig } from './fixtures';

const config = testConfig();
const URL = 'http://127.0.0.1:8080';

function run(pod: Pod, namespace = 'team-a', secret: SecretState = 'found', cfg = config): BuildResult {
  return buildPatch({ pod, namespace, config: cfg, credentialsSecret: secret });
}

function inject(pod: Pod, namespace = 'team-a', cfg = config): Pod {
  const r = run(pod, namespace, 'found', cfg);
  expect(r.action).toBe('inject');
  const patched = applyOps(pod, r.patch);
  assertValidPod(patched);
  return patched;
}

function proxy(pod: Pod) {
  return [...(pod.spec.initContainers ?? []), ...pod.spec.containers].find(
    (c) => c.name === PROXY_CONTAINER_NAME,
  )!;
}

describe('every opted-in realistic pod', () => {
  const optedIn = Object.entries(PODS).filter(([name]) => name !== 'noAnnotationsAtAll');
  for (const mode of ['native', 'classic'] as const) {
    const cfg = testConfig({ SIDECAR_MODE: mode });
    test.each(optedIn)(`%s (${mode}): patch applies, pod validates, second pass is a no-op`, (_name, pod) => {
      const before = JSON.stringify(pod);
      const patched = inject(pod, 'team-a', cfg);
      expect(JSON.stringify(pod)).toBe(before); // the builder never mutates its input
      expect(proxyCount(patched)).toBe(1);
      expect(patched.metadata?.annotations?.[ANNOTATIONS.status]).toBe(STATUS_INJECTED);
      const again = run(patched, 'team-a', 'found', cfg);
      expect(again).toEqual({
        action: 'skip',
        reason: 'already-injected',
        patch: [],
        warnings: expect.any(Array),
      });
      // Applying the first patch twice would duplicate; the builder on the patched pod must not.
      for (const c of [...(patched.spec.initContainers ?? []), ...patched.spec.containers]) {
        const names = (c.env ?? []).map((e) => e.name);
        expect(new Set(names).size).toBe(names.length);
      }
    });
  }
});

test('pods without the opt-in pass unchanged', () => {
  expect(run(PODS.noAnnotationsAtAll!)).toEqual({
    action: 'skip',
    reason: 'not-opted-in',
    patch: [],
    warnings: [],
  });
  const off: Pod = {
    metadata: { annotations: { [ANNOTATIONS.inject]: 'false' }, labels: { [ANNOTATIONS.inject]: 'true' } },
    spec: { containers: [{ name: 'a', image: 'x' }] },
  };
  expect(run(off).reason).toBe('opted-out');
  const typo: Pod = {
    metadata: { annotations: { [ANNOTATIONS.inject]: 'ture' } },
    spec: { containers: [{ name: 'a' }] },
  };
  expect(run(typo).reason).toBe('not-opted-in');
});

test.each(['kube-system', 'kube-public', 'kube-node-lease', 's3-mirror-system'])(
  'never injects into %s',
  (ns) => {
    expect(run(PODS.deploymentTemplate!, ns)).toMatchObject({
      action: 'skip',
      reason: 'excluded-namespace',
      patch: [],
    });
  },
);

test('native mode: init container first, restartPolicy Always, startupProbe on the admin port', () => {
  const patched = inject(PODS.initContainers!);
  expect(patched.spec.initContainers!.map((c) => c.name)).toEqual([PROXY_CONTAINER_NAME, 'migrate']);
  const p = proxy(patched);
  expect(p.restartPolicy).toBe('Always');
  expect(p.startupProbe).toMatchObject({ httpGet: { path: '/readyz', port: 9090 } });
  expect(p.lifecycle).toBeUndefined();
  expect(patched.spec.containers.map((c) => c.name)).toEqual(['app']);
});

test('classic mode: proxy first in containers with a node postStart hook; kubectl default stays the app', () => {
  const cfg = testConfig({ SIDECAR_MODE: 'classic' });
  const patched = inject(PODS.deploymentTemplate!, 'team-a', cfg);
  expect(patched.spec.containers.map((c) => c.name)).toEqual([PROXY_CONTAINER_NAME, 'app']);
  const p = proxy(patched);
  expect(p.restartPolicy).toBeUndefined();
  const cmd = (p.lifecycle as { postStart: { exec: { command: string[] } } }).postStart.exec.command;
  expect(cmd[0]).toBe('node');
  expect(cmd[2]).toContain('/readyz');
  expect(patched.metadata!.annotations!['kubectl.kubernetes.io/default-container']).toBe('app');
  // env went to the app container at its original index, not to the proxy
  expect(envOf(patched, 'app').AWS_ENDPOINT_URL).toBe(URL);
});

test('per-pod sidecar mode override', () => {
  const pod: Pod = {
    ...PODS.deploymentTemplate!,
    metadata: {
      ...PODS.deploymentTemplate!.metadata,
      annotations: { [ANNOTATIONS.inject]: 'true', [ANNOTATIONS.sidecarMode]: 'classic' },
    },
  };
  expect(inject(pod).spec.containers[0]!.name).toBe(PROXY_CONTAINER_NAME);
});

test('proxy container: image, literal settings, secrets by reference only, hardened', () => {
  const patched = inject(PODS.deploymentTemplate!);
  const p = proxy(patched);
  expect(p.image).toBe(config.proxy.image);
  const env = p.env!;
  const literal = Object.fromEntries(env.filter((e) => e.value !== undefined).map((e) => [e.name, e.value]));
  expect(literal).toMatchObject({
    MAIN_S3_ENDPOINT: 'https://s3.eu-central-1.amazonaws.com',
    MAIN_S3_REGION: 'eu-central-1',
    MIRROR_S3_ENDPOINT: 'https://backup.example.com',
    MIRROR_S3_REGION: 'us-east-1',
    LISTEN_ADDR: '127.0.0.1:8080',
    ADMIN_ADDR: '0.0.0.0:9090',
    LOG_LEVEL: 'info',
  });
  for (const key of SECRET_ENV_KEYS) {
    const e = env.find((x) => x.name === key)!;
    expect(e.value).toBeUndefined();
    expect(e.valueFrom).toEqual({ secretKeyRef: { name: 's3-mirror-credentials', key } });
  }
  expect(p.securityContext).toEqual({
    runAsNonRoot: true,
    runAsUser: 65532,
    runAsGroup: 65532,
    readOnlyRootFilesystem: true,
    allowPrivilegeEscalation: false,
    privileged: false,
    capabilities: { drop: ['ALL'] },
    seccompProfile: { type: 'RuntimeDefault' },
  });
  expect(p.resources).toEqual({ requests: { cpu: '50m', memory: '64Mi' }, limits: { memory: '256Mi' } });
  expect(patched.spec.volumes).toEqual([
    { name: 's3-mirror-proxy-tmp', emptyDir: { sizeLimit: '64Mi' } },
    { name: 's3-mirror-state', emptyDir: { sizeLimit: '1Gi' } },
  ]);
});

test('state directory: STATE_DIR and an emptyDir at /var/lib/s3-mirror, root filesystem still read-only', () => {
  const patched = inject(PODS.deploymentTemplate!);
  const p = proxy(patched);
  expect(p.env).toContainEqual({ name: 'STATE_DIR', value: '/var/lib/s3-mirror' });
  expect(p.volumeMounts).toEqual([
    { name: 's3-mirror-proxy-tmp', mountPath: '/tmp' },
    { name: 's3-mirror-state', mountPath: '/var/lib/s3-mirror' },
  ]);
  expect((p.securityContext as { readOnlyRootFilesystem: boolean }).readOnlyRootFilesystem).toBe(true);
  // Every path the proxy writes is a mounted volume.
  const writable = (p.volumeMounts as { mountPath: string }[]).map((m) => m.mountPath);
  const env = Object.fromEntries(p.env!.map((e) => [e.name, e.value]));
  expect(writable).toContain(env.STATE_DIR);
});

test('state volume size: config default, per-pod annotation, empty = no limit, invalid = warning', () => {
  const sizeOf = (pod: Pod, cfg = config) => {
    const r = run(pod, 'team-a', 'found', cfg);
    const patched = applyOps(pod, r.patch);
    assertValidPod(patched);
    const v = patched.spec.volumes!.find((x) => x.name === 's3-mirror-state')!;
    return { emptyDir: v.emptyDir, warnings: r.warnings };
  };
  const annotated = (value: string): Pod => ({
    metadata: { annotations: { [ANNOTATIONS.inject]: 'true', [ANNOTATIONS.stateSizeLimit]: value } },
    spec: { containers: [{ name: 'app', image: 'x' }] },
  });
  expect(sizeOf(PODS.deploymentTemplate!, testConfig({ PROXY_STATE_SIZE_LIMIT: '2Gi' })).emptyDir).toEqual({
    sizeLimit: '2Gi',
  });
  expect(sizeOf(PODS.deploymentTemplate!, testConfig({ PROXY_STATE_SIZE_LIMIT: '' })).emptyDir).toEqual({});
  expect(sizeOf(annotated('1Gi')).emptyDir).toEqual({ sizeLimit: '1Gi' });
  expect(sizeOf(annotated('')).emptyDir).toEqual({});
  expect(sizeOf(annotated('lots'))).toEqual({
    emptyDir: { sizeLimit: '1Gi' },
    warnings: [`annotation ${ANNOTATIONS.stateSizeLimit}="lots" is invalid and was ignored`],
  });
});

test('journal and spool bounds are derived from the state volume size, so the proxy stays below it', () => {
  const budgetEnv = (pod: Pod, cfg = config) => {
    const env = proxy(applyOps(pod, run(pod, 'team-a', 'found', cfg).patch)).env!;
    return Object.fromEntries(
      env
        .filter((e) => ['JOURNAL_MAX_BYTES', 'SPOOL_MAX_BYTES', 'SPOOL_MAX_OBJECT_BYTES'].includes(e.name))
        .map((e) => [e.name, e.value]),
    );
  };
  const Mi = 2 ** 20;
  expect(budgetEnv(PODS.deploymentTemplate!)).toEqual({
    JOURNAL_MAX_BYTES: String(256 * Mi),
    SPOOL_MAX_BYTES: String(640 * Mi),
    SPOOL_MAX_OBJECT_BYTES: String(160 * Mi),
  });
  const annotated: Pod = {
    metadata: { annotations: { [ANNOTATIONS.inject]: 'true', [ANNOTATIONS.stateSizeLimit]: '256Mi' } },
    spec: { containers: [{ name: 'app', image: 'x' }] },
  };
  expect(budgetEnv(annotated)).toEqual({
    JOURNAL_MAX_BYTES: String(112 * Mi),
    SPOOL_MAX_BYTES: String(112 * Mi),
    SPOOL_MAX_OBJECT_BYTES: String(28 * Mi),
  });
  // No limit on the volume: nothing injected, the proxy's own defaults apply.
  expect(budgetEnv(PODS.deploymentTemplate!, testConfig({ PROXY_STATE_SIZE_LIMIT: '' }))).toEqual({});
});

test("the pod's own volume named like ours is never taken over; an identical copy is reused", () => {
  const claim = { name: 's3-mirror-state', persistentVolumeClaim: { claimName: 'app-data' } };
  const pod: Pod = {
    metadata: { annotations: { [ANNOTATIONS.inject]: 'true' } },
    spec: {
      containers: [
        { name: 'app', image: 'x', volumeMounts: [{ name: 's3-mirror-state', mountPath: '/data' }] },
      ],
      volumes: [claim, { name: 's3-mirror-state-1', emptyDir: {} }],
    },
  };
  const r = run(pod);
  expect(r.warnings).toEqual([
    'the pod already has a different volume "s3-mirror-state"; the s3-mirror proxy uses "s3-mirror-state-2" instead',
  ]);
  const patched = applyOps(pod, r.patch);
  assertValidPod(patched);
  expect(patched.spec.volumes![0]).toEqual(claim);
  expect(patched.spec.volumes!.map((v) => v.name)).toEqual([
    's3-mirror-state',
    's3-mirror-state-1',
    's3-mirror-proxy-tmp',
    's3-mirror-state-2',
  ]);
  expect(proxy(patched).volumeMounts).toContainEqual({
    name: 's3-mirror-state-2',
    mountPath: '/var/lib/s3-mirror',
  });
  expect(run(patched).patch).toEqual([]);

  // A spec copied from an injected pod, without the proxy: the identical volumes are reused, not duplicated.
  const first = inject(PODS.deploymentTemplate!);
  const copy: Pod = {
    metadata: { annotations: { [ANNOTATIONS.inject]: 'true' } },
    spec: { ...first.spec, initContainers: [] },
  };
  const again = run(copy);
  expect(again.warnings).toEqual([]);
  expect(again.patch.some((o) => o.path.startsWith('/spec/volumes'))).toBe(false);
  expect(proxyCount(applyOps(copy, again.patch))).toBe(1);
});

test('app and init containers get endpoint and placeholder credentials; init can be turned off', () => {
  const patched = inject(PODS.initContainers!);
  for (const c of ['migrate', 'app']) {
    expect(envOf(patched, c)).toEqual({
      AWS_ENDPOINT_URL: URL,
      AWS_ACCESS_KEY_ID: PLACEHOLDER_ACCESS_KEY_ID,
      AWS_SECRET_ACCESS_KEY: expect.any(String),
      AWS_REGION: 'eu-central-1',
    });
  }
  const cfg = testConfig({ INJECT_INIT_CONTAINERS: 'false' });
  const noInit = inject(PODS.initContainers!, 'team-a', cfg);
  expect(envOf(noInit, 'migrate')).toEqual({});
  const annotated: Pod = {
    ...PODS.initContainers!,
    metadata: { annotations: { [ANNOTATIONS.inject]: 'true', [ANNOTATIONS.injectInitContainers]: 'false' } },
  };
  expect(envOf(inject(annotated), 'migrate')).toEqual({});
});

test('native mode: the proxy goes after existing native sidecars and before regular init containers', () => {
  const pod: Pod = {
    metadata: { annotations: { [ANNOTATIONS.inject]: 'true' } },
    spec: {
      initContainers: [
        { name: 'mesh-init', image: 'x' },
        { name: 'mesh-proxy', image: 'x', restartPolicy: 'Always' },
        { name: 'migrate', image: 'x' },
      ],
      containers: [{ name: 'app', image: 'x' }],
    },
  };
  const patched = inject(pod);
  expect(patched.spec.initContainers!.map((c) => c.name)).toEqual([
    'mesh-init',
    'mesh-proxy',
    PROXY_CONTAINER_NAME,
    'migrate',
  ]);
  expect(envOf(patched, 'migrate').AWS_ENDPOINT_URL).toBe(URL);
});

test('other native sidecars count as app containers even when init injection is off', () => {
  const cfg = testConfig({ INJECT_INIT_CONTAINERS: 'false' });
  const patched = inject(PODS.existingSidecars!, 'team-a', cfg);
  expect(envOf(patched, 'istio-init')).toEqual({});
  expect(envOf(patched, 'istio-proxy').AWS_ENDPOINT_URL).toBe(URL);
  expect(patched.spec.initContainers!.map((c) => c.name)).toEqual([
    'istio-init',
    'istio-proxy',
    PROXY_CONTAINER_NAME,
  ]);
  expect(patched.spec.volumes!.map((v) => v.name)).toEqual([
    'logs',
    's3-mirror-proxy-tmp',
    's3-mirror-state',
  ]);
});

test('existing env is kept; envFrom containers get no placeholder credentials, with a warning', () => {
  const r = run(PODS.existingEnvAndEnvFrom!);
  const patched = applyOps(PODS.existingEnvAndEnvFrom!, r.patch);
  expect(envOf(patched, 'app')).toEqual({ LOG: 'debug', DB_PASSWORD: undefined, AWS_ENDPOINT_URL: URL });
  expect(envOf(patched, 'worker')).toMatchObject({
    QUEUE: 'jobs',
    AWS_ENDPOINT_URL: URL,
    AWS_ACCESS_KEY_ID: PLACEHOLDER_ACCESS_KEY_ID,
  });
  expect(r.warnings.some((w) => w.includes('"app"') && w.includes('envFrom'))).toBe(true);
});

test('a container that sets the endpoint keeps it unless the pod asks to overwrite', () => {
  const r = run(PODS.setsEndpointAlready!);
  const kept = applyOps(PODS.setsEndpointAlready!, r.patch);
  expect(envOf(kept, 'app')).toEqual({
    AWS_ENDPOINT_URL: 'http://minio:9000',
    AWS_ACCESS_KEY_ID: 'AKIAEXAMPLE',
  });
  expect(r.warnings.some((w) => w.includes('already sets AWS_ENDPOINT_URL'))).toBe(true);

  const pod: Pod = {
    ...PODS.setsEndpointAlready!,
    metadata: { annotations: { [ANNOTATIONS.inject]: 'true', [ANNOTATIONS.overwriteEndpoint]: 'true' } },
  };
  const over = inject(pod);
  expect(envOf(over, 'app')).toEqual({ AWS_ENDPOINT_URL: URL, AWS_ACCESS_KEY_ID: 'AKIAEXAMPLE' });
  expect(over.spec.containers[0]!.env!.filter((e) => e.name === 'AWS_ENDPOINT_URL')).toHaveLength(1);
});

test('AWS_ENDPOINT_URL_S3 mode by annotation; a competing S3 endpoint is reported', () => {
  const pod: Pod = {
    metadata: {
      annotations: { [ANNOTATIONS.inject]: 'true', [ANNOTATIONS.endpointEnv]: 'AWS_ENDPOINT_URL_S3' },
    },
    spec: {
      containers: [
        { name: 'app', image: 'x', env: [{ name: 'AWS_ENDPOINT_URL', value: 'https://vpce.example' }] },
      ],
    },
  };
  const patched = inject(pod);
  expect(envOf(patched, 'app')).toMatchObject({
    AWS_ENDPOINT_URL: 'https://vpce.example',
    AWS_ENDPOINT_URL_S3: URL,
  });

  const competing: Pod = {
    metadata: { annotations: { [ANNOTATIONS.inject]: 'true' } },
    spec: {
      containers: [
        { name: 'app', image: 'x', env: [{ name: 'AWS_ENDPOINT_URL_S3', value: 'https://other' }] },
      ],
    },
  };
  const r = run(competing);
  expect(r.warnings.some((w) => w.includes('AWS_ENDPOINT_URL_S3'))).toBe(true);
  expect(envOf(applyOps(competing, r.patch), 'app').AWS_ENDPOINT_URL).toBe(URL);
});

test('IRSA and web identity containers get no placeholder credentials', () => {
  const patched = inject(PODS.irsa!);
  const env = envOf(patched, 'app');
  expect(env.AWS_ACCESS_KEY_ID).toBeUndefined();
  expect(env.AWS_ENDPOINT_URL).toBe(URL);
  const off: Pod = {
    ...PODS.deploymentTemplate!,
    metadata: {
      annotations: { [ANNOTATIONS.inject]: 'true', [ANNOTATIONS.placeholderCredentials]: 'false' },
    },
  };
  expect(envOf(inject(off), 'app')).toEqual({ AWS_ENDPOINT_URL: URL });
});

test('re-invoked after the EKS IRSA / Pod Identity webhook added credentials: placeholders are taken out', () => {
  const patched = inject(PODS.deploymentTemplate!);
  expect(envOf(patched, 'app').AWS_ACCESS_KEY_ID).toBe(PLACEHOLDER_ACCESS_KEY_ID);
  for (const added of [
    [
      { name: 'AWS_ROLE_ARN', value: 'arn:aws:iam::123456789012:role/app' },
      {
        name: 'AWS_WEB_IDENTITY_TOKEN_FILE',
        value: '/var/run/secrets/eks.amazonaws.com/serviceaccount/token',
      },
    ],
    [{ name: 'AWS_CONTAINER_CREDENTIALS_FULL_URI', value: 'http://169.254.170.23/v1/credentials' }],
  ]) {
    // What the other webhook's patch does: append to the app container's env.
    const later = structuredClone(patched);
    later.spec.containers[0]!.env!.push(...added);
    const r = run(later);
    expect(r.action).toBe('inject');
    expect(r.warnings).toEqual([
      `container "app" now has its own credentials (${added[0]!.name}); the s3-mirror placeholder credentials were removed`,
    ]);
    const fixed = applyOps(later, r.patch);
    assertValidPod(fixed);
    const env = envOf(fixed, 'app');
    expect(env.AWS_ACCESS_KEY_ID).toBeUndefined();
    expect(env.AWS_SECRET_ACCESS_KEY).toBeUndefined();
    expect(env).toMatchObject({ AWS_ENDPOINT_URL: URL, [added[0]!.name]: added[0]!.value });
    expect(run(fixed).patch).toEqual([]);
  }
});

test('placeholder removal and an endpoint overwrite in one container keep their indices straight', () => {
  const container = {
    name: 'app',
    env: [
      { name: 'AWS_ACCESS_KEY_ID', value: PLACEHOLDER_ACCESS_KEY_ID },
      { name: 'AWS_ENDPOINT_URL', value: 'http://minio:9000' },
      { name: 'KEEP', value: '1' },
      { name: 'AWS_SECRET_ACCESS_KEY', value: PLACEHOLDER_SECRET_ACCESS_KEY },
      { name: 'AWS_ROLE_ARN', value: 'arn:aws:iam::1:role/x' },
    ],
  };
  const plan = planContainerEnv('/spec/containers/0', container, {
    endpointVar: 'AWS_ENDPOINT_URL',
    endpointUrl: URL,
    overwriteEndpoint: true,
    placeholderCredentials: true,
    placeholdersDespiteEnvFrom: false,
    region: 'r',
  });
  const pod = applyOps({ spec: { containers: [container] } }, plan.ops);
  expect(pod.spec.containers[0]!.env).toEqual([
    { name: 'AWS_ENDPOINT_URL', value: URL },
    { name: 'KEEP', value: '1' },
    { name: 'AWS_ROLE_ARN', value: 'arn:aws:iam::1:role/x' },
  ]);
});

test('envFrom containers get placeholders when the pod sets the placeholder annotation to "true" itself', () => {
  const pod: Pod = {
    ...PODS.existingEnvAndEnvFrom!,
    metadata: { annotations: { [ANNOTATIONS.inject]: 'true', [ANNOTATIONS.placeholderCredentials]: 'true' } },
  };
  const r = run(pod);
  expect(r.warnings).toEqual([]);
  const patched = applyOps(pod, r.patch);
  expect(envOf(patched, 'app')).toMatchObject({
    AWS_ACCESS_KEY_ID: PLACEHOLDER_ACCESS_KEY_ID,
    AWS_SECRET_ACCESS_KEY: PLACEHOLDER_SECRET_ACCESS_KEY,
  });
  // Never over credentials of the container's own, annotation or not.
  const irsa: Pod = { ...PODS.irsa!, metadata: pod.metadata };
  expect(envOf(inject(irsa), 'app').AWS_ACCESS_KEY_ID).toBeUndefined();
});

test('skip-containers naming no container is reported', () => {
  const pod: Pod = {
    metadata: { annotations: { [ANNOTATIONS.inject]: 'true', [ANNOTATIONS.skipContainers]: 'app, legacy' } },
    spec: { containers: [{ name: 'app', image: 'x' }] },
  };
  const r = run(pod);
  expect(r.warnings).toEqual([`annotation ${ANNOTATIONS.skipContainers} names no container "legacy"`]);
  expect(envOf(applyOps(pod, r.patch), 'app')).toEqual({});
});

test('skip-containers and null env', () => {
  const patched = inject(PODS.weirdNames!);
  expect(envOf(patched, 'legacy')).toEqual({});
  expect(envOf(patched, 'app').AWS_ENDPOINT_URL).toBe(URL);
  expect(patched.metadata!.annotations!['example.com/a~b/c']).toBe('x');
});

test('missing annotations, env, initContainers and volumes are created, not assumed', () => {
  const r = run(PODS.noAnnotationsLabelOptIn!);
  const paths = r.patch.map((o) => o.path);
  expect(paths).toEqual([
    '/spec/containers/0/env',
    '/spec/initContainers',
    '/spec/volumes',
    '/metadata/annotations',
  ]);
  const patched = applyOps(PODS.noAnnotationsLabelOptIn!, r.patch);
  expect(patched.metadata!.annotations).toEqual({ [ANNOTATIONS.status]: STATUS_INJECTED });
});

test('annotation keys in patch paths are escaped (~1 for /)', () => {
  const r = run(PODS.deploymentTemplate!);
  const statusOp = r.patch.find((o) => o.path.startsWith('/metadata/annotations/'))!;
  expect(statusOp.path).toBe('/metadata/annotations/s3-mirror.io~1status');
});

test('per-pod overrides: image, resources, buckets, log level; invalid values warn and fall back', () => {
  const pod: Pod = {
    metadata: {
      annotations: {
        [ANNOTATIONS.inject]: 'true',
        [ANNOTATIONS.image]: 'registry.local/proxy:dev',
        [ANNOTATIONS.cpuLimit]: '500m',
        [ANNOTATIONS.memoryLimit]: '',
        [ANNOTATIONS.allowedBuckets]: 'photos, backups',
        [ANNOTATIONS.logLevel]: 'debug',
        [ANNOTATIONS.memoryRequest]: 'lots',
      },
    },
    spec: { containers: [{ name: 'app', image: 'x' }] },
  };
  const r = run(pod);
  const p = proxy(applyOps(pod, r.patch));
  expect(p.image).toBe('registry.local/proxy:dev');
  expect(p.resources).toEqual({ requests: { cpu: '50m', memory: '64Mi' }, limits: { cpu: '500m' } });
  const env = Object.fromEntries(p.env!.map((e) => [e.name, e.value]));
  expect(env.ALLOWED_BUCKETS).toBe('photos,backups');
  expect(env.LOG_LEVEL).toBe('debug');
  expect(r.warnings).toEqual([`annotation ${ANNOTATIONS.memoryRequest}="lots" is invalid and was ignored`]);
});

test('per-pod proxy ports: the endpoint URL, LISTEN_ADDR, ADMIN_ADDR and probes follow', () => {
  const pod: Pod = {
    metadata: {
      annotations: {
        [ANNOTATIONS.inject]: 'true',
        [ANNOTATIONS.proxyPort]: '18080',
        [ANNOTATIONS.proxyAdminPort]: '19090',
      },
    },
    spec: {
      containers: [{ name: 'app', image: 'x', ports: [{ containerPort: 8080 }, { containerPort: 9090 }] }],
    },
  };
  const r = run(pod);
  expect(r.warnings).toEqual([]);
  const patched = applyOps(pod, r.patch);
  assertValidPod(patched);
  expect(envOf(patched, 'app').AWS_ENDPOINT_URL).toBe('http://127.0.0.1:18080');
  const p = proxy(patched);
  const env = Object.fromEntries(p.env!.map((e) => [e.name, e.value]));
  expect(env.LISTEN_ADDR).toBe('127.0.0.1:18080');
  expect(env.ADMIN_ADDR).toBe('0.0.0.0:19090');
  expect(p.startupProbe).toMatchObject({ httpGet: { port: 19090 } });
  const same: Pod = {
    ...pod,
    metadata: { annotations: { [ANNOTATIONS.inject]: 'true', [ANNOTATIONS.proxyPort]: '9090' } },
  };
  const rs = run(same);
  expect(rs.warnings[0]).toBe('proxy port and admin port are both 9090; using the configured ports');
  expect(envOf(applyOps(same, rs.patch), 'app').AWS_ENDPOINT_URL).toBe(URL);
});

test('re-invocation uses the port of the proxy already in the pod, even after a config change', () => {
  const patched = inject(PODS.deploymentTemplate!);
  patched.spec.containers.push({ name: 'late', image: 'x' });
  const r = run(patched, 'team-a', 'found', testConfig({ PROXY_PORT: '7070' }));
  expect(envOf(applyOps(patched, r.patch), 'late').AWS_ENDPOINT_URL).toBe(URL);
});

test('warnings: missing or unknown Secret, port conflicts, classic Jobs, hostNetwork', () => {
  expect(run(PODS.deploymentTemplate!, 'team-a', 'missing').warnings).toEqual([
    'Secret "s3-mirror-credentials" not found in namespace "team-a": the s3-mirror proxy cannot start until it exists',
  ]);
  expect(run(PODS.deploymentTemplate!, 'team-a', 'unknown').warnings[0]).toContain('could not check Secret');
  const clash: Pod = {
    metadata: { annotations: { [ANNOTATIONS.inject]: 'true' } },
    spec: { containers: [{ name: 'app', image: 'x', ports: [{ containerPort: 9090 }] }] },
  };
  expect(run(clash).warnings[0]).toContain('port 9090');
  const job = run(PODS.jobPod!, 'batch', 'found', testConfig({ SIDECAR_MODE: 'classic' }));
  expect(job.warnings.some((w) => w.includes('will not complete'))).toBe(true);
  expect(run(PODS.jobPod!, 'batch').warnings).toEqual([]);
  const host: Pod = {
    ...PODS.deploymentTemplate!,
    spec: { ...PODS.deploymentTemplate!.spec, hostNetwork: true },
  };
  expect(run(host)).toMatchObject({ action: 'skip', reason: 'host-network', patch: [] });
});

test('re-invocation after another webhook added a container: only that container is patched', () => {
  const patched = inject(PODS.deploymentTemplate!);
  patched.spec.containers.push({ name: 'late-sidecar', image: 'x' });
  const r = run(patched);
  expect(r.action).toBe('inject');
  expect(r.reason).toBe('updated');
  expect(r.patch.every((o) => o.path.startsWith('/spec/containers/1/env'))).toBe(true);
  const twice = applyOps(patched, r.patch);
  assertValidPod(twice);
  expect(proxyCount(twice)).toBe(1);
  expect(run(twice).patch).toEqual([]);
});
