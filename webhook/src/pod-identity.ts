/**
 * The pod's own AWS identity, as the EKS Pod Identity webhook (IRSA or EKS Pod Identity) gave it to the app
 * containers: the env that points the SDK at it, and the mounts of the projected token it names. Pure.
 */
import type { Container, EnvVar } from './pod';

/** Variables of the SDK's default chain that the EKS webhook sets (and regions it may set with them). */
export const IDENTITY_ENV_VARS: readonly string[] = [
  'AWS_ROLE_ARN',
  'AWS_WEB_IDENTITY_TOKEN_FILE',
  'AWS_CONTAINER_CREDENTIALS_FULL_URI',
  'AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE',
  'AWS_STS_REGIONAL_ENDPOINTS',
  'AWS_REGION',
  'AWS_DEFAULT_REGION',
];

/** The variables that mean "this container has an identity" (a region alone does not). */
const IDENTITY_MARKERS = ['AWS_WEB_IDENTITY_TOKEN_FILE', 'AWS_CONTAINER_CREDENTIALS_FULL_URI'];
const TOKEN_FILE_VARS = ['AWS_WEB_IDENTITY_TOKEN_FILE', 'AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE'];

export interface VolumeMount {
  name: string;
  mountPath: string;
  readOnly?: boolean;
  [key: string]: unknown;
}

export interface PodIdentity {
  env: EnvVar[];
  volumeMounts: VolumeMount[];
}

/**
 * The identity of the first container that has one, for the proxy to share; undefined when none has (the
 * EKS webhook did not run yet, or the service account has no role or association).
 */
export function podIdentityOf(containers: readonly Container[]): PodIdentity | undefined {
  for (const container of containers) {
    const env = (container.env ?? []).filter((e) => IDENTITY_ENV_VARS.includes(e.name));
    if (!env.some((e) => IDENTITY_MARKERS.includes(e.name))) continue;
    const tokenFiles = env.filter((e) => TOKEN_FILE_VARS.includes(e.name)).map((e) => e.value ?? '');
    const mounts = ((container.volumeMounts ?? []) as VolumeMount[]).filter((m) =>
      tokenFiles.some((file) => file.startsWith(`${m.mountPath.replace(/\/$/, '')}/`)),
    );
    return {
      env: env.map((e) => ({ ...e })),
      volumeMounts: mounts.map((m) => ({ name: m.name, mountPath: m.mountPath, readOnly: true })),
    };
  }
  return undefined;
}
