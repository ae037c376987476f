/**
 * Every annotation and label key the webhook reads or writes, with the defaults that apply when a pod
 * does not set them. Deploy manifests and docs are checked against this module; change keys only here.
 */

/** The one prefix for all keys. */
export const PREFIX = 's3-mirror.io/';

export const ANNOTATIONS = {
  /** Opt-in: `"true"` on the pod (annotation or label). `"false"` opts out even if a label says true. */
  inject: `${PREFIX}inject`,
  /** Written by the webhook: records the injection so a second pass is a no-op. */
  status: `${PREFIX}status`,
  /** Proxy image for this pod. */
  image: `${PREFIX}proxy-image`,
  /** Proxy resources for this pod (Kubernetes quantities). An empty value removes that request/limit. */
  cpuRequest: `${PREFIX}proxy-cpu-request`,
  cpuLimit: `${PREFIX}proxy-cpu-limit`,
  memoryRequest: `${PREFIX}proxy-memory-request`,
  memoryLimit: `${PREFIX}proxy-memory-limit`,
  /** Proxy ports for this pod, when the app already uses 8080 or 9090 (containers share the pod's network). */
  proxyPort: `${PREFIX}proxy-port`,
  proxyAdminPort: `${PREFIX}proxy-admin-port`,
  /** sizeLimit of the proxy's state volume (STATE_DIR), a Kubernetes quantity; empty = no limit. */
  stateSizeLimit: `${PREFIX}proxy-state-size-limit`,
  /** Comma-separated bucket allow-list passed to the proxy as ALLOWED_BUCKETS. */
  allowedBuckets: `${PREFIX}allowed-buckets`,
  /** Proxy LOG_LEVEL: debug, info, warn, error, off. */
  logLevel: `${PREFIX}proxy-log-level`,
  /** Which endpoint variable apps get: `AWS_ENDPOINT_URL` (all services) or `AWS_ENDPOINT_URL_S3` (S3 only). */
  endpointEnv: `${PREFIX}endpoint-env`,
  /** `"true"`: replace an endpoint variable a container already sets. */
  overwriteEndpoint: `${PREFIX}overwrite-endpoint`,
  /** Comma-separated container names (app or init) that get no env injection. */
  skipContainers: `${PREFIX}skip-containers`,
  /** `"true"`/`"false"`: whether init containers get the endpoint (overrides the webhook config). */
  injectInitContainers: `${PREFIX}inject-init-containers`,
  /** `"false"`: never add placeholder credentials to any container of this pod. */
  placeholderCredentials: `${PREFIX}placeholder-credentials`,
  /** `native` or `classic`: sidecar mode for this pod (overrides the webhook config). */
  sidecarMode: `${PREFIX}sidecar-mode`,
  /** `secret` (S3 keys from the credentials Secret) or `pod-identity` (no keys: the pod's IRSA / Pod Identity). */
  credentials: `${PREFIX}credentials`,
  /** A role the proxy assumes for the mirror (MIRROR_ROLE_ARN), e.g. in the backup account. */
  mirrorRoleArn: `${PREFIX}mirror-role-arn`,
  /** The mirror bucket's name, `{bucket}` standing for main's (MIRROR_BUCKET_TEMPLATE), e.g. `{bucket}-backup`. */
  mirrorBucketTemplate: `${PREFIX}mirror-bucket-template`,
  /** What a delete on main does to the mirror (MIRROR_DELETE_POLICY): `mirror`, `keep` or `delay:<duration>`. */
  deletePolicy: `${PREFIX}delete-policy`,
  /** Mirror copies the proxy runs at once (MIRROR_CONCURRENCY), 1-256. */
  mirrorConcurrency: `${PREFIX}mirror-concurrency`,
  /** What catch-up copies stream while the app is busy (MIRROR_CATCHUP_BYTES_PER_SECOND): bytes per second or a quantity such as `32Mi`; `0` never gives way. */
  mirrorCatchupBytesPerSecond: `${PREFIX}mirror-catchup-bytes-per-second`,
  /** `on` or `off`: GETs and HEADs that main fails answered from the mirror (FAILOVER_READS). */
  failoverReads: `${PREFIX}failover-reads`,
  /** A private CA the proxy trusts for main and the mirror: `configmap/<name>` or `secret/<name>`; '' = none. */
  caBundle: `${PREFIX}ca-bundle`,
  /** The key of that ConfigMap or Secret holding the PEM certificates. */
  caBundleKey: `${PREFIX}ca-bundle-key`,
} as const;

export const LABELS = {
  /** Same key as the annotation, accepted as a label so admins can use an `objectSelector`. */
  inject: ANNOTATIONS.inject,
  /** Namespace label: `disabled` opts a whole namespace out (used by the webhook's namespaceSelector). */
  namespaceInjection: `${PREFIX}injection`,
} as const;

/** Value of the status annotation after injection. */
export const STATUS_INJECTED = 'injected';
/** Value of the namespace opt-out label. */
export const NAMESPACE_INJECTION_DISABLED = 'disabled';

/** Name of the injected proxy container, and of its scratch volume. */
export const PROXY_CONTAINER_NAME = 's3-mirror-proxy';
export const PROXY_TMP_VOLUME_NAME = 's3-mirror-proxy-tmp';
/** The proxy's local state (write-ahead journal of acknowledged writes, upload spool): an emptyDir here. */
export const PROXY_STATE_VOLUME_NAME = 's3-mirror-state';
export const PROXY_STATE_DIR = '/var/lib/s3-mirror';

/** Namespaces the webhook never injects into, whatever the selectors say (its own namespace is added at runtime). */
export const EXCLUDED_NAMESPACES: readonly string[] = ['kube-system', 'kube-public', 'kube-node-lease'];

export const ENDPOINT_ENV_VARS = ['AWS_ENDPOINT_URL', 'AWS_ENDPOINT_URL_S3'] as const;
export type EndpointEnvVar = (typeof ENDPOINT_ENV_VARS)[number];

/** Env vars that mean a container brings its own AWS credentials: it gets no placeholder credentials. */
export const OWN_CREDENTIAL_ENV_VARS: readonly string[] = [
  'AWS_ACCESS_KEY_ID',
  'AWS_ROLE_ARN',
  'AWS_WEB_IDENTITY_TOKEN_FILE',
  'AWS_CONTAINER_CREDENTIALS_FULL_URI',
  'AWS_CONTAINER_CREDENTIALS_RELATIVE_URI',
  'AWS_PROFILE',
  'AWS_SHARED_CREDENTIALS_FILE',
];

/** Placeholder credentials: the proxy re-signs every request, so these only let app SDKs sign at all. */
export const PLACEHOLDER_ACCESS_KEY_ID = 's3-mirror-placeholder';
export const PLACEHOLDER_SECRET_ACCESS_KEY = 's3-mirror-placeholder-secret';

/** Truthy/falsy parsing of annotation values, tolerant of case and whitespace. */
export function parseBool(value: string | undefined): boolean | undefined {
  if (value === undefined) return undefined;
  const v = value.trim().toLowerCase();
  if (v === 'true' || v === 'yes' || v === '1' || v === 'enabled') return true;
  if (v === 'false' || v === 'no' || v === '0' || v === 'disabled') return false;
  return undefined;
}

/** `on`/`off` of an annotation for a proxy's on/off setting, also as any value parseBool knows; '' stays ''. */
export function parseOnOff(value: string): '' | 'on' | 'off' | undefined {
  const v = value.trim().toLowerCase();
  if (v === '' || v === 'on' || v === 'off') return v;
  const b = parseBool(v);
  return b === undefined ? undefined : b ? 'on' : 'off';
}

/** Comma-separated list, trimmed, empties dropped. */
export function parseList(value: string | undefined): string[] {
  if (!value) return [];
  return value
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s.length > 0);
}
