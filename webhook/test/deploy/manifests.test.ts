/**
 * The cluster install under deploy/: every kustomization renders and every object is schema-valid, and the
 * manifests agree with the webhook's code (names, ports, path, annotation keys, config keys, Secret keys,
 * RBAC), so neither can drift without a failing test.
 */
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import {
  ANNOTATIONS,
  EXCLUDED_NAMESPACES,
  LABELS,
  NAMESPACE_INJECTION_DISABLED,
  PREFIX,
} from '../../src/annotations';
import { CONFIG_KEYS, MUTATE_PATH, parseConfig, type Config } from '../../src/config';
import { rbacRules, type RbacRule } from '../../src/rbac';
import { SECRET_ENV_KEYS } from '../../src/sidecar-container';
import { readDockerfile } from './dockerfile';
import {
  kustomizationDirs,
  ofKind,
  one,
  parseYaml,
  render,
  ROOT,
  selectorMatches,
  validateObject,
  type K8sObject,
} from './render';

const INSTALLS = {
  'deploy/base': 'files',
  'deploy/overlays/cert-manager': 'files',
  'deploy/overlays/self-managed': 'self-managed',
  'deploy/examples/local/cert-manager': 'files',
  'deploy/examples/local/self-managed': 'self-managed',
} as const;
type InstallDir = keyof typeof INSTALLS;
const installDirs = Object.keys(INSTALLS) as InstallDir[];

const readRepo = (rel: string) => readFileSync(join(ROOT, rel), 'utf8');

describe('every kustomization under deploy/', () => {
  const dirs = kustomizationDirs();

  test('the expected kustomizations exist', () => {
    expect(dirs).toEqual(
      expect.arrayContaining([...installDirs, 'deploy/monitoring', 'deploy/examples/demo']),
    );
    expect(kustomizationDirs(undefined, 'Component')).toEqual(['deploy/examples/local/config']);
  });

  test.each(dirs)('%s renders, and every object is valid', (dir) => {
    const objects = render(dir);
    expect(objects.length).toBeGreaterThan(0);
    for (const o of objects) {
      try {
        validateObject(o);
      } catch (err) {
        throw new Error(`${dir}: ${o.kind} ${o.metadata?.name}: ${(err as Error).message}`, { cause: err });
      }
    }
    const ids = objects.map(
      (o) => `${o.apiVersion}/${o.kind}/${o.metadata.namespace ?? ''}/${o.metadata.name}`,
    );
    expect(new Set(ids).size).toBe(ids.length);
  });

  test.each(dirs)('%s uses only annotation and label keys the webhook knows', (dir) => {
    const known = new Set<string>([...Object.values(ANNOTATIONS), ...Object.values(LABELS)]);
    const keys = new Set<string>();
    const walk = (v: unknown) => {
      if (Array.isArray(v)) v.forEach(walk);
      else if (typeof v === 'object' && v !== null) {
        for (const [k, child] of Object.entries(v)) {
          if (k.startsWith(PREFIX)) keys.add(k);
          if (k === 'key' && typeof child === 'string' && child.startsWith(PREFIX)) keys.add(child);
          walk(child);
        }
      }
    };
    render(dir).forEach(walk);
    for (const k of keys) expect(known).toContain(k);
  });
});

describe('the validation can fail', () => {
  test('a schema error and an unknown kind are reported', () => {
    const dep = structuredClone(one(render('deploy/base'), 'Deployment'));
    dep.spec.replicas = 'two';
    expect(() => validateObject(dep)).toThrow(/replicas/);
    expect(() => validateObject({ apiVersion: 'v1', kind: 'Nope', metadata: { name: 'x' } })).toThrow(
      /unknown kind/,
    );
    expect(() =>
      validateObject({
        apiVersion: 'cert-manager.io/v1',
        kind: 'Certificate',
        metadata: { name: 'x' },
        spec: {},
      }),
    ).toThrow(/secretName/);
  });
});

/** The webhook configuration as the pods see it: the ConfigMap through envFrom, plus the downward API. */
function webhookConfig(objects: K8sObject[]): { data: Record<string, string>; config: Config } {
  const dep = one(objects, 'Deployment', 's3-mirror-webhook');
  const c = dep.spec.template.spec.containers[0];
  const refs = (c.envFrom ?? []).map((e: { configMapRef?: { name: string } }) => e.configMapRef?.name);
  expect(refs).toHaveLength(1);
  const data = one(objects, 'ConfigMap', refs[0]).data as Record<string, string>;
  const parsed = parseConfig({ ...data, POD_NAMESPACE: dep.metadata.namespace, POD_NAME: 'pod-0' });
  if (!parsed.ok) throw new Error(parsed.errors.join('; '));
  return { data, config: parsed.config };
}

function containerPort(container: K8sObject, ref: string | number): number {
  if (typeof ref === 'number') return ref;
  const p = (container.ports ?? []).find((x: { name?: string }) => x.name === ref);
  if (!p) throw new Error(`no container port named ${ref}`);
  return p.containerPort;
}

/** RBAC granted to a ServiceAccount, flattened to (group, resource, verb, name|*, scope). */
function grantedTo(objects: K8sObject[], sa: { name: string; namespace: string }): Set<string> {
  const out = new Set<string>();
  const boundBy = (b: K8sObject) =>
    (b.subjects ?? []).some(
      (s: { kind: string; name: string; namespace?: string }) =>
        s.kind === 'ServiceAccount' && s.name === sa.name && s.namespace === sa.namespace,
    );
  for (const b of objects.filter((o) => o.kind === 'ClusterRoleBinding' || o.kind === 'RoleBinding')) {
    if (!boundBy(b)) continue;
    const role =
      b.roleRef.kind === 'ClusterRole'
        ? one(objects, 'ClusterRole', b.roleRef.name)
        : objects.find(
            (o) =>
              o.kind === 'Role' &&
              o.metadata.name === b.roleRef.name &&
              o.metadata.namespace === b.metadata.namespace,
          );
    if (!role) throw new Error(`binding ${b.metadata.name} refers to a missing ${b.roleRef.kind}`);
    // A ClusterRole through a RoleBinding is namespace-scoped too.
    const scope = b.kind === 'ClusterRoleBinding' ? 'cluster' : `namespace:${b.metadata.namespace}`;
    for (const r of role.rules ?? []) {
      for (const g of r.apiGroups ?? [])
        for (const res of r.resources ?? [])
          for (const v of r.verbs ?? [])
            for (const n of r.resourceNames ?? ['*']) out.add(`${g}|${res}|${v}|${n}|${scope}`);
    }
  }
  return out;
}

function expectedRbac(rules: RbacRule[], ownNamespace: string): Set<string> {
  const out = new Set<string>();
  for (const r of rules)
    for (const v of r.verbs)
      for (const n of r.resourceNames ?? ['*'])
        out.add(
          `${r.apiGroup}|${r.resource}|${v}|${n}|${r.scope === 'cluster' ? 'cluster' : `namespace:${ownNamespace}`}`,
        );
  return out;
}

describe.each(installDirs)('%s', (dir) => {
  const mode = INSTALLS[dir];
  const objects = () => render(dir);
  const dep = () => one(objects(), 'Deployment', 's3-mirror-webhook');
  const podSpec = () => dep().spec.template.spec;
  const container = () => podSpec().containers.find((c: { name: string }) => c.name === 'webhook');
  const ns = () => dep().metadata.namespace as string;

  test('namespace, and every namespaced object in it', () => {
    const namespace = one(objects(), 'Namespace');
    expect(namespace.metadata.name).toBe(CONFIG_KEYS.POD_NAMESPACE);
    expect(namespace.metadata.labels[LABELS.namespaceInjection]).toBe(NAMESPACE_INJECTION_DISABLED);
    const clusterScoped = ['Namespace', 'ClusterRole', 'ClusterRoleBinding', 'MutatingWebhookConfiguration'];
    for (const o of objects()) {
      if (clusterScoped.includes(o.kind)) expect(o.metadata.namespace).toBeUndefined();
      else expect(o.metadata.namespace).toBe(namespace.metadata.name);
    }
  });

  test(`the ConfigMap parses with the webhook's own parser; TLS_MODE=${mode}; names are the code defaults`, () => {
    const { data, config } = webhookConfig(objects());
    for (const k of Object.keys(data)) expect(Object.keys(CONFIG_KEYS)).toContain(k);
    // Set by the downward API, never by the ConfigMap.
    expect(data).not.toHaveProperty('POD_NAMESPACE');
    expect(data).not.toHaveProperty('POD_NAME');
    expect(config.tls.mode).toBe(mode);
    // RBAC resourceNames and docs use the defaults: changing a name needs changes in several places.
    for (const k of [
      'CREDENTIALS_SECRET_NAME',
      'TLS_SECRET_NAME',
      'WEBHOOK_CONFIGURATION_NAME',
      'WEBHOOK_SERVICE_NAME',
      'LEASE_NAME',
      'PROXY_RUN_AS_USER',
      'PROXY_PORT',
      'PROXY_ADMIN_PORT',
    ] as const) {
      expect([k, data[k] ?? CONFIG_KEYS[k]]).toEqual([k, CONFIG_KEYS[k]]);
    }
    expect(config.webhook.namespace).toBe(ns());
  });

  test('Deployment: 2 replicas, anti-affinity, config via envFrom, downward API', () => {
    const d = dep();
    expect(d.spec.replicas).toBe(2);
    const podLabels = d.spec.template.metadata.labels;
    expect(selectorMatches(d.spec.selector, podLabels)).toBe(true);
    const terms = [
      ...(podSpec().affinity?.podAntiAffinity?.preferredDuringSchedulingIgnoredDuringExecution ?? []).map(
        (t: { podAffinityTerm: unknown }) => t.podAffinityTerm,
      ),
      ...(podSpec().affinity?.podAntiAffinity?.requiredDuringSchedulingIgnoredDuringExecution ?? []),
    ];
    expect(
      terms.some(
        (t) => t.topologyKey === 'kubernetes.io/hostname' && selectorMatches(t.labelSelector, podLabels),
      ),
    ).toBe(true);
    const env = Object.fromEntries(
      (container().env ?? []).map((e: { name: string; valueFrom?: { fieldRef?: { fieldPath: string } } }) => [
        e.name,
        e.valueFrom?.fieldRef?.fieldPath,
      ]),
    );
    expect(env).toMatchObject({ POD_NAMESPACE: 'metadata.namespace', POD_NAME: 'metadata.name' });
    expect(podSpec().serviceAccountName).toBe(one(objects(), 'ServiceAccount').metadata.name);
  });

  test('Deployment: ports, probes on the health endpoints, resources', () => {
    const { config } = webhookConfig(objects());
    const c = container();
    expect(containerPort(c, 'https')).toBe(config.webhook.port);
    expect(containerPort(c, 'metrics')).toBe(config.webhook.metricsPort);
    const probe = (p: { httpGet?: { path: string; port: string | number; scheme?: string } }) => ({
      path: p.httpGet?.path,
      port: containerPort(c, p.httpGet!.port),
      scheme: p.httpGet?.scheme ?? 'HTTP',
    });
    // The plain-HTTP server on METRICS_PORT serves /healthz and /readyz (webhook/src/server.ts).
    expect(probe(c.readinessProbe)).toEqual({
      path: '/readyz',
      port: config.webhook.metricsPort,
      scheme: 'HTTP',
    });
    expect(probe(c.livenessProbe)).toEqual({
      path: '/healthz',
      port: config.webhook.metricsPort,
      scheme: 'HTTP',
    });
    expect(c.resources.requests.cpu).toBeDefined();
    expect(c.resources.requests.memory).toBeDefined();
    expect(c.resources.limits.memory).toBeDefined();
    // Long enough for the shutdown delay (readiness drops, admission still served, then close).
    expect(podSpec().terminationGracePeriodSeconds).toBeGreaterThan(config.webhook.shutdownDelaySeconds + 5);
  });

  test('Deployment: hardened securityContext, UID of the image, read-only root with /tmp', () => {
    const c = container();
    const user = /^(\d+)/.exec(
      readDockerfile(join(ROOT, 'Dockerfile.webhook'))
        .stages.at(-1)!
        .instructions.find((i) => i.keyword === 'USER')!.args,
    )![1];
    expect(c.securityContext).toMatchObject({
      runAsNonRoot: true,
      runAsUser: Number(user),
      readOnlyRootFilesystem: true,
      allowPrivilegeEscalation: false,
      capabilities: { drop: ['ALL'] },
    });
    expect(c.securityContext.privileged ?? false).toBe(false);
    const seccomp = c.securityContext.seccompProfile ?? podSpec().securityContext?.seccompProfile;
    expect(seccomp).toEqual({ type: 'RuntimeDefault' });
    expect(podSpec().hostNetwork ?? false).toBe(false);
    expect(c.volumeMounts.map((m: { mountPath: string }) => m.mountPath)).toContain('/tmp');
  });

  test(`serving certificate (${mode})`, () => {
    const { config } = webhookConfig(objects());
    const mounts: { name: string; mountPath: string }[] = container().volumeMounts ?? [];
    const tlsVolume = (podSpec().volumes ?? []).find(
      (v: { secret?: { secretName: string } }) => v.secret?.secretName === config.tls.secretName,
    );
    if (mode === 'files') {
      expect(tlsVolume).toBeDefined();
      const mount = mounts.find((m) => m.name === tlsVolume.name);
      expect(mount?.mountPath).toBe(dirname(config.tls.certFile));
      expect(dirname(config.tls.keyFile)).toBe(dirname(config.tls.certFile));
    } else {
      expect(tlsVolume).toBeUndefined();
      expect(mounts.map((m) => m.mountPath)).not.toContain(dirname(CONFIG_KEYS.TLS_CERT_FILE));
    }
  });

  test('PodDisruptionBudget keeps a replica', () => {
    const pdb = one(objects(), 'PodDisruptionBudget');
    expect(selectorMatches(pdb.spec.selector, dep().spec.template.metadata.labels)).toBe(true);
    expect(pdb.spec.minAvailable).toBeGreaterThanOrEqual(1);
    expect(pdb.spec.minAvailable).toBeLessThan(dep().spec.replicas);
  });

  test('Service: WEBHOOK_SERVICE_NAME, 443 → the HTTPS container port', () => {
    const { config } = webhookConfig(objects());
    const svc = one(objects(), 'Service', config.tls.serviceName);
    expect(selectorMatches({ matchLabels: svc.spec.selector }, dep().spec.template.metadata.labels)).toBe(
      true,
    );
    const https = svc.spec.ports.find((p: { port: number }) => p.port === 443);
    expect(containerPort(container(), https.targetPort)).toBe(config.webhook.port);
  });

  test('MutatingWebhookConfiguration: name, service, path, policies and selectors', () => {
    const { config } = webhookConfig(objects());
    const mwc = one(objects(), 'MutatingWebhookConfiguration');
    expect(mwc.metadata.name).toBe(config.tls.webhookConfigurationName);
    const svc = one(objects(), 'Service', config.tls.serviceName);
    expect(mwc.webhooks.length).toBeGreaterThan(0);
    for (const w of mwc.webhooks) {
      expect(w.clientConfig.url).toBeUndefined();
      expect(w.clientConfig.service).toEqual({
        name: svc.metadata.name,
        namespace: svc.metadata.namespace,
        path: MUTATE_PATH,
        port: 443,
      });
      expect(w.failurePolicy).toBe('Ignore');
      expect(w.sideEffects).toBe('None');
      expect(w.admissionReviewVersions).toEqual(['v1']);
      expect(w.reinvocationPolicy).toBe('IfNeeded');
      expect(w.timeoutSeconds).toBeLessThanOrEqual(10);
      // The Secret lookup must time out (and be answered) before the API server gives up.
      expect(w.timeoutSeconds * 1000).toBeGreaterThan(config.webhook.secretCheckTimeoutMs);
      expect(w.rules).toEqual([
        {
          operations: ['CREATE'],
          apiGroups: [''],
          apiVersions: ['v1'],
          resources: ['pods'],
          scope: 'Namespaced',
        },
      ]);
      const nsLabels = (name: string, extra: Record<string, string> = {}) => ({
        'kubernetes.io/metadata.name': name,
        ...extra,
      });
      for (const excluded of [...EXCLUDED_NAMESPACES, config.webhook.namespace]) {
        expect([excluded, selectorMatches(w.namespaceSelector, nsLabels(excluded))]).toEqual([
          excluded,
          false,
        ]);
      }
      expect(
        selectorMatches(
          w.namespaceSelector,
          nsLabels('my-app', { [LABELS.namespaceInjection]: NAMESPACE_INJECTION_DISABLED }),
        ),
      ).toBe(false);
      expect(selectorMatches(w.namespaceSelector, nsLabels('my-app'))).toBe(true);
      expect(
        selectorMatches(w.namespaceSelector, nsLabels('my-app', { [LABELS.namespaceInjection]: 'enabled' })),
      ).toBe(true);
      // The webhook's own pods never reach it; ordinary (opted-in) pods do.
      expect(selectorMatches(w.objectSelector, dep().spec.template.metadata.labels)).toBe(false);
      expect(selectorMatches(w.objectSelector, { app: 'demo', [LABELS.inject]: 'true' })).toBe(true);
      expect(selectorMatches(w.objectSelector, {})).toBe(true);
    }
  });

  test(`RBAC is exactly rbacRules() for TLS_MODE=${mode}`, () => {
    const { config } = webhookConfig(objects());
    const sa = one(objects(), 'ServiceAccount');
    const rules = rbacRules({
      credentialsSecret: config.proxy.credentialsSecretName,
      tlsSecret: config.tls.secretName,
      lease: config.tls.leaseName,
      webhookConfiguration: config.tls.webhookConfigurationName,
    }).filter((r) => r.when === 'always' || r.when === mode);
    const granted = grantedTo(objects(), { name: sa.metadata.name, namespace: sa.metadata.namespace });
    expect([...granted].sort()).toEqual([...expectedRbac(rules, ns())].sort());
    for (const g of granted) expect(g.split('|').slice(0, 3)).not.toContain('*');
  });
});

describe('RBAC comparison can fail', () => {
  test('an extra verb, a missing rule or a wrong scope changes the flattened set', () => {
    const objects = structuredClone(render('deploy/overlays/self-managed'));
    const sa = { name: 's3-mirror-webhook', namespace: CONFIG_KEYS.POD_NAMESPACE };
    const expected = [...expectedRbac(rbacRules(), sa.namespace)].sort();
    expect([...grantedTo(objects, sa)].sort()).toEqual(expected);
    one(objects, 'ClusterRole', 's3-mirror-webhook').rules[0].verbs.push('list');
    expect([...grantedTo(objects, sa)].sort()).not.toEqual(expected);
    const role = one(objects, 'Role');
    role.rules.pop();
    one(objects, 'ClusterRole', 's3-mirror-webhook').rules[0].verbs.pop();
    expect([...grantedTo(objects, sa)].sort()).not.toEqual(expected);
  });
});

describe('deploy/overlays/cert-manager', () => {
  const objects = () => render('deploy/overlays/cert-manager');

  test('the serving Certificate goes to TLS_SECRET_NAME, for the Service DNS names, from an Issuer here', () => {
    const { config } = webhookConfig(objects());
    const certs = ofKind(objects(), 'Certificate').filter((c) => c.spec.secretName === config.tls.secretName);
    expect(certs).toHaveLength(1);
    const cert = certs[0];
    const svc = `${config.tls.serviceName}.${config.webhook.namespace}`;
    expect(cert.spec.dnsNames).toEqual(expect.arrayContaining([`${svc}.svc`, `${svc}.svc.cluster.local`]));
    expect(cert.spec.usages ?? ['server auth']).toContain('server auth');
    // Every issuerRef resolves to an Issuer in the same kustomization.
    for (const c of ofKind(objects(), 'Certificate')) {
      expect(ofKind(objects(), 'Issuer').map((i) => i.metadata.name)).toContain(c.spec.issuerRef.name);
    }
    for (const i of ofKind(objects(), 'Issuer').filter((x) => x.spec.ca)) {
      expect(
        ofKind(objects(), 'Certificate').find((c) => c.spec.secretName === i.spec.ca.secretName)?.spec.isCA,
      ).toBe(true);
    }
    const mwc = one(objects(), 'MutatingWebhookConfiguration');
    expect(mwc.metadata.annotations['cert-manager.io/inject-ca-from']).toBe(
      `${cert.metadata.namespace}/${cert.metadata.name}`,
    );
  });
});

describe('credentials Secret example', () => {
  const file = 'deploy/base/credentials-secret.example.yaml';
  const text = readRepo(file);
  const [secret] = parseYaml(text, file);

  test('is valid, named CREDENTIALS_SECRET_NAME, with exactly the keys the proxy reads', () => {
    validateObject(secret);
    expect(secret.metadata.name).toBe(CONFIG_KEYS.CREDENTIALS_SECRET_NAME);
    expect(Object.keys({ ...secret.stringData, ...secret.data }).sort()).toEqual([...SECRET_ENV_KEYS].sort());
  });

  test('is not applied into the webhook namespace by the base', () => {
    expect(readRepo('deploy/base/kustomization.yaml')).not.toMatch(/^\s*-\s*credentials-secret/m);
    for (const dir of installDirs) expect(ofKind(render(dir), 'Secret')).toEqual([]);
  });

  test('documents the admission warning the webhook really returns', () => {
    const builder = readRepo('webhook/src/patch-builder.ts');
    const fragment = 'the s3-mirror proxy cannot start until it exists';
    expect(builder).toContain(fragment);
    expect(text).toContain(`not found in namespace "<ns>": ${fragment}`);
  });
});
