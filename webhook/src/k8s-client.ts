/**
 * The I/O edge to the Kubernetes API. @kubernetes/client-node is ESM-only, so it is loaded with a dynamic
 * import here and nowhere else. Credentials come from KUBECONFIG when set, else the in-cluster ServiceAccount.
 */
import {
  KubeApiError,
  type KubeApi,
  type LeaseObject,
  type NamespaceObject,
  type SecretObject,
  type WebhookConfigurationObject,
} from './kube-api';
import type { SecretState } from './patch-builder';

type ClientNode = typeof import('@kubernetes/client-node', { with: { 'resolution-mode': 'import' } });

/** Kept as a real `import()` in the CommonJS output (module: Node16). */
async function loadClientNode(): Promise<ClientNode> {
  return import('@kubernetes/client-node');
}

/** Plain JSON (client-node turns times into Date objects). */
function plain<T>(v: unknown): T {
  return JSON.parse(JSON.stringify(v)) as T;
}

function toApiError(err: unknown): unknown {
  const e = err as { code?: unknown; body?: unknown; message?: string };
  if (typeof e?.code === 'number') {
    let message = `Kubernetes API error ${e.code}`;
    const body = typeof e.body === 'string' ? safeJson(e.body) : e.body;
    const m = (body as { message?: unknown } | undefined)?.message;
    if (typeof m === 'string') message += `: ${m}`;
    return new KubeApiError(e.code, message);
  }
  return err;
}

function safeJson(s: string): unknown {
  try {
    return JSON.parse(s);
  } catch {
    return undefined;
  }
}

async function call<T>(fn: () => Promise<unknown>): Promise<T> {
  try {
    return plain<T>(await fn());
  } catch (err) {
    throw toApiError(err);
  }
}

async function callOrUndefined<T>(fn: () => Promise<unknown>): Promise<T | undefined> {
  try {
    return await call<T>(fn);
  } catch (err) {
    if (err instanceof KubeApiError && err.status === 404) return undefined;
    throw err;
  }
}

export async function createKubeApi(): Promise<KubeApi> {
  const k8s = await loadClientNode();
  const kc = new k8s.KubeConfig();
  kc.loadFromDefault();
  const core = kc.makeApiClient(k8s.CoreV1Api);
  const coordination = kc.makeApiClient(k8s.CoordinationV1Api);
  const admission = kc.makeApiClient(k8s.AdmissionregistrationV1Api);
  const jsonPatch = k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.JsonPatch);

  const metadataOnly = k8s.setHeaderOptions(
    'Accept',
    'application/json;as=PartialObjectMetadata;g=meta.k8s.io;v=v1',
  );

  return {
    secretExists: async (namespace, name) =>
      (await callOrUndefined(() => core.readNamespacedSecret({ namespace, name }, metadataOnly))) !==
      undefined,
    getSecret: (namespace, name) =>
      callOrUndefined<SecretObject>(() => core.readNamespacedSecret({ namespace, name })),
    createSecret: (namespace, body) =>
      call<SecretObject>(() => core.createNamespacedSecret({ namespace, body })),
    replaceSecret: (namespace, body) =>
      call<SecretObject>(() => core.replaceNamespacedSecret({ namespace, name: body.metadata.name, body })),
    getLease: (namespace, name) =>
      callOrUndefined<LeaseObject>(() => coordination.readNamespacedLease({ namespace, name })),
    createLease: (namespace, body) =>
      call<LeaseObject>(() => coordination.createNamespacedLease({ namespace, body: body as never })),
    replaceLease: (namespace, body) =>
      call<LeaseObject>(() =>
        coordination.replaceNamespacedLease({ namespace, name: body.metadata.name, body: body as never }),
      ),
    getMutatingWebhookConfiguration: (name) =>
      callOrUndefined<WebhookConfigurationObject>(() => admission.readMutatingWebhookConfiguration({ name })),
    patchMutatingWebhookConfiguration: async (name, ops) => {
      await call(() => admission.patchMutatingWebhookConfiguration({ name, body: ops }, jsonPatch));
    },
    listPods: async ({ limit, continue: token, fieldSelector }) => {
      const list = await call<{ items?: unknown[]; metadata?: { _continue?: string } }>(() =>
        core.listPodForAllNamespaces({ limit, _continue: token, fieldSelector }),
      );
      // client-node names the field `_continue` (`metadata.continue` on the wire); '' also means "last page".
      const next = list.metadata?._continue;
      return { items: list.items ?? [], continue: next ? next : undefined };
    },
    getNamespace: (name) => callOrUndefined<NamespaceObject>(() => core.readNamespace({ name })),
    createEvent: async (namespace, body) => {
      await call(() => core.createNamespacedEvent({ namespace, body: body as never }));
    },
  };
}

/**
 * Credentials-Secret lookup for admission: bounded by a timeout, cached per namespace for a short time, and it
 * never rejects (an error becomes 'unknown', which only adds a warning). Uses GET on the named Secret.
 */
export function secretChecker(
  api: Pick<KubeApi, 'secretExists'>,
  secretName: string,
  timeoutMs: number,
  cacheSeconds: number,
  onResult: (state: SecretState) => void = () => undefined,
  now: () => number = Date.now,
): (namespace: string) => Promise<SecretState> {
  const cache = new Map<string, { state: SecretState; at: number }>();
  return async (namespace) => {
    const hit = cache.get(namespace);
    if (hit && now() - hit.at < cacheSeconds * 1000) return hit.state;
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<SecretState>((resolve) => {
      timer = setTimeout(() => resolve('unknown'), timeoutMs);
    });
    const lookup = api.secretExists(namespace, secretName).then(
      (found): SecretState => (found ? 'found' : 'missing'),
      (): SecretState => 'unknown',
    );
    const state = await Promise.race([lookup, timeout]);
    clearTimeout(timer);
    onResult(state);
    if (state !== 'unknown') {
      if (cache.size > 10_000) cache.clear();
      cache.set(namespace, { state, at: now() });
    }
    return state;
  };
}
