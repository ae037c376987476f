/** The pure core of the uninjected-pod check: which listed pods opted in and run without the proxy. */
import { ANNOTATIONS, LABELS, NAMESPACE_INJECTION_DISABLED, PROXY_CONTAINER_NAME } from '../src/annotations';
import { buildPatch } from '../src/patch-builder';
import {
  countByNamespace,
  findUninjected,
  LIVE_PODS_FIELD_SELECTOR,
  namespaceOptedOut,
  SIDECAR_MISSING_REASON,
  sidecarMissingEvent,
  sidecarMissingEventName,
  UNINJECTED_GRACE_SECONDS,
} from '../src/uninjected';
import { applyOps, testConfig } from './fixtures';

const config = testConfig();
const NOW = Date.parse('2026-12-02T12:00:00Z');
const iso = (ms: number) => new Date(ms).toISOString();

/** A pod as the API lists it: namespace, uid, creationTimestamp and phase set. */
function listed(
  name: string,
  opts: {
    namespace?: string;
    annotations?: Record<string, string>;
    labels?: Record<string, string>;
    ageSeconds?: number;
    phase?: string;
    hostNetwork?: boolean;
    deleting?: boolean;
  } = {},
) {
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: {
      name,
      namespace: opts.namespace ?? 'team-a',
      uid: `uid-${name}`,
      creationTimestamp: iso(NOW - (opts.ageSeconds ?? 600) * 1000),
      ...(opts.deleting ? { deletionTimestamp: iso(NOW) } : {}),
      annotations: opts.annotations ?? { [ANNOTATIONS.inject]: 'true' },
      labels: opts.labels ?? { app: name },
    },
    spec: {
      containers: [{ name: 'app', image: 'ghcr.io/acme/app:1' }],
      ...(opts.hostNetwork ? { hostNetwork: true } : {}),
    },
    status: { phase: opts.phase ?? 'Running' },
  };
}

/** The same pod after the real webhook patch (the proxy as a native sidecar, or as a classic container). */
function injected(pod: ReturnType<typeof listed>, mode: 'native' | 'classic') {
  const r = buildPatch({
    pod,
    namespace: pod.metadata.namespace,
    config: testConfig({ SIDECAR_MODE: mode }),
    credentialsSecret: 'found',
  });
  expect(r.action).toBe('inject');
  return applyOps(pod, r.patch);
}

test('an opted-in pod without the proxy is found (annotation or label opt-in)', () => {
  const byLabel = listed('by-label', { annotations: {}, labels: { [LABELS.inject]: 'true' } });
  expect(findUninjected([listed('api-1'), byLabel], NOW, config)).toEqual([
    { namespace: 'team-a', name: 'api-1', uid: 'uid-api-1' },
    { namespace: 'team-a', name: 'by-label', uid: 'uid-by-label' },
  ]);
});

test.each(['native', 'classic'] as const)('a pod the webhook injected (%s mode) is not', (mode) => {
  const pod = injected(listed('api-2'), mode);
  const where = mode === 'native' ? pod.spec.initContainers : pod.spec.containers;
  expect(where?.map((c) => c.name)).toContain(PROXY_CONTAINER_NAME);
  expect(findUninjected([pod], NOW, config)).toEqual([]);
});

test('pods that did not opt in, opted out, or that the webhook never injects are not', () => {
  const pods = [
    listed('plain', { annotations: {} }),
    listed('opted-out', {
      annotations: { [ANNOTATIONS.inject]: 'false' },
      labels: { [LABELS.inject]: 'true' },
    }),
    listed('system', { namespace: 'kube-system' }),
    listed('own-namespace', { namespace: config.webhook.namespace }),
    listed('host-network', { hostNetwork: true }),
  ];
  expect(findUninjected(pods, NOW, config)).toEqual([]);
});

test('a pod younger than the grace is left for the next check; one just past it is found', () => {
  const young = listed('young', { ageSeconds: UNINJECTED_GRACE_SECONDS - 1 });
  const old = listed('old', { ageSeconds: UNINJECTED_GRACE_SECONDS });
  expect(findUninjected([young, old], NOW, config).map((p) => p.name)).toEqual(['old']);
  expect(findUninjected([young], NOW, config, 0).map((p) => p.name)).toEqual(['young']);
});

test('finished pods and pods being deleted are not; Pending ones are', () => {
  const pods = [
    listed('done', { phase: 'Succeeded' }),
    listed('failed', { phase: 'Failed' }),
    listed('deleting', { deleting: true }),
    listed('pending', { phase: 'Pending' }),
  ];
  expect(findUninjected(pods, NOW, config).map((p) => p.name)).toEqual(['pending']);
  expect(LIVE_PODS_FIELD_SELECTOR).toBe('status.phase!=Succeeded,status.phase!=Failed');
});

test('objects that are not usable pods are skipped, not thrown on', () => {
  const noUid = listed('no-uid');
  delete (noUid.metadata as { uid?: string }).uid;
  expect(
    findUninjected([null, 'x', { metadata: {} }, { spec: { containers: [] } }, noUid], NOW, config),
  ).toEqual([]);
});

test('namespace opt-out label, counts per namespace', () => {
  expect(namespaceOptedOut({ [LABELS.namespaceInjection]: NAMESPACE_INJECTION_DISABLED })).toBe(true);
  expect(namespaceOptedOut({ [LABELS.namespaceInjection]: 'enabled' })).toBe(false);
  expect(namespaceOptedOut(undefined)).toBe(false);
  const found = findUninjected([listed('a'), listed('b'), listed('c', { namespace: 'team-b' })], NOW, config);
  expect([...countByNamespace(found)]).toEqual([
    ['team-a', 2],
    ['team-b', 1],
  ]);
});

test('the Event: a Warning on the pod, named by its uid', () => {
  const e = sidecarMissingEvent({ namespace: 'team-a', name: 'api-1', uid: '0b1c-22' }, NOW);
  expect(e).toMatchObject({
    metadata: { name: sidecarMissingEventName('0b1c-22'), namespace: 'team-a' },
    involvedObject: { apiVersion: 'v1', kind: 'Pod', namespace: 'team-a', name: 'api-1', uid: '0b1c-22' },
    reason: SIDECAR_MISSING_REASON,
    type: 'Warning',
    firstTimestamp: '2026-12-02T12:00:00Z',
    lastTimestamp: '2026-12-02T12:00:00Z',
    count: 1,
  });
  expect(e.metadata.name).toMatch(/^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$/);
  expect(e.message).toContain(PROXY_CONTAINER_NAME);
});
