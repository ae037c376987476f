import { generateCa } from '../src/tls/pki';
import { checkExtraCaCerts, parseCaBundle } from '../../proxy/src/extra-ca';
import { ANNOTATIONS, PROXY_CONTAINER_NAME } from '../src/annotations';
import { isCaBundleKey, parseCaBundleRef } from '../src/ca-bundle';
import { parseConfig } from '../src/config';
import { buildPatch } from '../src/patch-builder';
import type { Container, Pod } from '../src/pod';
import { applyOps, assertValidPod, envOf, testConfig } from './fixtures';

const CA = generateCa('storage.internal CA', Date.now() - 60_000, 3600);

function pod(annotations: Record<string, string> = {}, volumes: Pod['spec']['volumes'] = []): Pod {
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name: 'app', annotations: { [ANNOTATIONS.inject]: 'true', ...annotations } },
    spec: { containers: [{ name: 'app', image: 'app:1' }], volumes },
  };
}

function inject(p: Pod, config = testConfig()) {
  const result = buildPatch({ pod: p, namespace: 'shop', config, credentialsSecret: 'found' });
  const out = applyOps(p, result.patch);
  assertValidPod(out);
  const proxy = [...(out.spec.initContainers ?? []), ...out.spec.containers].find(
    (c) => c.name === PROXY_CONTAINER_NAME,
  )!;
  return { out, proxy, warnings: result.warnings };
}

interface Mount {
  name: string;
  mountPath: string;
  readOnly?: boolean;
}
interface ProjectedVolume {
  name: string;
  configMap?: { name: string; items?: { key: string; path: string }[] };
  secret?: { secretName: string; items?: { key: string; path: string }[] };
}

/**
 * What the kubelet would put at `file` inside the proxy container: which object and key back it, or why it
 * is not there. Objects are `configmap/<name>` or `secret/<name>` → key → content.
 */
function fileInContainer(
  out: Pod,
  proxy: Container,
  file: string,
  objects: Record<string, Record<string, string>>,
): { content: string; readOnly: boolean } | { missing: string } {
  const mount = ((proxy.volumeMounts ?? []) as Mount[]).find((m) => file.startsWith(`${m.mountPath}/`));
  if (!mount) return { missing: 'no mount covers the file' };
  const volume = (out.spec.volumes as ProjectedVolume[]).find((v) => v.name === mount.name);
  if (!volume) return { missing: `no volume ${mount.name}` };
  const source = volume.configMap
    ? { ref: `configmap/${volume.configMap.name}`, items: volume.configMap.items }
    : volume.secret
      ? { ref: `secret/${volume.secret.secretName}`, items: volume.secret.items }
      : undefined;
  if (!source) return { missing: 'the volume is not a ConfigMap or Secret' };
  const relative = file.slice(mount.mountPath.length + 1);
  const key = source.items ? source.items.find((i) => i.path === relative)?.key : relative;
  if (key === undefined) return { missing: `no item of the volume is projected to ${relative}` };
  const content = objects[source.ref]?.[key];
  if (content === undefined) return { missing: `${source.ref} has no key ${key}` };
  return { content, readOnly: mount.readOnly === true };
}

/** The proxy's own start-up check, run on the file the injected env names, as mounted. */
function proxyTrusts(out: Pod, proxy: Container, objects: Record<string, Record<string, string>>) {
  const env = envOf(out, PROXY_CONTAINER_NAME);
  const file = env.NODE_EXTRA_CA_CERTS;
  if (file === undefined) return undefined;
  const found = fileInContainer(out, proxy, file, objects);
  if ('missing' in found) return found;
  // Node is taken to read the file as the proxy's parse does (proxy/test/extra-ca.test.ts checks that).
  const parsed = parseCaBundle(found.content, new Date());
  const checked = checkExtraCaCerts(env, {
    readFile: () => found.content,
    loadedByNode: () => (parsed.ok ? parsed.certificates.length : 0),
  });
  return { readOnly: found.readOnly, subjects: checked?.certificates.map((c) => c.subject) };
}

describe('CA bundle references', () => {
  test.each([
    ['configmap/internal-ca', { kind: 'configmap', name: 'internal-ca' }],
    ['ConfigMap/trust.bundle', { kind: 'configmap', name: 'trust.bundle' }],
    [' secret/storage-ca ', { kind: 'secret', name: 'storage-ca' }],
    ['', ''],
  ])('%j', (raw, expected) => {
    expect(parseCaBundleRef(raw)).toEqual(expected);
  });

  test.each([
    ['no kind', 'internal-ca'],
    ['no name', 'configmap/'],
    ['an upper-case name', 'configmap/Upper'],
    ['another kind', 'pvc/ca'],
    ['a path', 'secret/a/b'],
    ['a name over 253 characters', `configmap/${'a'.repeat(254)}`],
  ])('rejects %s', (_, raw) => {
    expect(parseCaBundleRef(raw)).toBeUndefined();
  });

  test('keys as Kubernetes allows them', () => {
    for (const k of ['ca.crt', 'trust-bundle.pem', 'CA_1.pem']) expect(isCaBundleKey(k)).toBe(true);
    for (const k of ['', '.', '..', 'a/b', 'a b']) expect(isCaBundleKey(k)).toBe(false);
  });

  test('the configuration rejects a bad default, naming the key', () => {
    const bad = parseConfig({ MIRROR_S3_ENDPOINT: 'https://m', PROXY_CA_BUNDLE: 'internal-ca' });
    expect(bad).toMatchObject({ ok: false, errors: [expect.stringMatching(/^PROXY_CA_BUNDLE must be/)] });
    const badKey = parseConfig({ MIRROR_S3_ENDPOINT: 'https://m', PROXY_CA_BUNDLE_KEY: 'a/b' });
    expect(badKey).toMatchObject({
      ok: false,
      errors: [expect.stringMatching(/^PROXY_CA_BUNDLE_KEY must be/)],
    });
  });
});

describe('injecting a CA bundle', () => {
  const trustBundle = { 'configmap/internal-ca': { 'ca.crt': CA.certPem } };

  test('none configured: no CA volume, mount or NODE_EXTRA_CA_CERTS', () => {
    const { out, proxy } = inject(pod());
    expect(envOf(out, PROXY_CONTAINER_NAME).NODE_EXTRA_CA_CERTS).toBeUndefined();
    expect((out.spec.volumes ?? []).map((v) => v.name)).toEqual(['s3-mirror-proxy-tmp', 's3-mirror-state']);
    expect(proxy.volumeMounts).toHaveLength(2);
  });

  test("the cluster default: the ConfigMap's key, mounted read-only where NODE_EXTRA_CA_CERTS points", () => {
    const { out, proxy } = inject(pod(), testConfig({ PROXY_CA_BUNDLE: 'configmap/internal-ca' }));
    expect(proxyTrusts(out, proxy, trustBundle)).toEqual({
      readOnly: true,
      subjects: ['CN=storage.internal CA'],
    });
    expect(out.spec.volumes).toContainEqual({
      name: 's3-mirror-ca',
      configMap: { name: 'internal-ca', items: [{ key: 'ca.crt', path: 'ca.crt' }], defaultMode: 420 },
    });
    expect(proxy.volumeMounts).toContainEqual({
      name: 's3-mirror-ca',
      mountPath: '/etc/s3-mirror/ca',
      readOnly: true,
    });
    expect(proxy.env).toContainEqual({ name: 'NODE_EXTRA_CA_CERTS', value: '/etc/s3-mirror/ca/ca.crt' });
    // Only the proxy gets it: app containers talk to the proxy over plain HTTP on loopback.
    expect(envOf(out, 'app').NODE_EXTRA_CA_CERTS).toBeUndefined();
    expect(out.spec.containers.find((c) => c.name === 'app')?.volumeMounts).toBeUndefined();
  });

  test('a pod names a Secret and a key of its own (as cert-manager writes them)', () => {
    const { out, proxy, warnings } = inject(
      pod({ [ANNOTATIONS.caBundle]: 'secret/storage-tls', [ANNOTATIONS.caBundleKey]: 'ca.pem' }),
      testConfig({ PROXY_CA_BUNDLE: 'configmap/internal-ca' }),
    );
    expect(warnings).toEqual([]);
    expect(proxyTrusts(out, proxy, { 'secret/storage-tls': { 'ca.pem': CA.certPem } })).toMatchObject({
      subjects: ['CN=storage.internal CA'],
    });
    expect(out.spec.volumes).toContainEqual({
      name: 's3-mirror-ca',
      secret: { secretName: 'storage-tls', items: [{ key: 'ca.pem', path: 'ca.crt' }], defaultMode: 420 },
    });
    // The cluster default is not mounted as well.
    expect((out.spec.volumes ?? []).filter((v) => 'configMap' in v)).toEqual([]);
  });

  test('an empty annotation turns the cluster default off for the pod', () => {
    const { out } = inject(pod({ [ANNOTATIONS.caBundle]: '' }), testConfig({ PROXY_CA_BUNDLE: 'secret/x' }));
    expect(envOf(out, PROXY_CONTAINER_NAME).NODE_EXTRA_CA_CERTS).toBeUndefined();
  });

  test('an invalid annotation is ignored with a warning: the cluster default stays', () => {
    const { out, proxy, warnings } = inject(
      pod({ [ANNOTATIONS.caBundle]: 'internal-ca', [ANNOTATIONS.caBundleKey]: 'a/b' }),
      testConfig({ PROXY_CA_BUNDLE: 'configmap/internal-ca' }),
    );
    expect(warnings).toEqual([
      `annotation ${ANNOTATIONS.caBundle}="internal-ca" is invalid and was ignored (use configmap/<name> or secret/<name>)`,
      `annotation ${ANNOTATIONS.caBundleKey}="a/b" is invalid and was ignored`,
    ]);
    expect(proxyTrusts(out, proxy, trustBundle)).toMatchObject({ subjects: ['CN=storage.internal CA'] });
  });

  test('a key with no bundle says it has no effect', () => {
    const { warnings } = inject(pod({ [ANNOTATIONS.caBundleKey]: 'ca.pem' }));
    expect(warnings).toEqual([`annotation ${ANNOTATIONS.caBundleKey} has no effect without a CA bundle`]);
  });

  test("a pod's own volume of the same name is left alone: the proxy's gets another name", () => {
    const own = { name: 's3-mirror-ca', emptyDir: {} };
    const { out, proxy, warnings } = inject(
      pod({}, [own]),
      testConfig({ PROXY_CA_BUNDLE: 'configmap/internal-ca' }),
    );
    expect(out.spec.volumes).toContainEqual(own);
    expect(out.spec.volumes).toContainEqual(expect.objectContaining({ name: 's3-mirror-ca-1' }));
    expect(warnings).toEqual([
      'the pod already has a different volume "s3-mirror-ca"; the s3-mirror proxy uses "s3-mirror-ca-1" instead',
    ]);
    expect(proxyTrusts(out, proxy, trustBundle)).toMatchObject({ subjects: ['CN=storage.internal CA'] });
  });

  test('injection is idempotent with a CA bundle', () => {
    const config = testConfig({ PROXY_CA_BUNDLE: 'configmap/internal-ca' });
    const { out } = inject(pod(), config);
    expect(buildPatch({ pod: out, namespace: 'shop', config, credentialsSecret: 'found' }).patch).toEqual([]);
  });

  test('a spec copied from an injected pod, as the API server stored it, has its CA volume reused', () => {
    const config = testConfig({ PROXY_CA_BUNDLE: 'configmap/internal-ca' });
    const { out } = inject(pod(), config);
    // The API server fills in defaultMode on ConfigMap and Secret volumes.
    const stored = (out.spec.volumes ?? []).map((v) =>
      'configMap' in v ? { ...v, configMap: { defaultMode: 420, ...(v.configMap as object) } } : v,
    );
    const copy = pod({}, stored);
    const again = inject(copy, config);
    expect(again.warnings).toEqual([]);
    expect(again.out.spec.volumes).toEqual(stored);
    expect(proxyTrusts(again.out, again.proxy, trustBundle)).toMatchObject({
      subjects: ['CN=storage.internal CA'],
    });
  });
});
