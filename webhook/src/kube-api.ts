/**
 * The Kubernetes API calls the webhook makes, as a narrow interface (implemented in k8s-client.ts with
 * @kubernetes/client-node). Every call here needs an RBAC rule; see docs/webhook.md.
 */

export class KubeApiError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
    this.name = 'KubeApiError';
  }
}

export function isStatus(err: unknown, status: number): boolean {
  return err instanceof KubeApiError && err.status === status;
}

export interface Meta {
  name: string;
  namespace?: string;
  resourceVersion?: string;
  labels?: Record<string, string>;
}

export interface SecretObject {
  metadata: Meta;
  type?: string;
  data?: Record<string, string>;
}

export interface LeaseSpec {
  holderIdentity?: string;
  leaseDurationSeconds?: number;
  /** RFC 3339 with microseconds. */
  acquireTime?: string;
  renewTime?: string;
  leaseTransitions?: number;
}

export interface LeaseObject {
  metadata: Meta;
  spec: LeaseSpec;
}

export interface WebhookConfigurationObject {
  metadata: Meta;
  webhooks: { name: string; clientConfig: { caBundle?: string } }[];
}

/** A page of a pod list: raw pods (checked by the caller), and the token for the next page. */
export interface PodPage {
  items: unknown[];
  /** `metadata.continue` of the list; undefined on the last page. */
  continue?: string;
}

export interface ListPodsOptions {
  limit: number;
  continue?: string;
  fieldSelector?: string;
}

export interface NamespaceObject {
  metadata: Meta;
}

/** A core/v1 Event (only the fields the webhook sets). */
export interface EventObject {
  metadata: { name: string; namespace: string };
  involvedObject: { apiVersion: string; kind: string; namespace: string; name: string; uid: string };
  reason: string;
  message: string;
  type: 'Normal' | 'Warning';
  source: { component: string };
  /** RFC 3339, seconds. */
  firstTimestamp: string;
  lastTimestamp: string;
  count: number;
}

export type JsonPatchOp =
  { op: 'add' | 'replace' | 'test'; path: string; value: unknown } | { op: 'remove'; path: string };

export interface KubeApi {
  /** GET secret as PartialObjectMetadata (the data never reaches the webhook); false on 404. */
  secretExists(namespace: string, name: string): Promise<boolean>;
  /** GET secret; `undefined` on 404. */
  getSecret(namespace: string, name: string): Promise<SecretObject | undefined>;
  /** POST; KubeApiError 409 if it exists. */
  createSecret(namespace: string, secret: SecretObject): Promise<SecretObject>;
  /** PUT with metadata.resourceVersion; KubeApiError 409 if stale. */
  replaceSecret(namespace: string, secret: SecretObject): Promise<SecretObject>;
  getLease(namespace: string, name: string): Promise<LeaseObject | undefined>;
  createLease(namespace: string, lease: LeaseObject): Promise<LeaseObject>;
  replaceLease(namespace: string, lease: LeaseObject): Promise<LeaseObject>;
  getMutatingWebhookConfiguration(name: string): Promise<WebhookConfigurationObject | undefined>;
  /** PATCH with Content-Type application/json-patch+json. */
  patchMutatingWebhookConfiguration(name: string, ops: JsonPatchOp[]): Promise<void>;
  /** GET /api/v1/pods (every namespace), one page of at most `limit` pods. */
  listPods(options: ListPodsOptions): Promise<PodPage>;
  /** GET namespace; `undefined` on 404. */
  getNamespace(name: string): Promise<NamespaceObject | undefined>;
  /** POST a core/v1 Event; KubeApiError 409 if one of that name exists. */
  createEvent(namespace: string, event: EventObject): Promise<void>;
}
