/** Builds the proxy container (image, env, probes, resources, hardened securityContext) and its volumes. */
import {
  PROXY_CONTAINER_NAME,
  PROXY_STATE_DIR,
  PROXY_STATE_VOLUME_NAME,
  PROXY_TMP_VOLUME_NAME,
} from './annotations';
import {
  CA_BUNDLE_ENV_VAR,
  CA_BUNDLE_VOLUME_NAME,
  caBundleMount,
  type CaBundleSource,
  type CaBundleVolume,
} from './ca-bundle';
import type { CredentialsMode, ProxyLogLevel, ProxySettings, SidecarMode } from './config';
import type { Container } from './pod';
import type { PodIdentity } from './pod-identity';
import { stateBudgetEnv } from './state-budget';

/** Secret keys the proxy reads; each is injected by secretKeyRef with the same name as the env var. */
export const SECRET_ENV_KEYS = [
  'MAIN_ACCESS_KEY',
  'MAIN_SECRET_KEY',
  'MIRROR_ACCESS_KEY',
  'MIRROR_SECRET_KEY',
  'POSTGRES_URL',
] as const;

/** With the pod's identity the Secret holds no S3 key: only the inventory's URL (it has a password). */
export const POD_IDENTITY_SECRET_ENV_KEYS = ['POSTGRES_URL'] as const;

export const PROXY_PORT_NAME = 's3mirror-s3';
export const PROXY_ADMIN_PORT_NAME = 's3mirror-admin';

/** Settings for one pod: the webhook config with the pod's overrides applied. */
export interface SidecarSettings {
  image: string;
  imagePullPolicy: ProxySettings['imagePullPolicy'];
  port: number;
  adminPort: number;
  logLevel: ProxyLogLevel;
  allowedBuckets: string;
  resources: ProxySettings['resources'];
  runAsUser: number;
  /** sizeLimit of the state emptyDir ('' = none). */
  stateSizeLimit: string;
  mainEndpoint: string;
  mainRegion: string;
  mirrorEndpoint: string;
  mirrorRegion: string;
  credentialsSecretName: string;
  credentialsMode: CredentialsMode;
  /** MIRROR_ROLE_ARN ('' = none). */
  mirrorRoleArn: string;
  /** MIRROR_BUCKET_TEMPLATE ('' = unset: the proxy's default, main's name). */
  mirrorBucketTemplate: string;
  /** MIRROR_DELETE_POLICY ('' = unset: the proxy's default, `mirror`). */
  deletePolicy: string;
  /** MIRROR_CONCURRENCY, a decimal string (unset or '': the proxy's default, 16). */
  mirrorConcurrency?: string;
  /** MIRROR_CATCHUP_BYTES_PER_SECOND in bytes, a decimal string (unset or '': the proxy's default, 8 MiB/s). */
  mirrorCatchupBytesPerSecond?: string;
  /** MEMORY_RECLAIM, `on` or `off` (unset or '': the proxy's default, on). */
  memoryReclaim?: string;
  /** FAILOVER_READS, `on` or `off` (unset or '': the proxy's default, on). */
  failoverReads?: string;
  /** A private CA for main and the mirror, mounted and named by NODE_EXTRA_CA_CERTS (unset: none). */
  caBundle?: CaBundleSource;
  /** With `pod-identity`: what the app containers got from the EKS webhook, shared with the proxy. */
  podIdentity?: PodIdentity;
  mode: SidecarMode;
  /** Names of the proxy's volumes in this pod (the builder renames them when the pod already uses a name). */
  volumeNames?: ProxyVolumeNames;
}

export interface ProxyVolumeNames {
  tmp: string;
  state: string;
  /** The CA bundle's volume, used when the pod gets one. */
  ca: string;
}

export const DEFAULT_VOLUME_NAMES: ProxyVolumeNames = {
  tmp: PROXY_TMP_VOLUME_NAME,
  state: PROXY_STATE_VOLUME_NAME,
  ca: CA_BUNDLE_VOLUME_NAME,
};

export interface EmptyDirVolume {
  name: string;
  emptyDir: { sizeLimit?: string };
}

/** Every kind of volume the webhook adds to a pod. */
export type ProxyVolume = EmptyDirVolume | CaBundleVolume;

/**
 * postStart hook for classic mode. The proxy image has `node` but no shell or curl, so the hook is a node
 * one-liner that polls /readyz until it answers 200, and exits 1 after `timeoutSeconds` (kubelet then
 * restarts the container). The kubelet starts the next container only after this hook returns.
 */
export function waitForReadyScript(adminPort: number, timeoutSeconds = 120): string {
  return (
    `const h=require('http'),end=Date.now()+${timeoutSeconds * 1000};` +
    `function w(){if(Date.now()>end){console.error('s3-mirror proxy not ready');process.exit(1)}setTimeout(p,250)}` +
    `function p(){const r=h.get({host:'127.0.0.1',port:${adminPort},path:'/readyz',timeout:2000},` +
    `s=>{s.resume();s.statusCode===200?process.exit(0):w()});r.on('timeout',()=>r.destroy());r.on('error',w)}p()`
  );
}

function resourceBlock(r: ProxySettings['resources']): Record<string, Record<string, string>> {
  const requests: Record<string, string> = {};
  const limits: Record<string, string> = {};
  if (r.cpuRequest) requests.cpu = r.cpuRequest;
  if (r.memoryRequest) requests.memory = r.memoryRequest;
  if (r.cpuLimit) limits.cpu = r.cpuLimit;
  if (r.memoryLimit) limits.memory = r.memoryLimit;
  const out: Record<string, Record<string, string>> = {};
  if (Object.keys(requests).length > 0) out.requests = requests;
  if (Object.keys(limits).length > 0) out.limits = limits;
  return out;
}

export function buildProxyContainer(s: SidecarSettings): Container {
  const volumes = s.volumeNames ?? DEFAULT_VOLUME_NAMES;
  const httpGet = (path: string) => ({ path, port: s.adminPort, scheme: 'HTTP' });
  const env = [
    { name: 'MAIN_S3_ENDPOINT', value: s.mainEndpoint },
    { name: 'MAIN_S3_REGION', value: s.mainRegion },
    { name: 'MIRROR_S3_ENDPOINT', value: s.mirrorEndpoint },
    { name: 'MIRROR_S3_REGION', value: s.mirrorRegion },
    { name: 'LOG_LEVEL', value: s.logLevel },
    { name: 'LISTEN_ADDR', value: `127.0.0.1:${s.port}` },
    { name: 'ADMIN_ADDR', value: `0.0.0.0:${s.adminPort}` },
    { name: 'ALLOWED_BUCKETS', value: s.allowedBuckets },
    { name: 'STATE_DIR', value: PROXY_STATE_DIR },
    // Journal and upload spool bounds that keep the state volume below its sizeLimit (eviction).
    ...stateBudgetEnv(s.stateSizeLimit),
    ...(s.credentialsMode === 'secret' ? SECRET_ENV_KEYS : POD_IDENTITY_SECRET_ENV_KEYS).map((key) => ({
      name: key,
      valueFrom: { secretKeyRef: { name: s.credentialsSecretName, key } },
    })),
    ...(s.credentialsMode === 'pod-identity' ? (s.podIdentity?.env ?? []) : []),
    ...(s.mirrorRoleArn !== '' ? [{ name: 'MIRROR_ROLE_ARN', value: s.mirrorRoleArn }] : []),
    ...(s.mirrorBucketTemplate !== ''
      ? [{ name: 'MIRROR_BUCKET_TEMPLATE', value: s.mirrorBucketTemplate }]
      : []),
    ...(s.deletePolicy !== '' ? [{ name: 'MIRROR_DELETE_POLICY', value: s.deletePolicy }] : []),
    ...(s.mirrorConcurrency ? [{ name: 'MIRROR_CONCURRENCY', value: s.mirrorConcurrency }] : []),
    ...(s.mirrorCatchupBytesPerSecond
      ? [{ name: 'MIRROR_CATCHUP_BYTES_PER_SECOND', value: s.mirrorCatchupBytesPerSecond }]
      : []),
    ...(s.memoryReclaim ? [{ name: 'MEMORY_RECLAIM', value: s.memoryReclaim }] : []),
    ...(s.failoverReads ? [{ name: 'FAILOVER_READS', value: s.failoverReads }] : []),
    ...(s.caBundle ? [CA_BUNDLE_ENV_VAR] : []),
  ];
  const container: Container = {
    name: PROXY_CONTAINER_NAME,
    image: s.image,
    imagePullPolicy: s.imagePullPolicy,
    env,
    ports: [
      { name: PROXY_PORT_NAME, containerPort: s.port, protocol: 'TCP' },
      { name: PROXY_ADMIN_PORT_NAME, containerPort: s.adminPort, protocol: 'TCP' },
    ],
    startupProbe: { httpGet: httpGet('/readyz'), periodSeconds: 1, timeoutSeconds: 2, failureThreshold: 120 },
    readinessProbe: { httpGet: httpGet('/readyz'), periodSeconds: 5, timeoutSeconds: 2, failureThreshold: 3 },
    livenessProbe: {
      httpGet: httpGet('/healthz'),
      periodSeconds: 10,
      timeoutSeconds: 2,
      failureThreshold: 3,
    },
    resources: resourceBlock(s.resources),
    securityContext: {
      runAsNonRoot: true,
      runAsUser: s.runAsUser,
      runAsGroup: s.runAsUser,
      readOnlyRootFilesystem: true,
      allowPrivilegeEscalation: false,
      privileged: false,
      capabilities: { drop: ['ALL'] },
      seccompProfile: { type: 'RuntimeDefault' },
    },
    // The root filesystem stays read-only: the proxy writes only to these two emptyDirs.
    volumeMounts: [
      { name: volumes.tmp, mountPath: '/tmp' },
      { name: volumes.state, mountPath: PROXY_STATE_DIR },
      // The projected service account token the identity env names (the pod already has its volume).
      ...(s.credentialsMode === 'pod-identity' ? (s.podIdentity?.volumeMounts ?? []) : []),
      ...(s.caBundle ? [caBundleMount(volumes.ca)] : []),
    ],
    terminationMessagePolicy: 'FallbackToLogsOnError',
  };
  if (s.mode === 'native') {
    container.restartPolicy = 'Always';
  } else {
    container.lifecycle = {
      postStart: { exec: { command: ['node', '-e', waitForReadyScript(s.adminPort)] } },
    };
  }
  return container;
}

/** The scratch volume mounted at /tmp (the root filesystem is read-only). */
export function buildProxyTmpVolume(name = PROXY_TMP_VOLUME_NAME): EmptyDirVolume {
  return { name, emptyDir: { sizeLimit: '64Mi' } };
}

/**
 * The state volume mounted at STATE_DIR: the proxy's journal of acknowledged writes and its upload spool.
 * An emptyDir survives container restarts (crash, OOM kill) but not the pod: the journal bridges a proxy
 * restart while Postgres is unreachable.
 */
export function buildProxyStateVolume(sizeLimit: string, name = PROXY_STATE_VOLUME_NAME): EmptyDirVolume {
  return { name, emptyDir: sizeLimit === '' ? {} : { sizeLimit } };
}
