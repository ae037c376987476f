/**
 * Hostile and malformed input to the admission endpoint (issue 7), through the real express app and body
 * parser on a loopback HTTP server: every request gets a clear JSON answer (a 4xx error, or an
 * AdmissionReview that allows the pod), the process never crashes or hangs, and memory stays bounded.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { gzipSync } from 'node:zlib';
import { ANNOTATIONS } from '../src/annotations';
import { MUTATE_PATH } from '../src/config';
import { createLogger } from '../src/log';
import { createMetrics } from '../src/metrics';
import type { Pod } from '../src/pod';
import { createAdmissionApp, MAX_NAMESPACE_LABELS, OTHER_NAMESPACE_LABEL } from '../src/server';
import { applyOps, assertValidPod, proxyCount, testConfig } from './fixtures';

// A hang guard, not a pass condition: the gzip bomb alone takes seconds on a busy machine.
jest.setTimeout(60_000);

const MAX_BODY = 64 * 1024;
let server: http.Server;
let port: number;
const metrics = createMetrics();
const secretLookups: string[] = [];

beforeAll(async () => {
  const config = testConfig({ MAX_BODY_BYTES: String(MAX_BODY) });
  const app = createAdmissionApp(
    {
      config,
      logger: createLogger('error'),
      metrics,
      checkSecret: async (ns) => {
        secretLookups.push(ns);
        return 'found';
      },
    },
    () => ({ ready: true, text: 'ready' }),
  );
  server = http.createServer(app);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  port = (server.address() as AddressInfo).port;
});

afterAll(async () => {
  await new Promise<void>((resolve) => {
    server.close(() => resolve());
    server.closeAllConnections();
  });
});

interface Reply {
  status: number;
  json: any;
  text: string;
}

function post(body: string | Buffer, headers: Record<string, string> = {}, method = 'POST'): Promise<Reply> {
  const data = typeof body === 'string' ? Buffer.from(body) : body;
  return new Promise((resolve, reject) => {
    const req = http.request(
      {
        host: '127.0.0.1',
        port,
        path: MUTATE_PATH,
        method,
        agent: false,
        headers: { 'content-type': 'application/json', 'content-length': String(data.length), ...headers },
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          let json: unknown;
          try {
            json = JSON.parse(text);
          } catch {
            json = undefined;
          }
          resolve({ status: res.statusCode ?? 0, json, text });
        });
      },
    );
    req.on('error', reject);
    req.end(method === 'GET' ? undefined : data);
  });
}

let uidCounter = 0;
function review(object: unknown, request: Record<string, unknown> = {}): Record<string, any> {
  return {
    apiVersion: 'admission.k8s.io/v1',
    kind: 'AdmissionReview',
    request: {
      uid: `uid-${++uidCounter}`,
      kind: { group: '', version: 'v1', kind: 'Pod' },
      resource: { group: '', version: 'v1', resource: 'pods' },
      operation: 'CREATE',
      namespace: 'apps',
      object,
      ...request,
    },
  };
}

const optedIn = (spec: Record<string, unknown> = { containers: [{ name: 'app', image: 'busybox' }] }): Pod =>
  ({
    metadata: { generateName: 'p-', annotations: { [ANNOTATIONS.inject]: 'true' } },
    spec,
  }) as unknown as Pod;

/** A clear error: a 4xx status and a JSON body with a non-empty string `error`. */
function expectClearError(reply: Reply, status: number, message?: string | RegExp): void {
  expect(reply.status).toBe(status);
  expect(typeof reply.json?.error).toBe('string');
  expect(reply.json.error.length).toBeGreaterThan(0);
  if (message !== undefined) expect(reply.json.error).toMatch(message);
}

/** The pod is allowed, the uid echoed, and any patch applies to the pod and validates. */
function expectAllowed(reply: Reply, sent: Record<string, any>): Pod | undefined {
  expect(reply.status).toBe(200);
  expect(reply.json.apiVersion).toBe('admission.k8s.io/v1');
  expect(reply.json.kind).toBe('AdmissionReview');
  expect(reply.json.response.uid).toBe(sent.request.uid);
  expect(reply.json.response.allowed).toBe(true);
  if (reply.json.response.patch === undefined) return undefined;
  const ops = JSON.parse(Buffer.from(reply.json.response.patch, 'base64').toString('utf8'));
  const patched = applyOps(sent.request.object, ops);
  assertValidPod(patched);
  expect(proxyCount(patched)).toBe(1);
  return patched;
}

describe('envelope', () => {
  test.each([
    ['v1beta1', { apiVersion: 'admission.k8s.io/v1beta1' }, /unsupported apiVersion/],
    ['v2', { apiVersion: 'admission.k8s.io/v2' }, /unsupported apiVersion/],
    ['no apiVersion', { apiVersion: undefined }, /unsupported apiVersion/],
    ['numeric apiVersion', { apiVersion: 1 }, /unsupported apiVersion/],
    ['wrong kind', { kind: 'Pod' }, /kind must be AdmissionReview/],
    ['kind as an object', { kind: { kind: 'AdmissionReview' } }, /kind must be AdmissionReview/],
    ['no request', { request: undefined }, 'request is missing'],
    ['null request', { request: null }, 'request is missing'],
    ['array request', { request: [] }, 'request is missing'],
    ['string request', { request: 'x' }, 'request is missing'],
  ])('%s → 400 with a clear message', async (_name, patch, message) => {
    const body = { ...review(optedIn()), ...patch };
    expectClearError(await post(JSON.stringify(body)), 400, message);
  });

  test.each([
    ['missing uid', {}],
    ['empty uid', { uid: '' }],
    ['numeric uid', { uid: 42 }],
    ['object uid', { uid: { a: 1 } }],
    ['null uid', { uid: null }],
  ])('%s → 400 "request.uid is missing"', async (_name, patch) => {
    const body = review(optedIn());
    delete body.request.uid;
    Object.assign(body.request, patch);
    expectClearError(await post(JSON.stringify(body)), 400, 'request.uid is missing');
  });

  test('a very long uid is echoed as is', async () => {
    const body = review(optedIn(), { uid: 'u'.repeat(10_000) });
    expectAllowed(await post(JSON.stringify(body)), body);
  });
});

describe('not a pod create: allowed unchanged', () => {
  test.each([
    ['Deployment', { kind: { group: 'apps', version: 'v1', kind: 'Deployment' } }],
    ['Pod in another group', { kind: { group: 'evil.io', version: 'v1', kind: 'Pod' } }],
    ['Pod v2', { kind: { group: '', version: 'v2', kind: 'Pod' } }],
    ['kind missing', { kind: undefined }],
    ['kind as a string', { kind: 'Pod' }],
    ['kind null', { kind: null }],
    ['UPDATE', { operation: 'UPDATE' }],
    ['DELETE', { operation: 'DELETE', object: null }],
    ['CONNECT', { operation: 'CONNECT' }],
    ['no operation', { operation: undefined }],
    ['subresource', { subResource: 'ephemeralcontainers' }],
    ['subresource as a number', { subResource: 5 }],
  ])('%s', async (_name, patch) => {
    const body = review(optedIn(), patch);
    const reply = await post(JSON.stringify(body));
    expectAllowed(reply, body);
    expect(reply.json.response.patch).toBeUndefined();
  });
});

describe('body', () => {
  test.each([
    ['truncated', '{"apiVersion": "admission.k8s.io/v1", '],
    ['trailing garbage', JSON.stringify(review(optedIn())) + 'garbage'],
    ['NaN', '{"a": NaN}'],
    ['single quotes', "{'a': 1}"],
    ['top-level string (strict)', '"AdmissionReview"'],
    ['top-level number (strict)', '42'],
    ['empty', ''],
    ['not JSON at all', '<AdmissionReview/>'],
    ['invalid UTF-8', Buffer.from([0x7b, 0x22, 0xff, 0xfe, 0x22, 0x3a, 0x31, 0x7d])],
  ])('%s → a clear 400', async (_name, body) => {
    const reply = await post(body);
    expect(reply.status).toBe(400);
    expect(typeof reply.json?.error).toBe('string');
  });

  test('JSON null and arrays are refused as not an object', async () => {
    expectClearError(await post('[]'), 400, 'body is not a JSON object');
    expectClearError(await post('null'), 400);
  });

  test('a body over the limit → 413, declared or streamed (chunked)', async () => {
    const big = JSON.stringify(review({ ...optedIn(), padding: 'x'.repeat(MAX_BODY) }));
    expectClearError(await post(big), 413, `request body exceeds ${MAX_BODY} bytes`);
    // No Content-Length: the parser must count while reading, not trust a header.
    const chunked = await new Promise<Reply>((resolve, reject) => {
      const req = http.request(
        {
          host: '127.0.0.1',
          port,
          path: MUTATE_PATH,
          method: 'POST',
          agent: false,
          headers: { 'content-type': 'application/json', 'transfer-encoding': 'chunked' },
        },
        (res) => {
          let text = '';
          res.setEncoding('utf8');
          res.on('data', (c: string) => (text += c));
          res.on('end', () => resolve({ status: res.statusCode ?? 0, json: JSON.parse(text), text }));
        },
      );
      req.on('error', reject);
      for (let i = 0; i < 20; i++) req.write(big.slice(0, 8192));
      req.end();
    });
    expectClearError(chunked, 413);
  });

  test('a gzip bomb is cut at the limit after inflating, not inflated whole', async () => {
    const bomb = gzipSync(Buffer.alloc(200 * 1024 * 1024, ' '));
    expect(bomb.length).toBeLessThan(MAX_BODY * 4);
    const before = process.memoryUsage().rss;
    const reply = await post(bomb, { 'content-encoding': 'gzip' });
    expectClearError(reply, 413);
    // 200 MiB inflated in memory would show up here; the limit keeps it to a few pieces.
    expect(process.memoryUsage().rss - before).toBeLessThan(100 * 1024 * 1024);
  });

  test('a gzip body within the limit is accepted', async () => {
    const body = review(optedIn());
    expectAllowed(await post(gzipSync(JSON.stringify(body)), { 'content-encoding': 'gzip' }), body);
  });

  test('an unknown content encoding is refused clearly', async () => {
    const reply = await post(JSON.stringify(review(optedIn())), { 'content-encoding': 'x-bogus' });
    expect(reply.status).toBe(415);
    expect(typeof reply.json?.error).toBe('string');
  });

  test('a non-JSON content type is still read as JSON (the API server always sends JSON)', async () => {
    const body = review(optedIn());
    expectAllowed(await post(JSON.stringify(body), { 'content-type': 'text/plain' }), body);
  });

  test('deeply nested JSON gets a clear answer, not a crash', async () => {
    const depth = 20_000;
    const nested = '['.repeat(depth) + ']'.repeat(depth);
    const body = JSON.stringify(review(optedIn())).replace('"apps"', '"apps","deep":' + nested);
    const reply = await post(body);
    expect([200, 400]).toContain(reply.status);
    if (reply.status === 200) expect(reply.json.response.allowed).toBe(true);
  });

  test('wrong method and path get clear 404s', async () => {
    const get = await post('', {}, 'GET');
    expectClearError(get, 404);
    const put = await post(JSON.stringify(review(optedIn())), {}, 'PUT');
    expectClearError(put, 404);
  });
});

describe('odd but legal pods: injected with a valid patch, or allowed unchanged with a reason', () => {
  const cases: [string, Pod][] = [
    ['no metadata name (controller pod)', optedIn()],
    ['env null', optedIn({ containers: [{ name: 'a', image: 'x', env: null }] })],
    ['empty initContainers', optedIn({ containers: [{ name: 'a', image: 'x' }], initContainers: [] })],
    ['empty volumes', optedIn({ containers: [{ name: 'a', image: 'x' }], volumes: [] })],
    [
      '100 containers',
      optedIn({ containers: Array.from({ length: 100 }, (_, i) => ({ name: `c${i}`, image: 'x' })) }),
    ],
    [
      'unicode in annotations and env values',
      {
        metadata: {
          annotations: { [ANNOTATIONS.inject]: 'true', 'x.io/ünïcødé': '日本語 🚀' },
          labels: { app: 'a' },
        },
        spec: { containers: [{ name: 'a', image: 'x', env: [{ name: 'GREETING', value: 'žluťoučký 🚀' }] }] },
      } as Pod,
    ],
    [
      'hostNetwork and every port taken',
      optedIn({
        hostNetwork: true,
        containers: [
          {
            name: 'a',
            image: 'x',
            ports: [{ containerPort: 8080 }, { containerPort: 9090 }, { containerPort: 8081 }],
          },
        ],
      }),
    ],
    [
      'app already has AWS env, envFrom and valueFrom',
      optedIn({
        containers: [
          {
            name: 'a',
            image: 'x',
            envFrom: [{ secretRef: { name: 'aws' } }, { configMapRef: { name: 'cfg' } }],
            env: [
              { name: 'AWS_ENDPOINT_URL', value: 'https://s3.amazonaws.com' },
              { name: 'AWS_ACCESS_KEY_ID', valueFrom: { secretKeyRef: { name: 'aws', key: 'id' } } },
            ],
          },
        ],
      }),
    ],
    [
      'keys that look like prototype pollution',
      JSON.parse(
        '{"metadata":{"annotations":{"s3-mirror.io/inject":"true","__proto__":"x","constructor":"y"},' +
          '"labels":{"__proto__":"z"}},"spec":{"containers":[{"name":"a","image":"x",' +
          '"env":[{"name":"__proto__","value":"p"}]}]}}',
      ) as Pod,
    ],
  ];

  test.each(cases)('%s', async (_name, pod) => {
    const body = review(pod);
    const reply = await post(JSON.stringify(body));
    const patched = expectAllowed(reply, body);
    if (!patched) expect(reply.json.response.warnings?.length ?? 0).toBeGreaterThan(0);
    // JSON.parse made "__proto__" an own key; nothing leaked onto Object.prototype.
    expect(({} as Record<string, unknown>).allowed).toBeUndefined();
    expect(Object.prototype.hasOwnProperty.call(Object.prototype, 'x')).toBe(false);
  });

  test.each([
    ['containers not an array', { containers: 'nope' }],
    ['a container without a name', { containers: [{ image: 'x' }] }],
    ['no containers at all', { containers: [] }],
    ['spec missing', undefined],
    ['annotations not strings', 'annotations'],
  ])('malformed pod (%s): allowed unchanged with a warning', async (_name, spec) => {
    const pod =
      spec === 'annotations'
        ? { metadata: { annotations: { [ANNOTATIONS.inject]: true } }, spec: { containers: [{ name: 'a' }] } }
        : spec === undefined
          ? { metadata: { annotations: { [ANNOTATIONS.inject]: 'true' } } }
          : optedIn(spec as Record<string, unknown>);
    const body = review(pod);
    const reply = await post(JSON.stringify(body));
    expectAllowed(reply, body);
    expect(reply.json.response.patch).toBeUndefined();
    expect(reply.json.response.warnings?.[0]).toMatch(/not injected/);
  });
});

test('after all of the above the server still answers, and the metrics stayed bounded', async () => {
  const body = review(optedIn());
  expectAllowed(await post(JSON.stringify(body)), body);
  const text = await metrics.registry.metrics();
  expect(text).toMatch(/s3mirror_webhook_admission_requests_total\{result="error",reason="bad-review"\} \d+/);
  expect(text).toMatch(/s3mirror_webhook_admission_requests_total\{result="error",reason="bad-body"\} \d+/);
});

test('namespaces sent by a caller cannot grow the metrics without bound', async () => {
  for (let batch = 0; batch < 1200; batch += 100) {
    const replies = await Promise.all(
      Array.from({ length: 100 }, (_, i) =>
        post(JSON.stringify(review(optedIn(), { namespace: `ns-${batch + i}` }))),
      ),
    );
    for (const reply of replies) expect(reply.json.response.allowed).toBe(true);
  }
  const text = await metrics.registry.metrics();
  const series = text.split('\n').filter((l) => l.startsWith('s3mirror_webhook_injections_total{'));
  expect(series.length).toBe(MAX_NAMESPACE_LABELS + 1);
  expect(text).toMatch(new RegExp(`injections_total\\{namespace="${OTHER_NAMESPACE_LABEL}"\\} 2\\d\\d`));
  expect(secretLookups.length).toBeGreaterThan(0);
}, 60_000);
