/** Fuzzes the builder with odd but legal pods: every patch applies, validates, and a second pass is a no-op. */
import fc from 'fast-check';
import {
  ANNOTATIONS,
  PLACEHOLDER_ACCESS_KEY_ID,
  PLACEHOLDER_SECRET_ACCESS_KEY,
  PROXY_CONTAINER_NAME,
} from '../src/annotations';
import { buildPatch } from '../src/patch-builder';
import type { Container, Pod } from '../src/pod';
import { applyOps, assertValidPod, proxyCount, testConfig } from './fixtures';

const dnsLabel = fc.stringMatching(/^[a-z]([a-z0-9-]{0,10}[a-z0-9])?$/);
const envName = fc.oneof(
  fc.constantFrom(
    'AWS_ENDPOINT_URL',
    'AWS_ENDPOINT_URL_S3',
    'AWS_ACCESS_KEY_ID',
    'AWS_SECRET_ACCESS_KEY',
    'AWS_REGION',
    'AWS_ROLE_ARN',
    'AWS_PROFILE',
    'HOME',
    'AWS_IGNORE_CONFIGURED_ENDPOINT_URLS',
  ),
  fc.stringMatching(/^[A-Z_][A-Z0-9_]{0,8}$/),
);
const envVar = fc.oneof(
  fc.record({
    name: envName,
    value: fc.oneof(
      fc.constantFrom('http://127.0.0.1:8080', PLACEHOLDER_ACCESS_KEY_ID, PLACEHOLDER_SECRET_ACCESS_KEY),
      fc.string({ maxLength: 8 }),
    ),
  }),
  fc.record({ name: envName, valueFrom: fc.constant({ fieldRef: { fieldPath: 'metadata.name' } }) }),
);
const container = (init: boolean) =>
  fc.record(
    {
      name: dnsLabel,
      image: fc.constant('busybox'),
      env: fc.oneof(fc.constant(undefined), fc.constant(null), fc.array(envVar, { maxLength: 5 })),
      envFrom: fc.oneof(fc.constant(undefined), fc.constant([{ secretRef: { name: 'aws' } }])),
      ports: fc.oneof(
        fc.constant(undefined),
        fc.array(fc.record({ containerPort: fc.constantFrom(80, 8080, 9090, 3000) }), { maxLength: 2 }),
      ),
      restartPolicy: init ? fc.constantFrom(undefined, 'Always') : fc.constant(undefined),
    },
    { requiredKeys: ['name', 'image'] },
  );
const annotationValue = fc.oneof(
  fc.constantFrom('true', 'false', '', 'classic', 'native', 'AWS_ENDPOINT_URL_S3', '100m', 'a,b', 'bogus'),
  fc.string({ maxLength: 6 }),
);
const annotations = fc.dictionary(
  fc.oneof(
    fc.constantFrom(...Object.values(ANNOTATIONS)),
    fc.stringMatching(/^[a-z]{1,5}(\.[a-z]{1,3})?\/[a-z~]{1,5}$/),
  ),
  annotationValue,
  { maxKeys: 6 },
);

function unique(list: Container[], taken: Set<string>): Container[] {
  return list.filter((c) => c.name !== PROXY_CONTAINER_NAME && !taken.has(c.name) && taken.add(c.name));
}

const pod = fc
  .record({
    annotations: fc.oneof(fc.constant(undefined), annotations),
    labelOptIn: fc.boolean(),
    init: fc.oneof(fc.constant(undefined), fc.array(container(true), { maxLength: 3 })),
    containers: fc.array(container(false), { minLength: 1, maxLength: 4 }),
    volumes: fc.oneof(
      fc.constant(undefined),
      fc.constant([{ name: 'data', emptyDir: {} }]),
      // The pod's own volumes with the proxy's names: never taken over.
      fc.constant([
        { name: 's3-mirror-state', persistentVolumeClaim: { claimName: 'pvc' } },
        { name: 's3-mirror-proxy-tmp', emptyDir: { sizeLimit: '64Mi' } },
      ]),
    ),
  })
  .map(({ annotations: a, labelOptIn, init, containers, volumes }): Pod => {
    const taken = new Set<string>();
    const cs = unique(containers as Container[], taken);
    const ics = init === undefined ? undefined : unique(init as Container[], taken);
    // Port names must be unique too; these have none. Keep at least one app container.
    const spec: Pod['spec'] = {
      containers: cs.length > 0 ? cs : [{ name: 'app-fallback', image: 'busybox' }],
    };
    if (ics !== undefined) spec.initContainers = ics;
    if (volumes !== undefined) spec.volumes = volumes.map((v) => ({ ...v }));
    const metadata: Pod['metadata'] = { generateName: 'fuzz-' };
    if (a !== undefined)
      metadata.annotations = { ...a, [ANNOTATIONS.inject]: a[ANNOTATIONS.inject] ?? 'true' };
    if (labelOptIn) metadata.labels = { [ANNOTATIONS.inject]: 'true' };
    return { apiVersion: 'v1', kind: 'Pod', metadata, spec };
  });

for (const mode of ['native', 'classic']) {
  test(`fuzz (${mode}): patches apply, validate against the Pod schema, and are idempotent`, () => {
    const config = testConfig({ SIDECAR_MODE: mode });
    let injected = 0;
    fc.assert(
      fc.property(pod, fc.constantFrom('found', 'missing', 'unknown' as const), (p, secret) => {
        const first = buildPatch({ pod: p, namespace: 'fuzz', config, credentialsSecret: secret });
        const patched = applyOps(p, first.patch);
        if (first.action === 'skip') {
          expect(first.patch).toEqual([]);
          return;
        }
        injected++;
        assertValidPod(patched);
        expect(proxyCount(patched)).toBe(1);
        // The pod's own volumes are untouched, and the proxy mounts only emptyDirs.
        const own = p.spec.volumes ?? [];
        expect(patched.spec.volumes!.slice(0, own.length)).toEqual(own);
        const proxy = [...(patched.spec.initContainers ?? []), ...patched.spec.containers].find(
          (c) => c.name === PROXY_CONTAINER_NAME,
        )!;
        for (const m of proxy.volumeMounts as { name: string }[])
          expect(patched.spec.volumes!.find((v) => v.name === m.name)!.emptyDir).toBeDefined();
        const second = buildPatch({ pod: patched, namespace: 'fuzz', config, credentialsSecret: secret });
        expect(second.patch).toEqual([]);

        // Another webhook then gives every container a role (IRSA): re-invoked, we take our placeholders
        // out, and the pass after that is a no-op again.
        const withRole = structuredClone(patched);
        for (const c of [...(withRole.spec.initContainers ?? []), ...withRole.spec.containers])
          if (c.name !== PROXY_CONTAINER_NAME)
            c.env = [...(c.env ?? []), { name: 'AWS_ROLE_ARN', value: 'arn' }];
        const third = buildPatch({ pod: withRole, namespace: 'fuzz', config, credentialsSecret: secret });
        const fixed = applyOps(withRole, third.patch);
        assertValidPod(fixed);
        const hasPlaceholder = (c: Container) =>
          (c.env ?? []).some((e) => e.name === 'AWS_ACCESS_KEY_ID' && e.value === PLACEHOLDER_ACCESS_KEY_ID);
        const hadOne = new Set(
          [...(p.spec.initContainers ?? []), ...p.spec.containers].filter(hasPlaceholder).map((c) => c.name),
        );
        // Those the webhook gave placeholders are clean again (skipped containers keep what they brought).
        for (const c of [...(fixed.spec.initContainers ?? []), ...fixed.spec.containers])
          if (!hadOne.has(c.name)) expect([c.name, hasPlaceholder(c)]).toEqual([c.name, false]);
        expect(
          buildPatch({ pod: fixed, namespace: 'fuzz', config, credentialsSecret: secret }).patch,
        ).toEqual([]);
      }),
      { numRuns: 400 },
    );
    expect(injected).toBeGreaterThan(100); // the generator must mostly produce opted-in pods
  });
}
