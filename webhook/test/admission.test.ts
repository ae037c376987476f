import fc from 'fast-check';
import { ANNOTATIONS } from '../src/annotations';
import {
  MAX_WARNING_LENGTH,
  MAX_WARNINGS,
  admit,
  decodeReview,
  type AdmissionRequest,
} from '../src/admission';
import { testConfig } from './fixtures';

const config = testConfig();

test.each([
  [null, 'body is not a JSON object'],
  [[], 'body is not a JSON object'],
  [
    { kind: 'AdmissionReview', apiVersion: 'admission.k8s.io/v1beta1', request: { uid: 'u' } },
    'unsupported apiVersion "admission.k8s.io/v1beta1"; only admission.k8s.io/v1 is served',
  ],
  [{ kind: 'Pod', apiVersion: 'admission.k8s.io/v1' }, 'kind must be AdmissionReview, got "Pod"'],
  [{ kind: 'AdmissionReview', apiVersion: 'admission.k8s.io/v1' }, 'request is missing'],
  [
    { kind: 'AdmissionReview', apiVersion: 'admission.k8s.io/v1', request: { uid: '' } },
    'request.uid is missing',
  ],
  [
    { kind: 'AdmissionReview', apiVersion: 'admission.k8s.io/v1', request: { uid: 7 } },
    'request.uid is missing',
  ],
  [
    { kind: 'AdmissionReview', apiVersion: 'admission.k8s.io/v1', request: { uid: 'u', namespace: 3 } },
    'request.namespace is not a string',
  ],
])('decodeReview rejects %j', (body, message) => {
  expect(decodeReview(body)).toEqual({ ok: false, message });
});

function podRequest(object: unknown, extra: Partial<AdmissionRequest> = {}): AdmissionRequest {
  return {
    uid: 'abc',
    kind: { group: '', version: 'v1', kind: 'Pod' },
    operation: 'CREATE',
    namespace: 'apps',
    object,
    ...extra,
  };
}

const optedIn = {
  metadata: { annotations: { [ANNOTATIONS.inject]: 'true' } },
  spec: { containers: [{ name: 'a', image: 'x' }] },
};

test('response shape: uid echoed, base64 JSONPatch, warnings', () => {
  const out = admit(podRequest(optedIn), config, 'missing');
  const r = out.review.response as Record<string, unknown>;
  expect(out.review.apiVersion).toBe('admission.k8s.io/v1');
  expect(out.review.kind).toBe('AdmissionReview');
  expect(r.uid).toBe('abc');
  expect(r.allowed).toBe(true);
  expect(r.patchType).toBe('JSONPatch');
  expect(Array.isArray(JSON.parse(Buffer.from(r.patch as string, 'base64').toString()))).toBe(true);
  expect((r.warnings as string[])[0]).toContain('not found in namespace "apps"');
});

test('namespace comes from the request, falling back to metadata.namespace', () => {
  expect(admit(podRequest(optedIn, { namespace: 'kube-system' }), config, 'found').result.reason).toBe(
    'excluded-namespace',
  );
  const withMeta = { ...optedIn, metadata: { ...optedIn.metadata, namespace: 'kube-system' } };
  expect(admit(podRequest(withMeta, { namespace: '' }), config, 'found').result.reason).toBe(
    'excluded-namespace',
  );
  expect(admit(podRequest(withMeta, { namespace: 'apps' }), config, 'found').result.reason).toBe('injected');
});

test('non-Pod, subresources, UPDATE and malformed pods are allowed unchanged', () => {
  for (const req of [
    podRequest(optedIn, { kind: { group: 'apps', version: 'v1', kind: 'Deployment' } }),
    podRequest(optedIn, { subResource: 'ephemeralcontainers' }),
    podRequest(optedIn, { operation: 'UPDATE' }),
    podRequest({
      metadata: { annotations: { [ANNOTATIONS.inject]: 1 } },
      spec: { containers: [{ name: 'a' }] },
    }),
    podRequest({ spec: { containers: [{ name: 'a', env: {} }] } }),
    podRequest('not a pod'),
    podRequest({ ...optedIn, spec: { containers: [{ name: 'a', ports: [null] }] } }),
    podRequest({ ...optedIn, spec: { containers: [{ name: 'a' }], volumes: [null] } }),
    podRequest({
      metadata: { ...optedIn.metadata, ownerReferences: [null] },
      spec: { containers: [{ name: 'a' }] },
    }),
  ]) {
    const r = admit(req, config, 'found').review.response as Record<string, unknown>;
    expect(r.allowed).toBe(true);
    expect(r.patch).toBeUndefined();
  }
});

test('warnings are deduplicated and bounded', () => {
  const containers = Array.from({ length: 40 }, (_, i) => ({
    name: `c${i}`,
    image: 'x',
    env: [{ name: 'AWS_ENDPOINT_URL', value: 'http://elsewhere' }],
  }));
  const r = admit(podRequest({ ...optedIn, spec: { containers } }), config, 'found').review.response as {
    warnings: string[];
  };
  expect(r.warnings).toHaveLength(MAX_WARNINGS);
  expect(r.warnings[MAX_WARNINGS - 1]).toBe(`${40 - MAX_WARNINGS + 1} more s3-mirror warnings`);
  expect(r.warnings.join('').length).toBeLessThanOrEqual(4096);
});

test('a warning quoting a long annotation value is cut to the length the API server keeps', () => {
  const long = 'x'.repeat(1000);
  const pod = {
    ...optedIn,
    metadata: { annotations: { ...optedIn.metadata.annotations, [ANNOTATIONS.image]: `a b${long}` } },
  };
  const r = admit(podRequest(pod), config, 'found').review.response as { warnings: string[] };
  expect(r.warnings).toHaveLength(1);
  expect(r.warnings[0]).toHaveLength(MAX_WARNING_LENGTH);
  expect(r.warnings[0]).toMatch(/^annotation s3-mirror\.io\/proxy-image="a bxxx.*\.\.\.$/);
});

test('fuzz: arbitrary JSON never throws from decode/admit and always yields allowed: true', () => {
  fc.assert(
    fc.property(fc.jsonValue(), fc.jsonValue(), (body, object) => {
      const d = decodeReview(body);
      if (d.ok)
        expect((admit(d.request, config, 'found').review.response as { allowed: boolean }).allowed).toBe(
          true,
        );
      const r = admit(podRequest(object), config, 'found').review.response as { allowed: boolean };
      expect(r.allowed).toBe(true);
    }),
    { numRuns: 500 },
  );
});

test('fuzz: opted-in pods with arbitrary JSON in every field the builder reads never throw', () => {
  const anyJson = fc.oneof(fc.constant(undefined), fc.jsonValue());
  const c = fc.record({
    name: fc.oneof(fc.string(), fc.jsonValue()),
    env: anyJson,
    envFrom: anyJson,
    ports: anyJson,
    restartPolicy: anyJson,
  });
  const obj = fc.record({
    metadata: fc.oneof(
      fc.constant({ annotations: { [ANNOTATIONS.inject]: 'true' } }),
      fc.record({ annotations: anyJson, labels: anyJson, ownerReferences: anyJson }),
    ),
    spec: fc.record({
      containers: fc.oneof(fc.array(c, { maxLength: 3 }), fc.jsonValue()),
      initContainers: fc.oneof(fc.array(c, { maxLength: 2 }), anyJson),
      volumes: anyJson,
      hostNetwork: anyJson,
      restartPolicy: anyJson,
    }),
  });
  fc.assert(
    fc.property(obj, (o) => {
      const r = admit(podRequest(o), config, 'found').review.response as { allowed: boolean };
      expect(r.allowed).toBe(true);
    }),
    { numRuns: 1000 },
  );
});
