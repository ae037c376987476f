import { allows, rbacRules } from '../src/rbac';

const NS = 's3-mirror-system';
const rules = rbacRules();

test.each([
  [
    { apiGroup: '', resource: 'secrets', verb: 'get', namespace: 'team-a', name: 's3-mirror-credentials' },
    true,
  ],
  [{ apiGroup: '', resource: 'secrets', verb: 'get', namespace: 'team-a', name: 'db-password' }, false],
  [{ apiGroup: '', resource: 'secrets', verb: 'list', namespace: 'team-a' }, false],
  [{ apiGroup: '', resource: 'secrets', verb: 'update', namespace: NS, name: 's3-mirror-webhook-tls' }, true],
  [
    { apiGroup: '', resource: 'secrets', verb: 'update', namespace: 'team-a', name: 's3-mirror-webhook-tls' },
    false,
  ],
  [{ apiGroup: '', resource: 'secrets', verb: 'create', namespace: NS }, true],
  [{ apiGroup: '', resource: 'secrets', verb: 'create', namespace: 'team-a' }, false],
  [
    {
      apiGroup: 'coordination.k8s.io',
      resource: 'leases',
      verb: 'update',
      namespace: NS,
      name: 's3-mirror-webhook-cert',
    },
    true,
  ],
  [
    {
      apiGroup: 'coordination.k8s.io',
      resource: 'leases',
      verb: 'delete',
      namespace: NS,
      name: 's3-mirror-webhook-cert',
    },
    false,
  ],
  [
    {
      apiGroup: 'admissionregistration.k8s.io',
      resource: 'mutatingwebhookconfigurations',
      verb: 'patch',
      name: 's3-mirror-webhook',
    },
    true,
  ],
  [
    {
      apiGroup: 'admissionregistration.k8s.io',
      resource: 'mutatingwebhookconfigurations',
      verb: 'patch',
      name: 'istio-sidecar-injector',
    },
    false,
  ],
  [
    {
      apiGroup: 'admissionregistration.k8s.io',
      resource: 'mutatingwebhookconfigurations',
      verb: 'update',
      name: 's3-mirror-webhook',
    },
    false,
  ],
])('%j allowed: %s', (access, expected) => {
  expect(allows(rules, access, NS)).toBe(expected);
});

test('files mode needs only the credentials Secret get', () => {
  expect(rules.filter((r) => r.when === 'always')).toEqual([
    {
      apiGroup: '',
      resource: 'secrets',
      verbs: ['get'],
      resourceNames: ['s3-mirror-credentials'],
      scope: 'cluster',
      when: 'always',
    },
  ]);
});
