/**
 * Pure core of the webhook: pod + namespace + configuration (+ what the edge learnt about the credentials
 * Secret) → JSON Patch ops and warnings. No I/O. Re-running it on its own output yields an empty patch.
 */
import {
  ANNOTATIONS,
  ENDPOINT_ENV_VARS,
  EXCLUDED_NAMESPACES,
  LABELS,
  PROXY_CONTAINER_NAME,
  STATUS_INJECTED,
  parseBool,
  parseOnOff,
  parseList,
  type EndpointEnvVar,
} from './annotations';
import { buildCaBundleVolume, isCaBundleKey, parseCaBundleRef, type CaBundleSource } from './ca-bundle';
import {
  BUCKET_LIST_RE,
  CREDENTIALS_MODES,
  IMAGE_RE,
  ROLE_ARN_RE,
  isDeletePolicy,
  isMirrorBucketTemplate,
  PROXY_LOG_LEVELS,
  QUANTITY_RE,
  proxyEndpointUrl,
  type Config,
  type CredentialsMode,
  type ProxyLogLevel,
  type SidecarMode,
} from './config';
import { planContainerEnv } from './env-injection';
import {
  BYTE_RATE_RULE,
  byteRateWarning,
  MIRROR_CONCURRENCY_RULE,
  parseByteRate,
  parseMirrorConcurrency,
} from './mirror-pacing';
import { pointer, prependToArray, setMapEntry, type PatchOp } from './json-patch';
import type { Container, Pod } from './pod';
import { podIdentityOf } from './pod-identity';
import { planVolumes } from './pod-volumes';
import {
  DEFAULT_VOLUME_NAMES,
  buildProxyContainer,
  buildProxyStateVolume,
  buildProxyTmpVolume,
  type SidecarSettings,
} from './sidecar-container';

export type SkipReason =
  | 'not-opted-in'
  | 'opted-out'
  | 'excluded-namespace'
  | 'already-injected'
  | 'host-network'
  | 'not-a-pod-create'
  | 'malformed-pod';

/** What the edge found out about the credentials Secret in the pod's namespace. */
export type SecretState = 'found' | 'missing' | 'unknown';

export interface BuildInput {
  pod: Pod;
  /** `request.namespace` from the AdmissionReview (pods from Deployments often have no metadata.namespace). */
  namespace: string;
  config: Config;
  credentialsSecret: SecretState;
}

export type BuildResult =
  | { action: 'skip'; reason: SkipReason; patch: []; warnings: string[] }
  | { action: 'inject'; reason: 'injected' | 'updated'; patch: PatchOp[]; warnings: string[] };

export type OptInDecision = { inject: true } | { inject: false; reason: SkipReason };

/** Opt-in and namespace rules only; the edge uses this to decide whether the Secret lookup is needed. */
export function decideOptIn(pod: Pod, namespace: string, config: Config): OptInDecision {
  if (EXCLUDED_NAMESPACES.includes(namespace) || namespace === config.webhook.namespace) {
    return { inject: false, reason: 'excluded-namespace' };
  }
  const annotation = parseBool(pod.metadata?.annotations?.[ANNOTATIONS.inject]);
  const label = parseBool(pod.metadata?.labels?.[LABELS.inject]);
  if (annotation === false) return { inject: false, reason: 'opted-out' };
  if (annotation !== true && label !== true) return { inject: false, reason: 'not-opted-in' };
  if (pod.spec.hostNetwork === true) return { inject: false, reason: 'host-network' };
  return { inject: true };
}

interface Resolved {
  sidecar: SidecarSettings;
  endpointVar: EndpointEnvVar;
  overwriteEndpoint: boolean;
  injectInit: boolean;
  placeholders: boolean;
  /** The pod set the placeholder annotation to true itself: envFrom containers get placeholders too. */
  placeholdersDespiteEnvFrom: boolean;
  skip: Set<string>;
}

/**
 * The pod's delete policy. Unlike other annotations, an invalid one does not fall back to the cluster
 * default (often `mirror`): the pod asked for some protection of its deletes, and a typo must not remove
 * it silently (a Deployment's pods are created by a controller: nobody sees the warning). The proxy gets
 * `keep`, which never deletes on the mirror, until the annotation is fixed.
 */
function deletePolicyOf(raw: string | undefined, fallback: string, warnings: string[]): string {
  if (raw === undefined) return fallback;
  const v = raw.trim();
  if (v === '' || isDeletePolicy(v)) return v === '' ? fallback : v;
  warnings.push(
    `annotation ${ANNOTATIONS.deletePolicy}="${raw}" is invalid: use mirror, keep or delay:<n><s|m|h|d> ` +
      '(e.g. delay:24h, at most 366d); until it is fixed the proxy keeps deleted objects on the mirror (keep)',
  );
  return 'keep';
}

/** The pod's CA bundle: its annotations over the cluster's default; an invalid one falls back with a warning. */
function caBundleOf(
  a: Record<string, string>,
  config: Config,
  warnings: string[],
): CaBundleSource | undefined {
  const p = config.proxy;
  let ref = p.caBundle;
  const rawRef = a[ANNOTATIONS.caBundle];
  if (rawRef !== undefined) {
    const parsed = parseCaBundleRef(rawRef);
    if (parsed !== undefined) ref = parsed;
    else
      warnings.push(
        `annotation ${ANNOTATIONS.caBundle}="${rawRef}" is invalid and was ignored (use configmap/<name> or secret/<name>)`,
      );
  }
  let key = p.caBundleKey;
  const rawKey = a[ANNOTATIONS.caBundleKey];
  if (rawKey !== undefined) {
    if (isCaBundleKey(rawKey.trim())) key = rawKey.trim();
    else warnings.push(`annotation ${ANNOTATIONS.caBundleKey}="${rawKey}" is invalid and was ignored`);
    if (ref === '') warnings.push(`annotation ${ANNOTATIONS.caBundleKey} has no effect without a CA bundle`);
  }
  return ref === '' ? undefined : { ...ref, key };
}

/** Applies the pod's annotation overrides to the configuration; invalid values fall back with a warning. */
function resolveSettings(pod: Pod, config: Config, warnings: string[]): Resolved {
  const a = pod.metadata?.annotations ?? {};
  const p = config.proxy;
  // `rule`: what a valid value is, for the warning.
  const pick = <T>(
    key: string,
    fallback: T,
    valid: (v: string) => boolean,
    convert: (v: string) => T,
    rule?: string,
  ): T => {
    const raw = a[key];
    if (raw === undefined) return fallback;
    const v = raw.trim();
    if (valid(v)) return convert(v);
    warnings.push(`annotation ${key}="${raw}" is invalid and was ignored${rule ? `: use ${rule}` : ''}`);
    return fallback;
  };
  const id = (v: string) => v;
  // A value the proxy takes in another form; '' keeps the cluster default.
  const converted = (key: string, fallback: string, parse: (v: string) => string | undefined, rule: string) =>
    pick(
      key,
      fallback,
      (v) => v === '' || parse(v) !== undefined,
      (v) => (v === '' ? fallback : parse(v)!),
      rule,
    );
  const isPort = (v: string) => /^\d{1,5}$/.test(v) && Number(v) >= 1 && Number(v) <= 65535;
  const quantity = (key: string, fallback: string) =>
    pick(key, fallback, (v) => v === '' || QUANTITY_RE.test(v), id);
  const bool = (key: string, fallback: boolean) =>
    pick(
      key,
      fallback,
      (v) => parseBool(v) !== undefined,
      (v) => parseBool(v)!,
    );

  const mode = pick<SidecarMode>(
    ANNOTATIONS.sidecarMode,
    config.injection.sidecarMode,
    (v) => v === 'native' || v === 'classic',
    (v) => v as SidecarMode,
  );
  const sidecar: SidecarSettings = {
    image: pick(ANNOTATIONS.image, p.image, (v) => IMAGE_RE.test(v), id),
    imagePullPolicy: p.imagePullPolicy,
    port: pick(ANNOTATIONS.proxyPort, p.port, isPort, Number),
    adminPort: pick(ANNOTATIONS.proxyAdminPort, p.adminPort, isPort, Number),
    logLevel: pick<ProxyLogLevel>(
      ANNOTATIONS.logLevel,
      p.logLevel,
      (v) => (PROXY_LOG_LEVELS as readonly string[]).includes(v),
      (v) => v as ProxyLogLevel,
    ),
    allowedBuckets: pick(
      ANNOTATIONS.allowedBuckets,
      p.allowedBuckets,
      (v) => v === '' || BUCKET_LIST_RE.test(v.replace(/\s+/g, '')),
      (v) => v.replace(/\s+/g, ''),
    ),
    resources: {
      cpuRequest: quantity(ANNOTATIONS.cpuRequest, p.resources.cpuRequest),
      cpuLimit: quantity(ANNOTATIONS.cpuLimit, p.resources.cpuLimit),
      memoryRequest: quantity(ANNOTATIONS.memoryRequest, p.resources.memoryRequest),
      memoryLimit: quantity(ANNOTATIONS.memoryLimit, p.resources.memoryLimit),
    },
    runAsUser: p.runAsUser,
    stateSizeLimit: quantity(ANNOTATIONS.stateSizeLimit, p.stateSizeLimit),
    mainEndpoint: p.mainEndpoint,
    mainRegion: p.mainRegion,
    mirrorEndpoint: p.mirrorEndpoint,
    mirrorRegion: p.mirrorRegion,
    credentialsSecretName: p.credentialsSecretName,
    credentialsMode: pick<CredentialsMode>(
      ANNOTATIONS.credentials,
      p.credentialsMode,
      (v) => (CREDENTIALS_MODES as readonly string[]).includes(v),
      (v) => v as CredentialsMode,
    ),
    mirrorRoleArn: pick(
      ANNOTATIONS.mirrorRoleArn,
      p.mirrorRoleArn,
      (v) => v === '' || ROLE_ARN_RE.test(v),
      id,
    ),
    mirrorBucketTemplate: pick(
      ANNOTATIONS.mirrorBucketTemplate,
      p.mirrorBucketTemplate,
      (v) => v === '' || isMirrorBucketTemplate(v),
      id,
    ),
    deletePolicy: deletePolicyOf(a[ANNOTATIONS.deletePolicy], p.deletePolicy, warnings),
    mirrorConcurrency: converted(
      ANNOTATIONS.mirrorConcurrency,
      p.mirrorConcurrency,
      parseMirrorConcurrency,
      MIRROR_CONCURRENCY_RULE,
    ),
    mirrorCatchupBytesPerSecond: converted(
      ANNOTATIONS.mirrorCatchupBytesPerSecond,
      p.mirrorCatchupBytesPerSecond,
      parseByteRate,
      BYTE_RATE_RULE,
    ),
    memoryReclaim: p.memoryReclaim,
    // Case and true/false tolerated: a pod that turns failover off for compliance must not keep it by a typo.
    failoverReads: pick(
      ANNOTATIONS.failoverReads,
      p.failoverReads,
      (v) => parseOnOff(v) !== undefined,
      (v) => parseOnOff(v) || p.failoverReads,
    ),
    mode,
  };
  const caBundle = caBundleOf(a, config, warnings);
  if (caBundle) sidecar.caBundle = caBundle;
  if (sidecar.credentialsMode === 'pod-identity') {
    const identity = podIdentityOf(pod.spec.containers);
    if (identity) sidecar.podIdentity = identity;
    // The EKS webhook may still come after ours and give every container, init containers included, its env.
    else
      warnings.push(
        'credentials pod-identity: no container has IRSA or EKS Pod Identity env yet; the proxy gets it only ' +
          'if the EKS Pod Identity webhook also mutates init containers',
      );
  }
  // A valid rate the pod set that is most likely MiB/s meant: the cluster's own is the admin's to choose.
  const podRate = parseByteRate(a[ANNOTATIONS.mirrorCatchupBytesPerSecond]?.trim() ?? '');
  const rateWarning =
    podRate && byteRateWarning(`annotation ${ANNOTATIONS.mirrorCatchupBytesPerSecond}`, podRate);
  if (rateWarning) warnings.push(rateWarning);
  if (sidecar.port === sidecar.adminPort) {
    warnings.push(`proxy port and admin port are both ${sidecar.port}; using the configured ports`);
    sidecar.port = p.port;
    sidecar.adminPort = p.adminPort;
  }
  return {
    sidecar,
    endpointVar: pick<EndpointEnvVar>(
      ANNOTATIONS.endpointEnv,
      config.injection.endpointEnv,
      (v) => (ENDPOINT_ENV_VARS as readonly string[]).includes(v),
      (v) => v as EndpointEnvVar,
    ),
    overwriteEndpoint: bool(ANNOTATIONS.overwriteEndpoint, false),
    injectInit: bool(ANNOTATIONS.injectInitContainers, config.injection.injectInitContainers),
    placeholders: bool(ANNOTATIONS.placeholderCredentials, config.injection.placeholderCredentials),
    placeholdersDespiteEnvFrom: parseBool(a[ANNOTATIONS.placeholderCredentials]) === true,
    skip: new Set(parseList(a[ANNOTATIONS.skipContainers])),
  };
}

/** Whether a container is the injected proxy (also how the uninjected-pod check recognises it). */
export function isProxy(c: Container): boolean {
  return c.name === PROXY_CONTAINER_NAME;
}

function portWarnings(pod: Pod, s: SidecarSettings): string[] {
  const out: string[] = [];
  const all = [...(pod.spec.initContainers ?? []), ...pod.spec.containers].filter((c) => !isProxy(c));
  for (const c of all) {
    for (const port of c.ports ?? []) {
      if (port.containerPort === s.port || port.containerPort === s.adminPort) {
        out.push(
          `container "${c.name}" declares port ${port.containerPort}, which the s3-mirror proxy also binds; ` +
            `one of them will fail to start (move the proxy with the ${ANNOTATIONS.proxyPort} / ${ANNOTATIONS.proxyAdminPort} annotations)`,
        );
      }
    }
  }
  return out;
}

export function buildPatch(input: BuildInput): BuildResult {
  const { pod, namespace, config } = input;
  const decision = decideOptIn(pod, namespace, config);
  if (!decision.inject) {
    const warnings =
      decision.reason === 'host-network'
        ? ['s3-mirror proxy not injected: pods with hostNetwork would bind the proxy ports on the node']
        : [];
    return { action: 'skip', reason: decision.reason, patch: [], warnings };
  }

  const warnings: string[] = [];
  const r = resolveSettings(pod, config, warnings);
  const spec = pod.spec;
  const meta = pod.metadata ?? {};
  const initContainers = spec.initContainers ?? [];
  const sidecarPresent = initContainers.some(isProxy) || spec.containers.some(isProxy);
  const ops: PatchOp[] = [];

  // On a second pass, late containers must point at the proxy that is really there, even if the
  // configuration changed since it was injected.
  const existingProxy = [...initContainers, ...spec.containers].find(isProxy);
  const listen = existingProxy?.env?.find((e) => e.name === 'LISTEN_ADDR')?.value;
  const existingPort = listen !== undefined ? Number(/:(\d{1,5})$/.exec(listen)?.[1]) : NaN;
  const endpointPort = Number.isInteger(existingPort) && existingPort > 0 ? existingPort : r.sidecar.port;

  // 1. Env ops first, at the original indices (inserting the proxy later shifts them).
  const envOptions = {
    endpointVar: r.endpointVar,
    endpointUrl: proxyEndpointUrl({ port: endpointPort }),
    overwriteEndpoint: r.overwriteEndpoint,
    placeholderCredentials: r.placeholders,
    placeholdersDespiteEnvFrom: r.placeholdersDespiteEnvFrom,
    region: r.sidecar.mainRegion,
  };
  const envTargets: [string, Container[], boolean][] = [
    ['initContainers', initContainers, r.injectInit],
    ['containers', spec.containers, true],
  ];
  for (const [field, list, enabled] of envTargets) {
    list.forEach((c, i) => {
      if (isProxy(c) || r.skip.has(c.name)) return;
      // Native sidecars of other tools run alongside the app, so they count as app containers.
      if (!enabled && c.restartPolicy !== 'Always') return;
      const plan = planContainerEnv(pointer('spec', field, i), c, envOptions);
      ops.push(...plan.ops);
      warnings.push(...plan.warnings);
    });
  }

  const names = new Set([...initContainers, ...spec.containers].map((c) => c.name));
  for (const name of r.skip) {
    if (!names.has(name))
      warnings.push(`annotation ${ANNOTATIONS.skipContainers} names no container "${name}"`);
  }

  // 2. The proxy itself, its volumes, and the status annotation.
  if (!sidecarPresent) {
    const ca = r.sidecar.caBundle;
    const volumes = planVolumes(spec.volumes, [
      buildProxyTmpVolume(DEFAULT_VOLUME_NAMES.tmp),
      buildProxyStateVolume(r.sidecar.stateSizeLimit, DEFAULT_VOLUME_NAMES.state),
      ...(ca ? [buildCaBundleVolume(ca, DEFAULT_VOLUME_NAMES.ca)] : []),
    ]);
    const [tmp, state, caVolume] = volumes.names as [string, string, string | undefined];
    const container = buildProxyContainer({
      ...r.sidecar,
      volumeNames: { tmp, state, ca: caVolume ?? DEFAULT_VOLUME_NAMES.ca },
    });
    if (r.sidecar.mode === 'native') {
      // After native sidecars already present (a mesh proxy should be up before ours), before every regular
      // init container (so they can use S3 through the proxy).
      let at = 0;
      initContainers.forEach((c, i) => {
        if (c.restartPolicy === 'Always') at = i + 1;
      });
      ops.push(
        at === 0
          ? prependToArray('/spec/initContainers', spec.initContainers, container)
          : { op: 'add', path: `/spec/initContainers/${at}`, value: container },
      );
    } else {
      ops.push(prependToArray('/spec/containers', spec.containers, container));
      const isJob =
        (meta.ownerReferences ?? []).some((o) => o.kind === 'Job') ||
        (spec.restartPolicy ?? 'Always') !== 'Always';
      if (isJob) {
        warnings.push(
          'classic sidecar mode: the proxy keeps running, so this pod will not complete on its own',
        );
      }
    }
    ops.push(...volumes.ops);
    warnings.push(...volumes.warnings, ...portWarnings(pod, r.sidecar));
  }

  // Opt-in requires an annotation or label, so metadata exists here; annotations may not.
  let annotations: Record<string, string> | null | undefined = meta.annotations;
  const setAnnotation = (key: string, value: string) => {
    if (annotations?.[key] === value) return;
    ops.push(setMapEntry('/metadata/annotations', annotations, key, value));
    annotations = { ...(annotations ?? {}), [key]: value };
  };
  if (!sidecarPresent && r.sidecar.mode === 'classic') {
    // kubectl logs/exec should keep defaulting to the app, not the proxy now in front of it.
    const defaultKey = 'kubectl.kubernetes.io/default-container';
    if (annotations?.[defaultKey] === undefined) setAnnotation(defaultKey, spec.containers[0]!.name);
  }
  if (ops.length > 0 || meta.annotations?.[ANNOTATIONS.status] !== STATUS_INJECTED) {
    setAnnotation(ANNOTATIONS.status, STATUS_INJECTED);
  }

  if (input.credentialsSecret === 'missing') {
    warnings.push(
      `Secret "${r.sidecar.credentialsSecretName}" not found in namespace "${namespace}": ` +
        `the s3-mirror proxy cannot start until it exists`,
    );
  } else if (input.credentialsSecret === 'unknown') {
    warnings.push(`could not check Secret "${r.sidecar.credentialsSecretName}" in namespace "${namespace}"`);
  }

  if (ops.length === 0) return { action: 'skip', reason: 'already-injected', patch: [], warnings };
  return { action: 'inject', reason: sidecarPresent ? 'updated' : 'injected', patch: ops, warnings };
}
