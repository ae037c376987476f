/**
 * The RBAC rules the webhook's API calls need (see kube-api.ts / k8s-client.ts). Deploy manifests are
 * checked against this list, and the integration tests check every recorded API call against it.
 */
import { CONFIG_KEYS } from './config';

export interface RbacRule {
  apiGroup: string;
  resource: string;
  verbs: string[];
  /** Omitted when RBAC cannot restrict by name (create). */
  resourceNames?: string[];
  /** `cluster`: ClusterRole (pods' namespaces, cluster-scoped objects); `namespace`: Role in the webhook's namespace. */
  scope: 'cluster' | 'namespace';
  /** `always`, or only with TLS_MODE=self-managed. */
  when: 'always' | 'self-managed';
}

export interface RbacNames {
  credentialsSecret: string;
  tlsSecret: string;
  lease: string;
  webhookConfiguration: string;
}

export const DEFAULT_RBAC_NAMES: RbacNames = {
  credentialsSecret: CONFIG_KEYS.CREDENTIALS_SECRET_NAME,
  tlsSecret: CONFIG_KEYS.TLS_SECRET_NAME,
  lease: CONFIG_KEYS.LEASE_NAME,
  webhookConfiguration: CONFIG_KEYS.WEBHOOK_CONFIGURATION_NAME,
};

export function rbacRules(n: RbacNames = DEFAULT_RBAC_NAMES): RbacRule[] {
  return [
    {
      apiGroup: '',
      resource: 'secrets',
      verbs: ['get'],
      resourceNames: [n.credentialsSecret],
      scope: 'cluster',
      when: 'always',
    },
    {
      apiGroup: '',
      resource: 'secrets',
      verbs: ['get', 'update'],
      resourceNames: [n.tlsSecret],
      scope: 'namespace',
      when: 'self-managed',
    },
    // The uninjected-pod check (uninjected-detector.ts; off with UNINJECTED_CHECK_INTERVAL_SECONDS=0): list
    // pods everywhere, read the labels of a namespace that has such pods, post one Event per pod.
    { apiGroup: '', resource: 'pods', verbs: ['list'], scope: 'cluster', when: 'always' },
    { apiGroup: '', resource: 'namespaces', verbs: ['get'], scope: 'cluster', when: 'always' },
    { apiGroup: '', resource: 'events', verbs: ['create'], scope: 'cluster', when: 'always' },
    { apiGroup: '', resource: 'secrets', verbs: ['create'], scope: 'namespace', when: 'self-managed' },
    {
      apiGroup: 'coordination.k8s.io',
      resource: 'leases',
      verbs: ['get', 'update'],
      resourceNames: [n.lease],
      scope: 'namespace',
      when: 'self-managed',
    },
    {
      apiGroup: 'coordination.k8s.io',
      resource: 'leases',
      verbs: ['create'],
      scope: 'namespace',
      when: 'self-managed',
    },
    {
      apiGroup: 'admissionregistration.k8s.io',
      resource: 'mutatingwebhookconfigurations',
      verbs: ['get', 'patch'],
      resourceNames: [n.webhookConfiguration],
      scope: 'cluster',
      when: 'self-managed',
    },
  ];
}

export interface ApiAccess {
  apiGroup: string;
  resource: string;
  verb: string;
  namespace?: string;
  name?: string;
}

/** Whether the rules allow an access; `ownNamespace` is where the namespaced Role lives. */
export function allows(rules: RbacRule[], a: ApiAccess, ownNamespace: string): boolean {
  return rules.some(
    (r) =>
      r.apiGroup === a.apiGroup &&
      r.resource === a.resource &&
      r.verbs.includes(a.verb) &&
      (r.resourceNames === undefined || (a.name !== undefined && r.resourceNames.includes(a.name))) &&
      (r.scope === 'cluster' || a.namespace === ownNamespace),
  );
}
