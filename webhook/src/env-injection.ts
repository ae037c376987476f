/** Which env entries each app container gets: the proxy endpoint, and placeholder credentials when it has none. */
import {
  ENDPOINT_ENV_VARS,
  OWN_CREDENTIAL_ENV_VARS,
  PLACEHOLDER_ACCESS_KEY_ID,
  PLACEHOLDER_SECRET_ACCESS_KEY,
  type EndpointEnvVar,
} from './annotations';
import { appendAllToArray, type PatchOp } from './json-patch';
import type { Container, EnvVar } from './pod';

export interface EnvOptions {
  endpointVar: EndpointEnvVar;
  endpointUrl: string;
  overwriteEndpoint: boolean;
  placeholderCredentials: boolean;
  /** The pod asked for placeholders explicitly: containers with envFrom get them too. */
  placeholdersDespiteEnvFrom: boolean;
  region: string;
}

export interface EnvPlan {
  ops: PatchOp[];
  warnings: string[];
}

function lastIndexOf(env: readonly EnvVar[], name: string): number {
  for (let i = env.length - 1; i >= 0; i--) if (env[i]!.name === name) return i;
  return -1;
}

function isPlaceholder(e: EnvVar): boolean {
  return (
    e.valueFrom === undefined &&
    ((e.name === 'AWS_ACCESS_KEY_ID' && e.value === PLACEHOLDER_ACCESS_KEY_ID) ||
      (e.name === 'AWS_SECRET_ACCESS_KEY' && e.value === PLACEHOLDER_SECRET_ACCESS_KEY))
  );
}

/** Endpoint variables that would win over (or are) ours for S3 calls. */
function competingEndpointVars(ours: EndpointEnvVar): EndpointEnvVar[] {
  // AWS_ENDPOINT_URL_S3 takes precedence over AWS_ENDPOINT_URL in the SDKs, so it always matters.
  return ours === 'AWS_ENDPOINT_URL' ? [...ENDPOINT_ENV_VARS] : ['AWS_ENDPOINT_URL_S3'];
}

/**
 * Plans the env changes for one container at `containerPath` (e.g. `/spec/containers/1`). Pure and idempotent:
 * planning again on the patched container yields no ops.
 */
export function planContainerEnv(containerPath: string, container: Container, opts: EnvOptions): EnvPlan {
  const env: readonly EnvVar[] = Array.isArray(container.env) ? container.env : [];
  const hasEnvFrom = Array.isArray(container.envFrom) && container.envFrom.length > 0;
  const ops: PatchOp[] = [];
  const adds: EnvVar[] = [];
  const warnings: string[] = [];
  const where = `container "${container.name}"`;

  let endpointHandled = false;
  for (const name of competingEndpointVars(opts.endpointVar)) {
    const i = lastIndexOf(env, name);
    if (i < 0) continue;
    const entry = env[i]!;
    if (entry.valueFrom === undefined && entry.value === opts.endpointUrl) {
      if (name === opts.endpointVar) endpointHandled = true;
      continue;
    }
    if (opts.overwriteEndpoint) {
      ops.push({
        op: 'replace',
        path: `${containerPath}/env/${i}`,
        value: { name, value: opts.endpointUrl },
      });
      if (name === opts.endpointVar) endpointHandled = true;
    } else {
      if (name === opts.endpointVar) endpointHandled = true;
      warnings.push(
        `${where} already sets ${name}; it was left unchanged, so its S3 calls may bypass the mirror proxy ` +
          `(set the overwrite-endpoint annotation to replace it)`,
      );
    }
  }
  if (!endpointHandled) adds.push({ name: opts.endpointVar, value: opts.endpointUrl });

  const ignore = lastIndexOf(env, 'AWS_IGNORE_CONFIGURED_ENDPOINT_URLS');
  if (ignore >= 0 && env[ignore]!.value?.toLowerCase() === 'true') {
    warnings.push(
      `${where} sets AWS_IGNORE_CONFIGURED_ENDPOINT_URLS=true, so its SDK ignores ${opts.endpointVar}`,
    );
  }

  // Credentials of the container's own, not counting our placeholders.
  const ownCredentials = env.filter((e) => OWN_CREDENTIAL_ENV_VARS.includes(e.name) && !isPlaceholder(e));
  const placeholders = env.flatMap((e, i) => (isPlaceholder(e) ? [i] : []));
  if (placeholders.length > 0 && ownCredentials.length > 0) {
    // Another webhook (EKS IRSA / Pod Identity) added credentials after us; we are re-invoked. Static keys
    // come first in the SDK credential chains, so ours would hide the role: take them out again.
    // Highest index first, so the lower ones stay valid.
    for (const i of placeholders.reverse()) ops.push({ op: 'remove', path: `${containerPath}/env/${i}` });
    warnings.push(
      `${where} now has its own credentials (${ownCredentials[0]!.name}); ` +
        `the s3-mirror placeholder credentials were removed`,
    );
  } else if (opts.placeholderCredentials && placeholders.length === 0) {
    if (ownCredentials.length === 0 && hasEnvFrom && !opts.placeholdersDespiteEnvFrom) {
      warnings.push(
        `${where} uses envFrom, which may carry its own AWS credentials; no placeholder credentials were added ` +
          `(set the placeholder-credentials annotation to "true" to add them anyway)`,
      );
    } else if (ownCredentials.length === 0) {
      adds.push({ name: 'AWS_ACCESS_KEY_ID', value: PLACEHOLDER_ACCESS_KEY_ID });
      if (lastIndexOf(env, 'AWS_SECRET_ACCESS_KEY') < 0) {
        adds.push({ name: 'AWS_SECRET_ACCESS_KEY', value: PLACEHOLDER_SECRET_ACCESS_KEY });
      }
      if (lastIndexOf(env, 'AWS_REGION') < 0 && lastIndexOf(env, 'AWS_DEFAULT_REGION') < 0) {
        adds.push({ name: 'AWS_REGION', value: opts.region });
      }
    }
  }

  ops.push(...appendAllToArray(`${containerPath}/env`, container.env, adds));
  return { ops, warnings };
}
