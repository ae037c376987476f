/**
 * A small HTTPS stand-in for the Kubernetes API, implementing only the paths and verbs the webhook uses, as
 * strictly as the real API server where it matters: wrong verb/path → 404/405, PATCH only as
 * application/json-patch+json (a failed `test` op → 422), PUT requires the current metadata.resourceVersion
 * (stale → 409 Conflict, missing → 422), POST of an existing name → 409 AlreadyExists, bearer token required.
 * Pods are listed cluster-wide in pages (`limit`, `continue`; an unknown token → 410 Gone) with the
 * `status.phase` field selectors the real server supports; namespaces are read by name; Events are created.
 */
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import { applyPatch, deepClone } from 'fast-json-patch';
import { generateCa, generateServingCert } from '../src/tls/pki';

export interface RecordedRequest {
  method: string;
  path: string;
  /** The query string, without `?` ('' when none). */
  query: string;
  contentType: string | undefined;
  accept: string | undefined;
  status: number;
  body: unknown;
}

type Obj = {
  metadata: { name: string; namespace?: string; resourceVersion?: string; [k: string]: unknown };
  [k: string]: unknown;
};

export interface FakeKubeApi {
  url: string;
  caPem: string;
  token: string;
  requests: RecordedRequest[];
  /** Requests that matched no implemented route. */
  unexpected: RecordedRequest[];
  secrets: Map<string, Obj>;
  leases: Map<string, Obj>;
  webhookConfigurations: Map<string, Obj>;
  /** Pods by `namespace/name` (listed cluster-wide, in key order). */
  pods: Map<string, Obj>;
  /** Namespaces by name. */
  namespaces: Map<string, Obj>;
  /** Events by `namespace/name`. */
  events: Map<string, Obj>;
  /** Called before a PUT is checked; lets a test simulate a concurrent writer. */
  beforePut?: (kind: 'secrets' | 'leases', key: string) => void;
  bump(obj: Obj): void;
  kubeconfig(): string;
  close(): Promise<void>;
}

const ROUTES: { re: RegExp; kind: 'secrets' | 'events' | 'leases' | 'mwc' }[] = [
  { re: /^\/api\/v1\/namespaces\/([^/]+)\/secrets(?:\/([^/]+))?$/, kind: 'secrets' },
  { re: /^\/api\/v1\/namespaces\/([^/]+)\/events(?:\/([^/]+))?$/, kind: 'events' },
  { re: /^\/apis\/coordination\.k8s\.io\/v1\/namespaces\/([^/]+)\/leases(?:\/([^/]+))?$/, kind: 'leases' },
  {
    re: /^\/apis\/admissionregistration\.k8s\.io\/v1\/mutatingwebhookconfigurations(?:\/([^/]+))?$/,
    kind: 'mwc',
  },
];

const KINDS = {
  secrets: { apiVersion: 'v1', kind: 'Secret' },
  events: { apiVersion: 'v1', kind: 'Event' },
  leases: { apiVersion: 'coordination.k8s.io/v1', kind: 'Lease' },
  mwc: { apiVersion: 'admissionregistration.k8s.io/v1', kind: 'MutatingWebhookConfiguration' },
};

export async function startFakeKubeApi(): Promise<FakeKubeApi> {
  const now = Date.now();
  const ca = generateCa('fake-kube-ca', now, 86400);
  const serving = generateServingCert(ca, ['localhost', '127.0.0.1'], now, 86400);
  const token = 'fake-token-' + Math.random().toString(36).slice(2);
  let rv = 1000;

  const api: FakeKubeApi = {
    url: '',
    caPem: ca.certPem,
    token,
    requests: [],
    unexpected: [],
    secrets: new Map(),
    leases: new Map(),
    webhookConfigurations: new Map(),
    pods: new Map(),
    namespaces: new Map(),
    events: new Map(),
    bump(obj) {
      obj.metadata.resourceVersion = String(++rv);
    },
    kubeconfig() {
      return JSON.stringify({
        apiVersion: 'v1',
        kind: 'Config',
        clusters: [
          {
            name: 'fake',
            cluster: {
              server: api.url,
              'certificate-authority-data': Buffer.from(ca.certPem).toString('base64'),
            },
          },
        ],
        users: [{ name: 'fake', user: { token } }],
        contexts: [{ name: 'fake', context: { cluster: 'fake', user: 'fake' } }],
        'current-context': 'fake',
      });
    },
    close: async () => undefined,
  };

  const server = https.createServer(
    { cert: serving.certPem, key: serving.keyPem, minVersion: 'TLSv1.2' },
    (req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        const url = new URL(req.url ?? '/', 'https://fake');
        const path = url.pathname;
        const raw = Buffer.concat(chunks).toString('utf8');
        let body: unknown;
        try {
          body = raw === '' ? undefined : JSON.parse(raw);
        } catch {
          body = raw;
        }
        const rec: RecordedRequest = {
          method: req.method ?? '',
          path,
          query: url.search.replace(/^\?/, ''),
          contentType: req.headers['content-type'],
          accept: req.headers.accept,
          status: 0,
          body,
        };
        api.requests.push(rec);
        const send = (status: number, obj: unknown) => {
          rec.status = status;
          res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(obj));
        };
        const fail = (status: number, reason: string, message: string) =>
          send(status, {
            kind: 'Status',
            apiVersion: 'v1',
            metadata: {},
            status: 'Failure',
            message,
            reason,
            code: status,
          });

        if (req.headers.authorization !== `Bearer ${token}`) return fail(401, 'Unauthorized', 'Unauthorized');
        if (path === '/api/v1/pods' && req.method === 'GET') {
          const listed = listPods(api.pods, url.searchParams);
          if ('error' in listed) return fail(listed.error[0], listed.error[1], listed.error[2]);
          return send(200, {
            apiVersion: 'v1',
            kind: 'PodList',
            metadata: { resourceVersion: String(rv), ...(listed.next ? { continue: listed.next } : {}) },
            items: listed.items.map((o) => ({ apiVersion: 'v1', kind: 'Pod', ...deepClone(o) })),
          });
        }
        const nsMatch = /^\/api\/v1\/namespaces\/([^/]+)$/.exec(path);
        if (nsMatch && req.method === 'GET') {
          const o = api.namespaces.get(nsMatch[1]!);
          if (!o) return fail(404, 'NotFound', `namespaces "${nsMatch[1]}" not found`);
          return send(200, { apiVersion: 'v1', kind: 'Namespace', ...deepClone(o) });
        }
        const route = ROUTES.map((r) => ({ r, m: r.re.exec(path) })).find((x) => x.m);
        if (!route) {
          api.unexpected.push(rec);
          return fail(404, 'NotFound', `the server could not find the requested resource (${path})`);
        }
        const kind = route.r.kind;
        const namespace = kind === 'mwc' ? undefined : route.m![1]!;
        const name = kind === 'mwc' ? route.m![1] : route.m![2];
        const store =
          kind === 'secrets'
            ? api.secrets
            : kind === 'events'
              ? api.events
              : kind === 'leases'
                ? api.leases
                : api.webhookConfigurations;
        const key = namespace ? `${namespace}/${name}` : (name ?? '');
        const method = req.method;
        const wrap = (o: Obj) => ({ ...KINDS[kind], ...deepClone(o) });

        if (method === 'GET' && name) {
          const o = store.get(key);
          if (!o) return fail(404, 'NotFound', `${kind} "${name}" not found`);
          if (kind === 'secrets' && (req.headers.accept ?? '').includes('as=PartialObjectMetadata')) {
            return send(200, {
              apiVersion: 'meta.k8s.io/v1',
              kind: 'PartialObjectMetadata',
              metadata: deepClone(o.metadata),
            });
          }
          return send(200, wrap(o));
        }
        if (method === 'POST' && !name && kind !== 'mwc') {
          if (!(req.headers['content-type'] ?? '').startsWith('application/json'))
            return fail(415, 'UnsupportedMediaType', 'bad content type');
          const o = body as Obj;
          if (!o?.metadata?.name) return fail(422, 'Invalid', 'metadata.name: Required value');
          if (o.metadata.namespace && o.metadata.namespace !== namespace)
            return fail(400, 'BadRequest', 'namespace mismatch');
          if (o.metadata.resourceVersion)
            return fail(500, 'InternalError', 'resourceVersion should not be set on objects to be created');
          if (kind === 'events') {
            // As the real server validates a core/v1 Event without eventTime.
            const inv = (o as { involvedObject?: { namespace?: string } }).involvedObject;
            if (inv?.namespace !== namespace)
              return fail(422, 'Invalid', 'involvedObject.namespace: does not match event.namespace');
            const e = o as { reason?: unknown; type?: unknown };
            if (typeof e.reason !== 'string' || (e.type !== 'Normal' && e.type !== 'Warning'))
              return fail(422, 'Invalid', 'reason and type (Normal, Warning) are required');
          }
          const k = `${namespace}/${o.metadata.name}`;
          if (store.has(k)) return fail(409, 'AlreadyExists', `${kind} "${o.metadata.name}" already exists`);
          const stored = deepClone(o) as Obj;
          delete (stored as Record<string, unknown>).apiVersion;
          delete (stored as Record<string, unknown>).kind;
          stored.metadata.namespace = namespace;
          api.bump(stored);
          store.set(k, stored);
          return send(201, wrap(stored));
        }
        if (method === 'PUT' && name && kind !== 'mwc' && kind !== 'events') {
          api.beforePut?.(kind as 'secrets' | 'leases', key);
          if (!(req.headers['content-type'] ?? '').startsWith('application/json'))
            return fail(415, 'UnsupportedMediaType', 'bad content type');
          const o = body as Obj;
          const current = store.get(key);
          if (!current) return fail(404, 'NotFound', `${kind} "${name}" not found`);
          if (o?.metadata?.name !== name)
            return fail(400, 'BadRequest', 'name in body does not match the URL');
          // The real server allows an unconditional update without resourceVersion; the webhook must never rely on it.
          if (!o.metadata.resourceVersion)
            return fail(422, 'Invalid', 'metadata.resourceVersion: required by this fake');
          if (o.metadata.resourceVersion !== current.metadata.resourceVersion) {
            return fail(
              409,
              'Conflict',
              `Operation cannot be fulfilled on ${kind} "${name}": the object has been modified; please apply your changes to the latest version and try again`,
            );
          }
          const stored = deepClone(o) as Obj;
          delete (stored as Record<string, unknown>).apiVersion;
          delete (stored as Record<string, unknown>).kind;
          stored.metadata.namespace = namespace;
          api.bump(stored);
          store.set(key, stored);
          return send(200, wrap(stored));
        }
        if (method === 'PATCH' && name && kind === 'mwc') {
          const ct = req.headers['content-type'] ?? '';
          if (ct !== 'application/json-patch+json') {
            return fail(
              415,
              'UnsupportedMediaType',
              `this fake accepts only application/json-patch+json, got ${ct}`,
            );
          }
          const current = store.get(key);
          if (!current) return fail(404, 'NotFound', `mutatingwebhookconfigurations "${name}" not found`);
          if (!Array.isArray(body)) return fail(400, 'BadRequest', 'json patch body must be an array');
          let next: Obj;
          try {
            next = applyPatch(deepClone(current), body as never, true, false).newDocument as Obj;
          } catch (err) {
            return fail(
              422,
              'Invalid',
              `the server rejected our request due to an error in our request: ${(err as Error).message}`,
            );
          }
          const prev = current.metadata.resourceVersion;
          if (next.metadata.resourceVersion !== prev) return fail(409, 'Conflict', 'resourceVersion changed');
          api.bump(next);
          store.set(key, next);
          return send(200, wrap(next));
        }
        api.unexpected.push(rec);
        return fail(405, 'MethodNotAllowed', `${method} is not supported on ${path}`);
      });
    },
  );
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  api.url = `https://127.0.0.1:${(server.address() as AddressInfo).port}`;
  api.close = () =>
    new Promise<void>((resolve) => {
      server.close(() => resolve());
      server.closeAllConnections();
    });
  return api;
}

/** Seeds a MutatingWebhookConfiguration like deploy/ would install it (no caBundle yet). */
export function seedWebhookConfiguration(api: FakeKubeApi, name: string, webhookNames: string[]): void {
  const obj: Obj = {
    metadata: { name },
    webhooks: webhookNames.map((w) => ({
      name: w,
      admissionReviewVersions: ['v1'],
      sideEffects: 'None',
      clientConfig: {
        service: { name: 's3-mirror-webhook', namespace: 's3-mirror-system', path: '/mutate', port: 443 },
      },
    })),
  };
  api.bump(obj);
  api.webhookConfigurations.set(name, obj);
}

export function seedSecret(
  api: FakeKubeApi,
  namespace: string,
  name: string,
  data: Record<string, string> = {},
): void {
  const obj: Obj = { metadata: { name, namespace }, type: 'Opaque', data };
  api.bump(obj);
  api.secrets.set(`${namespace}/${name}`, obj);
}

/** Maps a recorded request to the RBAC access it needs (verb from method, as the API server does). */
export function accessOf(r: RecordedRequest): {
  apiGroup: string;
  resource: string;
  verb: string;
  namespace?: string;
  name?: string;
} {
  const verbs: Record<string, string> = {
    GET: 'get',
    POST: 'create',
    PUT: 'update',
    PATCH: 'patch',
    DELETE: 'delete',
  };
  let m = /^\/api\/v1\/(pods|namespaces)(?:\/([^/]+))?$/.exec(r.path);
  if (m)
    return {
      apiGroup: '',
      resource: m[1]!,
      verb: r.method === 'GET' && !m[2] ? 'list' : verbs[r.method]!,
      name: m[2],
    };
  m = /^\/api\/v1\/namespaces\/([^/]+)\/([^/]+)(?:\/([^/]+))?$/.exec(r.path);
  if (m)
    return {
      apiGroup: '',
      resource: m[2]!,
      verb: r.method === 'GET' && !m[3] ? 'list' : verbs[r.method]!,
      namespace: m[1],
      name: m[3],
    };
  m = /^\/apis\/([^/]+)\/v1\/namespaces\/([^/]+)\/([^/]+)(?:\/([^/]+))?$/.exec(r.path);
  if (m)
    return {
      apiGroup: m[1]!,
      resource: m[3]!,
      verb: r.method === 'GET' && !m[4] ? 'list' : verbs[r.method]!,
      namespace: m[2],
      name: m[4],
    };
  m = /^\/apis\/([^/]+)\/v1\/([^/]+)(?:\/([^/]+))?$/.exec(r.path);
  if (m)
    return {
      apiGroup: m[1]!,
      resource: m[2]!,
      verb: r.method === 'GET' && !m[3] ? 'list' : verbs[r.method]!,
      name: m[3],
    };
  return { apiGroup: '?', resource: r.path, verb: r.method };
}

const POD_FIELD_SELECTOR_RE = /^status\.phase(!=|==?)([A-Za-z]+)$/;

/**
 * One page of the cluster-wide pod list, in key order. The continue token names the last key served, so pods
 * added or removed between pages are seen or not as with the real server's consistent reads; a token this
 * fake did not issue is 410 Gone (as an expired one is).
 */
function listPods(
  pods: Map<string, Obj>,
  q: URLSearchParams,
): { items: Obj[]; next?: string } | { error: [number, string, string] } {
  const limit = Number(q.get('limit') ?? '0');
  if (!Number.isInteger(limit) || limit < 0) return { error: [400, 'BadRequest', 'bad limit'] };
  const filters: ((o: Obj) => boolean)[] = [];
  for (const term of (q.get('fieldSelector') ?? '').split(',').filter((t) => t !== '')) {
    const m = POD_FIELD_SELECTOR_RE.exec(term);
    if (!m) return { error: [400, 'BadRequest', `field label not supported by this fake: ${term}`] };
    const phaseOf = (o: Obj) => (o as { status?: { phase?: string } }).status?.phase ?? '';
    filters.push(m[1] === '!=' ? (o) => phaseOf(o) !== m[2] : (o) => phaseOf(o) === m[2]);
  }
  let after = '';
  const token = q.get('continue');
  if (token) {
    const decoded = Buffer.from(token, 'base64url').toString('utf8');
    if (!decoded.startsWith('fake-continue:'))
      return { error: [410, 'Expired', 'The provided continue parameter is too old'] };
    after = decoded.slice('fake-continue:'.length);
  }
  const keys = [...pods.keys()].sort().filter((k) => k > after);
  const items: Obj[] = [];
  let last = '';
  for (const k of keys) {
    const o = pods.get(k)!;
    if (!filters.every((f) => f(o))) continue;
    if (limit > 0 && items.length === limit) {
      return { items, next: Buffer.from(`fake-continue:${last}`).toString('base64url') };
    }
    items.push(o);
    last = k;
  }
  return { items };
}

/** Seeds a pod (uid and creationTimestamp filled in unless given). */
export function seedPod(
  api: FakeKubeApi,
  pod: { metadata: Record<string, unknown>; [k: string]: unknown },
): Obj {
  const obj = deepClone(pod) as Obj;
  obj.metadata.uid ??= `uid-${Math.random().toString(36).slice(2)}-${obj.metadata.name}`;
  obj.metadata.creationTimestamp ??= new Date(Date.now() - 3600_000).toISOString().replace(/\.\d{3}Z$/, 'Z');
  api.bump(obj);
  api.pods.set(`${obj.metadata.namespace}/${obj.metadata.name}`, obj);
  return obj;
}

export function seedNamespace(api: FakeKubeApi, name: string, labels: Record<string, string> = {}): void {
  const obj: Obj = { metadata: { name, labels: { 'kubernetes.io/metadata.name': name, ...labels } } };
  api.bump(obj);
  api.namespaces.set(name, obj);
}
