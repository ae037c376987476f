/**
 * The webhook's own configuration. Every key is read from the webhook's environment (a ConfigMap via
 * `envFrom`) or from files named like the keys in `CONFIG_DIR` (a ConfigMap mounted as a volume); the
 * environment wins. Parsed once at startup: admission uses only this cached value.
 */
import { ENDPOINT_ENV_VARS, type EndpointEnvVar } from './annotations';
import { isCaBundleKey, parseCaBundleRef, type CaBundleRef } from './ca-bundle';
import {
  BYTE_RATE_RULE,
  MIRROR_CONCURRENCY_RULE,
  parseByteRate,
  parseMirrorConcurrency,
} from './mirror-pacing';

/** HTTPS port for `POST /mutate` (also serves `/healthz`, `/readyz`). */
export const DEFAULT_WEBHOOK_PORT = 8443;
/** Plain-HTTP port for `/metrics`, `/healthz`, `/readyz`. */
export const DEFAULT_METRICS_PORT = 9090;
/** Admission path. */
export const MUTATE_PATH = '/mutate';

export const PROXY_LOG_LEVELS = ['debug', 'info', 'warn', 'error', 'off'] as const;
export type ProxyLogLevel = (typeof PROXY_LOG_LEVELS)[number];
export type SidecarMode = 'native' | 'classic';
export type TlsMode = 'files' | 'self-managed';

/** Every configuration key, with its default ('' = unset). */
export const CONFIG_KEYS = {
  // Injected proxy
  PROXY_IMAGE: 'ghcr.io/k8s-s3-mirror/proxy:0.1.0',
  PROXY_IMAGE_PULL_POLICY: 'IfNotPresent',
  PROXY_PORT: '8080',
  PROXY_ADMIN_PORT: '9090',
  PROXY_LOG_LEVEL: 'info',
  PROXY_ALLOWED_BUCKETS: '',
  PROXY_CPU_REQUEST: '50m',
  PROXY_CPU_LIMIT: '',
  PROXY_MEMORY_REQUEST: '64Mi',
  PROXY_MEMORY_LIMIT: '256Mi',
  PROXY_RUN_AS_USER: '65532',
  PROXY_STATE_SIZE_LIMIT: '1Gi',
  MAIN_S3_ENDPOINT: 'https://s3.amazonaws.com',
  MAIN_S3_REGION: 'us-east-1',
  MIRROR_S3_ENDPOINT: '',
  MIRROR_S3_REGION: 'us-east-1',
  CREDENTIALS_SECRET_NAME: 's3-mirror-credentials',
  CREDENTIALS_MODE: 'secret',
  MIRROR_ROLE_ARN: '',
  MIRROR_BUCKET_TEMPLATE: '',
  MIRROR_DELETE_POLICY: '',
  MIRROR_CONCURRENCY: '',
  MIRROR_CATCHUP_BYTES_PER_SECOND: '',
  PROXY_MEMORY_RECLAIM: '',
  PROXY_FAILOVER_READS: '',
  PROXY_CA_BUNDLE: '',
  PROXY_CA_BUNDLE_KEY: 'ca.crt',
  SIDECAR_MODE: 'native',
  ENDPOINT_ENV: 'AWS_ENDPOINT_URL',
  INJECT_INIT_CONTAINERS: 'true',
  PLACEHOLDER_CREDENTIALS: 'true',
  // Webhook itself
  WEBHOOK_PORT: String(DEFAULT_WEBHOOK_PORT),
  METRICS_PORT: String(DEFAULT_METRICS_PORT),
  LOG_LEVEL: 'info',
  MAX_BODY_BYTES: String(3 * 1024 * 1024),
  SECRET_CHECK_TIMEOUT_MS: '2000',
  SECRET_CHECK_CACHE_SECONDS: '30',
  SHUTDOWN_DELAY_SECONDS: '5',
  UNINJECTED_CHECK_INTERVAL_SECONDS: '30',
  POD_NAMESPACE: 's3-mirror-system',
  POD_NAME: '',
  TLS_MODE: 'files',
  TLS_CERT_FILE: '/etc/s3-mirror-webhook/tls/tls.crt',
  TLS_KEY_FILE: '/etc/s3-mirror-webhook/tls/tls.key',
  TLS_RELOAD_INTERVAL_SECONDS: '10',
  TLS_SECRET_NAME: 's3-mirror-webhook-tls',
  WEBHOOK_CONFIGURATION_NAME: 's3-mirror-webhook',
  WEBHOOK_SERVICE_NAME: 's3-mirror-webhook',
  LEASE_NAME: 's3-mirror-webhook-cert',
  LEASE_DURATION_SECONDS: '30',
  CA_VALIDITY_SECONDS: String(10 * 365 * 86400),
  CA_RENEW_BEFORE_SECONDS: String(365 * 86400),
  CERT_VALIDITY_SECONDS: String(365 * 86400),
  CERT_RENEW_BEFORE_SECONDS: String(30 * 86400),
  CERT_CHECK_INTERVAL_SECONDS: '300',
} as const;

export type ConfigKey = keyof typeof CONFIG_KEYS;

export interface ProxySettings {
  image: string;
  imagePullPolicy: 'Always' | 'IfNotPresent' | 'Never';
  port: number;
  adminPort: number;
  logLevel: ProxyLogLevel;
  allowedBuckets: string;
  resources: { cpuRequest: string; cpuLimit: string; memoryRequest: string; memoryLimit: string };
  runAsUser: number;
  /** sizeLimit of the emptyDir mounted at STATE_DIR ('' = none). */
  stateSizeLimit: string;
  mainEndpoint: string;
  mainRegion: string;
  mirrorEndpoint: string;
  mirrorRegion: string;
  credentialsSecretName: string;
  /** Where the proxy's S3 credentials come from (CREDENTIALS_MODE; annotation s3-mirror.io/credentials). */
  credentialsMode: CredentialsMode;
  /** MIRROR_ROLE_ARN for every proxy ('' = none; annotation s3-mirror.io/mirror-role-arn). */
  mirrorRoleArn: string;
  /** MIRROR_BUCKET_TEMPLATE for every proxy ('' = the proxy's default, main's name; annotation s3-mirror.io/mirror-bucket-template). */
  mirrorBucketTemplate: string;
  /** MIRROR_DELETE_POLICY for every proxy ('' = the proxy's default, `mirror`; annotation s3-mirror.io/delete-policy). */
  deletePolicy: string;
  /** MIRROR_CONCURRENCY for every proxy, a decimal string ('' = the proxy's default, 16; annotation s3-mirror.io/mirror-concurrency). */
  mirrorConcurrency: string;
  /** MIRROR_CATCHUP_BYTES_PER_SECOND for every proxy, in bytes ('' = the proxy's default, 8 MiB/s; annotation s3-mirror.io/mirror-catchup-bytes-per-second). */
  mirrorCatchupBytesPerSecond: string;
  /** MEMORY_RECLAIM for every proxy: `on` or `off` ('' = the proxy's default, on). */
  memoryReclaim: '' | 'on' | 'off';
  /** FAILOVER_READS for every proxy: `on` or `off` ('' = the proxy's default, on; annotation s3-mirror.io/failover-reads). */
  failoverReads: '' | 'on' | 'off';
  /** A private CA for main and the mirror, in each pod's namespace ('' = none; annotation s3-mirror.io/ca-bundle). */
  caBundle: CaBundleRef | '';
  /** The key of that ConfigMap or Secret holding the PEM certificates (annotation s3-mirror.io/ca-bundle-key). */
  caBundleKey: string;
}

export const CREDENTIALS_MODES = ['secret', 'pod-identity'] as const;
export type CredentialsMode = (typeof CREDENTIALS_MODES)[number];
/** An IAM role ARN, as the proxy accepts it for MIRROR_ROLE_ARN. */
export const ROLE_ARN_RE = /^arn:aws[a-z-]*:iam::\d{12}:role\/[\w+=,.@/-]{1,512}$/;

export interface InjectionSettings {
  sidecarMode: SidecarMode;
  endpointEnv: EndpointEnvVar;
  injectInitContainers: boolean;
  placeholderCredentials: boolean;
}

export interface WebhookSettings {
  port: number;
  metricsPort: number;
  logLevel: 'debug' | 'info' | 'warn' | 'error';
  maxBodyBytes: number;
  secretCheckTimeoutMs: number;
  secretCheckCacheSeconds: number;
  shutdownDelaySeconds: number;
  /** How often opted-in pods running without the proxy are looked for; 0 = never (uninjected-detector.ts). */
  uninjectedCheckIntervalSeconds: number;
  namespace: string;
  podName: string;
}

export interface TlsSettings {
  mode: TlsMode;
  certFile: string;
  keyFile: string;
  reloadIntervalSeconds: number;
  secretName: string;
  webhookConfigurationName: string;
  serviceName: string;
  leaseName: string;
  leaseDurationSeconds: number;
  caValiditySeconds: number;
  caRenewBeforeSeconds: number;
  certValiditySeconds: number;
  certRenewBeforeSeconds: number;
  checkIntervalSeconds: number;
}

export interface Config {
  proxy: ProxySettings;
  injection: InjectionSettings;
  webhook: WebhookSettings;
  tls: TlsSettings;
}

export type ConfigResult = { ok: true; config: Config } | { ok: false; errors: string[] };

/** Kubernetes resource quantity (cpu or memory). */
export const QUANTITY_RE =
  /^[+]?([0-9]+(\.[0-9]*)?|\.[0-9]+)(m|k|Ki|M|Mi|G|Gi|T|Ti|P|Pi|E|Ei|[eE][+-]?[0-9]+)?$/;
/** A bucket allow-list: comma-separated S3 bucket names. */
export const BUCKET_LIST_RE = /^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9](,[a-z0-9][a-z0-9.-]{1,61}[a-z0-9])*$/;
/**
 * A mirror bucket template, as the proxy accepts it for MIRROR_BUCKET_TEMPLATE: `{bucket}` once, S3 bucket
 * characters around it, starting and ending with a letter or digit, no `..`, at most 60 besides `{bucket}`.
 */
export function isMirrorBucketTemplate(v: string): boolean {
  const parts = v.split('{bucket}');
  if (parts.length !== 2) return false;
  const [prefix, suffix] = parts as [string, string];
  return (
    /^(?:[a-z0-9][a-z0-9.-]*)?$/.test(prefix) &&
    /^(?:[a-z0-9.-]*[a-z0-9])?$/.test(suffix) &&
    !(prefix + '/' + suffix).includes('..') &&
    prefix.length + suffix.length <= 60
  );
}
/**
 * A delete policy as the proxy accepts it for MIRROR_DELETE_POLICY: `mirror`, `keep`, or `delay:` and a
 * positive integer with s, m, h or d, at most 366 days (proxy/src/mirror/delete-policy.ts).
 */
export function isDeletePolicy(v: string): boolean {
  if (v === 'mirror' || v === 'keep') return true;
  const m = /^delay:([1-9][0-9]{0,8})([smhd])$/.exec(v);
  if (!m) return false;
  const unit = { s: 1, m: 60, h: 3600, d: 86_400 }[m[2] as 's' | 'm' | 'h' | 'd'];
  return Number(m[1]) * unit <= 366 * 86_400;
}
/** Container image reference: no whitespace or control characters. */
export const IMAGE_RE = /^[A-Za-z0-9][A-Za-z0-9._/:@+-]*$/;

/** Pure: raw key/value pairs (env, files) → validated configuration. Unknown keys are ignored. */
export function parseConfig(raw: Readonly<Record<string, string | undefined>>): ConfigResult {
  const errors: string[] = [];
  const get = (key: ConfigKey): string => {
    const v = raw[key];
    return v === undefined ? CONFIG_KEYS[key] : v.trim();
  };
  const int = (key: ConfigKey, min: number, max: number): number => {
    const v = get(key);
    const n = Number(v);
    if (!/^\d+$/.test(v) || n < min || n > max) {
      errors.push(`${key} must be an integer in [${min}, ${max}], got "${v}"`);
      return Number(CONFIG_KEYS[key]);
    }
    return n;
  };
  const oneOf = <T extends string>(key: ConfigKey, allowed: readonly T[]): T => {
    const v = get(key);
    if (!(allowed as readonly string[]).includes(v)) {
      errors.push(`${key} must be one of ${allowed.join(', ')}, got "${v}"`);
      return CONFIG_KEYS[key] as T;
    }
    return v as T;
  };
  const bool = (key: ConfigKey): boolean => oneOf(key, ['true', 'false'] as const) === 'true';
  const quantity = (key: ConfigKey): string => {
    const v = get(key);
    if (v !== '' && !QUANTITY_RE.test(v)) errors.push(`${key} is not a Kubernetes quantity: "${v}"`);
    return v;
  };
  const url = (key: ConfigKey, required: boolean): string => {
    const v = get(key);
    if (v === '') {
      if (required) errors.push(`${key} is required`);
      return v;
    }
    let parsed: URL | undefined;
    try {
      parsed = new URL(v);
    } catch {
      parsed = undefined;
    }
    if (!parsed || (parsed.protocol !== 'http:' && parsed.protocol !== 'https:')) {
      errors.push(`${key} must be an http:// or https:// URL, got "${v}"`);
    }
    return v;
  };
  const nonEmpty = (key: ConfigKey): string => {
    const v = get(key);
    if (v === '') errors.push(`${key} must not be empty`);
    return v;
  };
  const roleArn = (key: ConfigKey): string => {
    const v = get(key);
    if (v !== '' && !ROLE_ARN_RE.test(v)) errors.push(`${key} must be an IAM role ARN, got "${v}"`);
    return v;
  };

  const bucketTemplate = (key: ConfigKey): string => {
    const v = get(key);
    if (v !== '' && !isMirrorBucketTemplate(v)) {
      errors.push(`${key} must contain {bucket} once, with only a-z, 0-9, '-' and '.' around it, got "${v}"`);
    }
    return v;
  };

  const deletePolicy = (key: ConfigKey): string => {
    const v = get(key);
    if (v !== '' && !isDeletePolicy(v)) {
      errors.push(`${key} must be mirror, keep or delay:<duration> (e.g. delay:24h), got "${v}"`);
    }
    return v;
  };

  const converted = (key: ConfigKey, parse: (v: string) => string | undefined, what: string): string => {
    const v = get(key);
    if (v === '') return v;
    const value = parse(v);
    if (value === undefined) errors.push(`${key} must be ${what}, got "${v}"`);
    return value ?? '';
  };

  const onOrOff = (key: ConfigKey): '' | 'on' | 'off' => {
    const v = get(key);
    if (v === '' || v === 'on' || v === 'off') return v;
    errors.push(`${key} must be on or off (empty: the proxy's default), got "${v}"`);
    return '';
  };

  const caBundle = (): CaBundleRef | '' => {
    const v = get('PROXY_CA_BUNDLE');
    const ref = parseCaBundleRef(v);
    if (ref !== undefined) return ref;
    errors.push(`PROXY_CA_BUNDLE must be configmap/<name> or secret/<name>, got "${v}"`);
    return '';
  };
  const caBundleKey = (): string => {
    const v = get('PROXY_CA_BUNDLE_KEY');
    if (!isCaBundleKey(v)) {
      errors.push(
        `PROXY_CA_BUNDLE_KEY must be a ConfigMap or Secret key (a-z, A-Z, 0-9, '-', '_', '.'), got "${v}"`,
      );
    }
    return v;
  };

  const image = get('PROXY_IMAGE');
  if (!IMAGE_RE.test(image)) errors.push(`PROXY_IMAGE is not an image reference: "${image}"`);
  const allowedBuckets = get('PROXY_ALLOWED_BUCKETS');
  if (allowedBuckets !== '' && !BUCKET_LIST_RE.test(allowedBuckets)) {
    errors.push(
      `PROXY_ALLOWED_BUCKETS must be a comma-separated list of bucket names, got "${allowedBuckets}"`,
    );
  }
  const port = int('PROXY_PORT', 1, 65535);
  const adminPort = int('PROXY_ADMIN_PORT', 1, 65535);
  if (port === adminPort) errors.push('PROXY_PORT and PROXY_ADMIN_PORT must differ');

  const config: Config = {
    proxy: {
      image,
      imagePullPolicy: oneOf('PROXY_IMAGE_PULL_POLICY', ['Always', 'IfNotPresent', 'Never'] as const),
      port,
      adminPort,
      logLevel: oneOf('PROXY_LOG_LEVEL', PROXY_LOG_LEVELS),
      allowedBuckets,
      resources: {
        cpuRequest: quantity('PROXY_CPU_REQUEST'),
        cpuLimit: quantity('PROXY_CPU_LIMIT'),
        memoryRequest: quantity('PROXY_MEMORY_REQUEST'),
        memoryLimit: quantity('PROXY_MEMORY_LIMIT'),
      },
      runAsUser: int('PROXY_RUN_AS_USER', 1, 2147483647),
      stateSizeLimit: quantity('PROXY_STATE_SIZE_LIMIT'),
      mainEndpoint: url('MAIN_S3_ENDPOINT', true),
      mainRegion: nonEmpty('MAIN_S3_REGION'),
      mirrorEndpoint: url('MIRROR_S3_ENDPOINT', true),
      mirrorRegion: nonEmpty('MIRROR_S3_REGION'),
      credentialsSecretName: nonEmpty('CREDENTIALS_SECRET_NAME'),
      credentialsMode: oneOf('CREDENTIALS_MODE', CREDENTIALS_MODES),
      mirrorRoleArn: roleArn('MIRROR_ROLE_ARN'),
      mirrorBucketTemplate: bucketTemplate('MIRROR_BUCKET_TEMPLATE'),
      deletePolicy: deletePolicy('MIRROR_DELETE_POLICY'),
      mirrorConcurrency: converted('MIRROR_CONCURRENCY', parseMirrorConcurrency, MIRROR_CONCURRENCY_RULE),
      mirrorCatchupBytesPerSecond: converted(
        'MIRROR_CATCHUP_BYTES_PER_SECOND',
        parseByteRate,
        BYTE_RATE_RULE,
      ),
      memoryReclaim: onOrOff('PROXY_MEMORY_RECLAIM'),
      failoverReads: onOrOff('PROXY_FAILOVER_READS'),
      caBundle: caBundle(),
      caBundleKey: caBundleKey(),
    },
    injection: {
      sidecarMode: oneOf('SIDECAR_MODE', ['native', 'classic'] as const),
      endpointEnv: oneOf('ENDPOINT_ENV', ENDPOINT_ENV_VARS),
      injectInitContainers: bool('INJECT_INIT_CONTAINERS'),
      placeholderCredentials: bool('PLACEHOLDER_CREDENTIALS'),
    },
    webhook: {
      port: int('WEBHOOK_PORT', 0, 65535),
      metricsPort: int('METRICS_PORT', 0, 65535),
      logLevel: oneOf('LOG_LEVEL', ['debug', 'info', 'warn', 'error'] as const),
      maxBodyBytes: int('MAX_BODY_BYTES', 1024, 64 * 1024 * 1024),
      secretCheckTimeoutMs: int('SECRET_CHECK_TIMEOUT_MS', 1, 30000),
      secretCheckCacheSeconds: int('SECRET_CHECK_CACHE_SECONDS', 0, 3600),
      shutdownDelaySeconds: int('SHUTDOWN_DELAY_SECONDS', 0, 300),
      uninjectedCheckIntervalSeconds: int('UNINJECTED_CHECK_INTERVAL_SECONDS', 0, 3600),
      namespace: nonEmpty('POD_NAMESPACE'),
      podName: get('POD_NAME'),
    },
    tls: {
      mode: oneOf('TLS_MODE', ['files', 'self-managed'] as const),
      certFile: get('TLS_CERT_FILE'),
      keyFile: get('TLS_KEY_FILE'),
      reloadIntervalSeconds: int('TLS_RELOAD_INTERVAL_SECONDS', 1, 86400),
      secretName: nonEmpty('TLS_SECRET_NAME'),
      webhookConfigurationName: nonEmpty('WEBHOOK_CONFIGURATION_NAME'),
      serviceName: nonEmpty('WEBHOOK_SERVICE_NAME'),
      leaseName: nonEmpty('LEASE_NAME'),
      leaseDurationSeconds: int('LEASE_DURATION_SECONDS', 1, 3600),
      caValiditySeconds: int('CA_VALIDITY_SECONDS', 60, 100 * 365 * 86400),
      caRenewBeforeSeconds: int('CA_RENEW_BEFORE_SECONDS', 1, 100 * 365 * 86400),
      certValiditySeconds: int('CERT_VALIDITY_SECONDS', 60, 100 * 365 * 86400),
      certRenewBeforeSeconds: int('CERT_RENEW_BEFORE_SECONDS', 1, 100 * 365 * 86400),
      checkIntervalSeconds: int('CERT_CHECK_INTERVAL_SECONDS', 1, 86400),
    },
  };
  if (config.tls.certRenewBeforeSeconds >= config.tls.certValiditySeconds) {
    errors.push('CERT_RENEW_BEFORE_SECONDS must be less than CERT_VALIDITY_SECONDS');
  }
  if (config.tls.caRenewBeforeSeconds >= config.tls.caValiditySeconds) {
    errors.push('CA_RENEW_BEFORE_SECONDS must be less than CA_VALIDITY_SECONDS');
  }
  if (config.tls.mode === 'files' && (config.tls.certFile === '' || config.tls.keyFile === '')) {
    errors.push('TLS_CERT_FILE and TLS_KEY_FILE are required when TLS_MODE=files');
  }
  return errors.length > 0 ? { ok: false, errors } : { ok: true, config };
}

/** The URL apps get: an IP literal, so SDKs use path-style requests (see docs/webhook.md). */
export function proxyEndpointUrl(proxy: Pick<ProxySettings, 'port'>): string {
  return `http://127.0.0.1:${proxy.port}`;
}
