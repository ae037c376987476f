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
  // The uninjected-pod check: list pods, get a namespace, create Events; nothing else on them.
  [{ apiGroup: '', resource: 'pods', verb: 'list' }, true],
  [{ apiGroup: '', resource: 'pods', verb: 'watch' }, false],
  [{ apiGroup: '', resource: 'pods', verb: 'get', namespace: 'team-a', name: 'api-1' }, false],
  [{ apiGroup: '', resource: 'pods', verb: 'patch', namespace: 'team-a', name: 'api-1' }, false],
  [{ apiGroup: '', resource: 'namespaces', verb: 'get', name: 'team-a' }, true],
  [{ apiGroup: '', resource: 'namespaces', verb: 'list' }, false],
  [{ apiGroup: '', resource: 'events', verb: 'create', namespace: 'team-a' }, true],
  [{ apiGroup: '', resource: 'events', verb: 'patch', namespace: 'team-a', name: 'e' }, false],
  [{ apiGroup: 'events.k8s.io', resource: 'events', verb: 'create', namespace: 'team-a' }, false],
])('%j allowed: %s', (access, expected) => {
  expect(allows(rules, access, NS)).toBe(expected);
});

test('files mode needs only the credentials Secret get and the uninjected-pod check', () => {
  expect(rules.filter((r) => r.when === 'always')).toEqual([
    {
      apiGroup: '',
      resource: 'secrets',
      verbs: ['get'],
      resourceNames: ['s3-mirror-credentials'],
      scope: 'cluster',
      when: 'always',
    },
    { apiGroup: '', resource: 'pods', verbs: ['list'], scope: 'cluster', when: 'always' },
    { apiGroup: '', resource: 'namespaces', verbs: ['get'], scope: 'cluster', when: 'always' },
    { apiGroup: '', resource: 'events', verbs: ['create'], scope: 'cluster', when: 'always' },
  ]);
});
