/**
 * The detector's edge over an in-memory API: pages followed to the end, namespaces an admin opted out left
 * out, one Event per pod (409 from another replica counts as done), the gauge per namespace, failures counted.
 * The same edge against the HTTPS fake API, in the built process: test/integration/webhook-uninjected.test.ts.
 */
import winston from 'winston';
import { ANNOTATIONS, LABELS, NAMESPACE_INJECTION_DISABLED } from '../src/annotations';
import { KubeApiError, type EventObject, type ListPodsOptions, type PodPage } from '../src/kube-api';
import { createMetrics, METRIC_NAMES } from '../src/metrics';
import { UninjectedDetector } from '../src/uninjected-detector';
import { testConfig } from './fixtures';

const NOW = Date.parse('2026-12-02T12:00:00Z');

function pod(namespace: string, name: string, optIn = true) {
  return {
    metadata: {
      namespace,
      name,
      uid: `uid-${namespace}-${name}`,
      creationTimestamp: new Date(NOW - 3600_000).toISOString(),
      annotations: optIn ? { [ANNOTATIONS.inject]: 'true' } : {},
    },
    spec: { containers: [{ name: 'app', image: 'x' }] },
    status: { phase: 'Running' },
  };
}

class MemoryApi {
  pods: unknown[] = [];
  namespaceLabels = new Map<string, Record<string, string>>();
  events = new Map<string, EventObject>();
  lists: ListPodsOptions[] = [];
  namespaceReads: string[] = [];
  failList = false;
  failEvents = false;

  listPods(o: ListPodsOptions): Promise<PodPage> {
    this.lists.push(o);
    if (this.failList) return Promise.reject(new KubeApiError(403, 'forbidden'));
    const start = o.continue ? Number(o.continue) : 0;
    const end = start + o.limit;
    return Promise.resolve({
      items: this.pods.slice(start, end),
      continue: end < this.pods.length ? String(end) : undefined,
    });
  }
  getNamespace(name: string) {
    this.namespaceReads.push(name);
    const labels = this.namespaceLabels.get(name);
    return Promise.resolve(labels ? { metadata: { name, labels } } : undefined);
  }
  createEvent(namespace: string, e: EventObject): Promise<void> {
    if (this.failEvents) return Promise.reject(new KubeApiError(500, 'boom'));
    const key = `${namespace}/${e.metadata.name}`;
    if (this.events.has(key)) return Promise.reject(new KubeApiError(409, 'AlreadyExists'));
    this.events.set(key, e);
    return Promise.resolve();
  }
}

function setup() {
  const api = new MemoryApi();
  const metrics = createMetrics();
  const logger = winston.createLogger({ silent: true });
  const detector = new UninjectedDetector({
    api,
    config: testConfig(),
    logger,
    metrics,
    pageSize: 2,
    now: () => NOW,
  });
  const gauge = async () =>
    Object.fromEntries(
      (await metrics.registry.getSingleMetric(METRIC_NAMES.uninjectedPods)!.get()).values.map((v) => [
        v.labels.namespace,
        v.value,
      ]),
    );
  const counter = async (name: string) =>
    Object.fromEntries(
      (await metrics.registry.getSingleMetric(name)!.get()).values.map((v) => [v.labels.result, v.value]),
    );
  return { api, detector, gauge, counter };
}

test('follows every page, posts one Event per pod, sets the gauge per namespace', async () => {
  const { api, detector, gauge, counter } = setup();
  api.pods = [pod('a', '1'), pod('a', '2', false), pod('a', '3'), pod('b', '1'), pod('c', '1')];
  const r = await detector.check();
  expect(r).toMatchObject({ ok: true, listed: 5, pages: 3 });
  expect(api.lists.map((l) => l.continue)).toEqual([undefined, '2', '4']);
  expect(api.lists.every((l) => l.fieldSelector === 'status.phase!=Succeeded,status.phase!=Failed')).toBe(
    true,
  );
  expect([...api.events.keys()].sort()).toEqual([
    'a/s3-mirror-sidecar-missing.uid-a-1',
    'a/s3-mirror-sidecar-missing.uid-a-3',
    'b/s3-mirror-sidecar-missing.uid-b-1',
    'c/s3-mirror-sidecar-missing.uid-c-1',
  ]);
  expect(await gauge()).toEqual({ a: 2, b: 1, c: 1 });
  expect(await counter(METRIC_NAMES.uninjectedEvents)).toEqual({ created: 4 });

  // The next check posts nothing new; a pod gone leaves the gauge.
  api.pods = api.pods.filter((p) => (p as ReturnType<typeof pod>).metadata.namespace !== 'c');
  await detector.check();
  expect(api.events.size).toBe(4);
  expect(await counter(METRIC_NAMES.uninjectedEvents)).toEqual({ created: 4 });
  expect(await gauge()).toEqual({ a: 2, b: 1 });
  expect(await counter(METRIC_NAMES.uninjectedChecks)).toEqual({ success: 2 });
});

test('an Event another replica already posted (409) is not retried', async () => {
  const first = setup();
  first.api.pods = [pod('a', '1')];
  await first.detector.check();
  const second = setup();
  second.api.pods = first.api.pods;
  second.api.events = first.api.events;
  await second.detector.check();
  await second.detector.check();
  expect(first.api.events.size).toBe(1);
  expect(await second.counter(METRIC_NAMES.uninjectedEvents)).toEqual({ exists: 1 });
});

test('a failed Event is retried at the next check', async () => {
  const { api, detector, counter } = setup();
  api.pods = [pod('a', '1')];
  api.failEvents = true;
  await detector.check();
  expect(api.events.size).toBe(0);
  api.failEvents = false;
  await detector.check();
  expect(api.events.size).toBe(1);
  expect(await counter(METRIC_NAMES.uninjectedEvents)).toEqual({ failure: 1, created: 1 });
});

test('pods in a namespace labelled injection=disabled are left out; only namespaces with such pods are read', async () => {
  const { api, detector, gauge } = setup();
  api.pods = [pod('off', '1'), pod('on', '1'), pod('quiet', '1', false)];
  api.namespaceLabels.set('off', { [LABELS.namespaceInjection]: NAMESPACE_INJECTION_DISABLED });
  api.namespaceLabels.set('on', {});
  const r = await detector.check();
  expect(r.uninjected.map((p) => p.namespace)).toEqual(['on']);
  expect(api.namespaceReads.sort()).toEqual(['off', 'on']);
  expect(await gauge()).toEqual({ on: 1 });
  expect([...api.events.keys()]).toEqual(['on/s3-mirror-sidecar-missing.uid-on-1']);
});

test('a failed list is counted and leaves the gauge as it was', async () => {
  const { api, detector, gauge, counter } = setup();
  api.pods = [pod('a', '1')];
  await detector.check();
  api.failList = true;
  expect((await detector.check()).ok).toBe(false);
  expect(await gauge()).toEqual({ a: 1 });
  expect(await counter(METRIC_NAMES.uninjectedChecks)).toEqual({ success: 1, failure: 1 });
});
