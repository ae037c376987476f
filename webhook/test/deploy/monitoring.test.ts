/**
 * deploy/monitoring against the code: every metric an alert or dashboard panel queries is one the proxy or the
 * webhook really registers (names, histogram series, label names), every label value it matches on is a
 * string the code can produce, the required alerts exist, and the scrape configs point at real port names.
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import type { Registry } from 'prom-client';
import { createMetrics as createProxyMetrics, METRIC_NAMES as PROXY } from '../../../proxy/src/metrics';
import { createMetrics as createWebhookMetrics, METRIC_NAMES as WEBHOOK } from '../../src/metrics';
import { PROXY_ADMIN_PORT_NAME } from '../../src/sidecar-container';
import { one, render, ROOT } from './render';

/** Labels Prometheus (Operator) adds to every scraped series from a PodMonitor or ServiceMonitor. */
const TARGET_LABELS = ['namespace', 'pod', 'container', 'endpoint', 'job', 'instance', 'service'];

interface Series {
  metric: string;
  labels: Set<string>;
}

/** Every series name a registry exports, with its label names (histograms expand to _bucket/_sum/_count). */
async function catalogue(registry: Registry): Promise<Map<string, Series>> {
  const out = new Map<string, Series>();
  for (const m of await registry.getMetricsAsJSON()) {
    const own = (registry.getSingleMetric(m.name) as unknown as { labelNames?: string[] }).labelNames ?? [];
    const labels = new Set([...own, ...TARGET_LABELS]);
    const type = String(m.type);
    if (type === 'histogram') {
      out.set(`${m.name}_bucket`, { metric: m.name, labels: new Set([...labels, 'le']) });
      out.set(`${m.name}_sum`, { metric: m.name, labels });
      out.set(`${m.name}_count`, { metric: m.name, labels });
    } else if (type === 'summary') {
      out.set(m.name, { metric: m.name, labels: new Set([...labels, 'quantile']) });
      out.set(`${m.name}_sum`, { metric: m.name, labels });
      out.set(`${m.name}_count`, { metric: m.name, labels });
    } else {
      out.set(m.name, { metric: m.name, labels });
    }
  }
  return out;
}

/** A metric reference in PromQL: name, and the label matchers in braces right after it. */
interface Ref {
  name: string;
  matchers: { label: string; op: string; value: string }[];
}

const METRIC_RE = /\b(s3mirror_[a-zA-Z0-9_:]*)\s*(\{[^}]*\})?/g;
const MATCHER_RE = /([a-zA-Z_][a-zA-Z0-9_]*)\s*(=~|!~|!=|=)\s*"((?:[^"\\]|\\.)*)"/g;

function metricRefs(expr: string): Ref[] {
  return [...expr.matchAll(METRIC_RE)].map((m) => ({
    name: m[1]!,
    matchers: [...(m[2] ?? '').matchAll(MATCHER_RE)].map((x) => ({ label: x[1]!, op: x[2]!, value: x[3]! })),
  }));
}

/** Labels named in `by (...)` / `without (...)` clauses. */
function groupingLabels(expr: string): string[] {
  return [...expr.matchAll(/\b(?:by|without)\s*\(([^)]*)\)/g)].flatMap((m) =>
    m[1]!
      .split(',')
      .map((s) => s.trim())
      .filter((s) => s !== ''),
  );
}

/** String literals in the TypeScript sources of a package, to check label values against. */
function sourceStrings(dir: string): Set<string> {
  const out = new Set<string>();
  const walk = (d: string) => {
    for (const name of readdirSync(d)) {
      const p = join(d, name);
      if (statSync(p).isDirectory()) walk(p);
      else if (name.endsWith('.ts'))
        for (const m of readFileSync(p, 'utf8').matchAll(/'([^'\\\n]*)'|"([^"\\\n]*)"|`([^`$\\]*)`/g))
          out.add(m[1] ?? m[2] ?? m[3]!);
    }
  };
  walk(dir);
  return out;
}

interface Query {
  where: string;
  expr: string;
  legend?: string;
}

const rule = one(render('deploy/monitoring'), 'PrometheusRule');
const alerts: { alert: string; expr: string }[] = rule.spec.groups.flatMap(
  (g: { rules: { alert: string; expr: string }[] }) => g.rules,
);
const dashboardText = readFileSync(join(ROOT, 'deploy/monitoring/dashboards/s3-mirror.json'), 'utf8');
const dashboard = JSON.parse(dashboardText) as {
  panels: Panel[];
  templating: { list: { name: string; query?: unknown; definition?: string }[] };
};
interface Panel {
  title: string;
  type: string;
  panels?: Panel[];
  targets?: { expr: string; legendFormat?: string }[];
  datasource?: { uid?: string };
}
const panels: Panel[] = [];
const walk = (list: Panel[]) =>
  list.forEach((p) => {
    panels.push(p);
    walk(p.panels ?? []);
  });
walk(dashboard.panels);

const queries: Query[] = [
  ...alerts.map((a) => ({ where: `alert ${a.alert}`, expr: a.expr })),
  ...panels.flatMap((p) =>
    (p.targets ?? []).map((t) => ({ where: `panel "${p.title}"`, expr: t.expr, legend: t.legendFormat })),
  ),
  ...dashboard.templating.list
    .filter((v) => v.definition !== undefined)
    .map((v) => ({ where: `variable ${v.name}`, expr: v.definition! })),
];

let series: Map<string, Series>;
let strings: Set<string>;

beforeAll(async () => {
  series = new Map([
    ...(await catalogue(createProxyMetrics().registry)),
    ...(await catalogue(createWebhookMetrics().registry)),
  ]);
  strings = new Set([...sourceStrings(join(ROOT, 'proxy/src')), ...sourceStrings(join(ROOT, 'webhook/src'))]);
});

test('the alerts and the dashboard query something', () => {
  expect(alerts.length).toBeGreaterThanOrEqual(4);
  expect(panels.filter((p) => p.type !== 'row').length).toBeGreaterThan(10);
  for (const q of queries) expect([q.where, metricRefs(q.expr).length > 0]).toEqual([q.where, true]);
});

test.each(queries.map((q) => [q.where, q] as const))('%s: every metric is exported by the code', (_w, q) => {
  for (const ref of metricRefs(q.expr))
    expect([q.where, ref.name, series.has(ref.name)]).toEqual([q.where, ref.name, true]);
});

test.each(queries.map((q) => [q.where, q] as const))(
  '%s: label names exist on the metric; matched values are strings the code uses',
  (_w, q) => {
    const refs = metricRefs(q.expr).filter((r) => series.has(r.name));
    for (const ref of refs) {
      const labels = series.get(ref.name)!.labels;
      for (const m of ref.matchers) {
        expect([q.where, ref.name, m.label, labels.has(m.label)]).toEqual([q.where, ref.name, m.label, true]);
        // Exact matches on the code's own labels must name a value the code can produce; target labels
        // (namespace, pod) and regex matches against dashboard variables are free.
        if (m.op === '=' && !TARGET_LABELS.includes(m.label))
          expect([q.where, m.label, m.value, strings.has(m.value)]).toEqual([
            q.where,
            m.label,
            m.value,
            true,
          ]);
      }
    }
    for (const label of groupingLabels(q.expr))
      for (const ref of refs)
        expect([q.where, ref.name, label, series.get(ref.name)!.labels.has(label)]).toEqual([
          q.where,
          ref.name,
          label,
          true,
        ]);
  },
);

test.each(queries.filter((q) => q.legend !== undefined).map((q) => [q.where, q] as const))(
  '%s: the legend uses only labels the query keeps',
  (_w, q) => {
    const kept = new Set(groupingLabels(q.expr));
    for (const m of q.legend!.matchAll(/\{\{\s*([a-zA-Z_][a-zA-Z0-9_]*)\s*\}\}/g))
      expect([q.where, m[1], kept.has(m[1]!)]).toEqual([q.where, m[1], true]);
  },
);

describe('the checks can fail', () => {
  test('an unknown name, a misspelt label and an impossible value are caught', () => {
    expect(series.has('s3mirror_mirror_lag_second')).toBe(false);
    expect(series.has(PROXY.mirrorLag)).toBe(true);
    expect(series.has(`${WEBHOOK.admissionDuration}_bucket`)).toBe(true);
    expect(series.has(WEBHOOK.admissionDuration)).toBe(false); // a histogram has no bare series
    expect(series.get(PROXY.mirrorOperations)!.labels.has('outcome')).toBe(false);
    expect(strings.has('failed-for-real')).toBe(false);
    expect(metricRefs('sum by (a) (rate(s3mirror_x_total{result="failure", ns=~"$namespace"}[5m]))')).toEqual(
      [
        {
          name: 's3mirror_x_total',
          matchers: [
            { label: 'result', op: '=', value: 'failure' },
            { label: 'ns', op: '=~', value: '$namespace' },
          ],
        },
      ],
    );
    expect(groupingLabels('max by (namespace, pod) (x) / sum without(le) (y)')).toEqual([
      'namespace',
      'pod',
      'le',
    ]);
  });
});

describe('the alerts platform teams expect', () => {
  const alertOn = (metric: string, matcher?: { label: string; value: string }) =>
    alerts.filter((a) =>
      metricRefs(a.expr).some(
        (r) =>
          r.name === metric &&
          (matcher === undefined ||
            r.matchers.some((m) => m.label === matcher.label && m.op === '=' && m.value === matcher.value)),
      ),
    );

  test('mirror lag over a threshold', () => {
    const lag = alertOn(PROXY.mirrorLag);
    expect(lag.length).toBeGreaterThan(0);
    for (const a of lag) expect(a.expr).toMatch(/>\s*\d+/);
  });
  test('mirror failures', () => {
    expect(alertOn(PROXY.mirrorOperations, { label: 'result', value: 'failure' }).length).toBeGreaterThan(0);
  });
  test('inventory write failures', () => {
    expect(alertOn(PROXY.inventoryWriteFailures).length).toBeGreaterThan(0);
  });
  test('webhook errors and unavailability', () => {
    expect(alertOn(WEBHOOK.admissionRequests, { label: 'result', value: 'error' }).length).toBeGreaterThan(0);
    expect(alertOn(WEBHOOK.ready).length).toBeGreaterThan(0);
  });
  test('opted-in pods running without the proxy, and the check for them failing', () => {
    const without = alertOn(WEBHOOK.uninjectedPods);
    expect(without.length).toBeGreaterThan(0);
    for (const a of without) expect(a.expr).toMatch(/>\s*0/);
    expect(alertOn(WEBHOOK.uninjectedChecks, { label: 'result', value: 'failure' }).length).toBeGreaterThan(
      0,
    );
  });
  test('every alert has a severity and a summary', () => {
    for (const a of alerts as {
      alert: string;
      labels?: { severity?: string };
      annotations?: { summary?: string };
    }[]) {
      expect([a.alert, a.labels?.severity]).toEqual([
        a.alert,
        expect.stringMatching(/^(critical|warning|info)$/),
      ]);
      expect([a.alert, typeof a.annotations?.summary]).toEqual([a.alert, 'string']);
    }
  });
});

describe('scrape configs and the dashboard ConfigMap', () => {
  const objects = () => render('deploy/monitoring');
  const base = () => render('deploy/base');

  test('the PodMonitor scrapes the port name the webhook gives the injected proxy', () => {
    const pm = one(objects(), 'PodMonitor');
    expect(pm.spec.podMetricsEndpoints.map((e: { port: string }) => e.port)).toEqual([PROXY_ADMIN_PORT_NAME]);
    expect(pm.spec.namespaceSelector).toEqual({ any: true });
  });

  test('the ServiceMonitor selects the webhook Service and one of its port names', () => {
    const sm = one(objects(), 'ServiceMonitor');
    const svc = one(base(), 'Service', 's3-mirror-webhook');
    for (const [k, v] of Object.entries(sm.spec.selector.matchLabels as Record<string, string>))
      expect(svc.metadata.labels[k]).toBe(v);
    expect(sm.spec.namespaceSelector.matchNames).toEqual([svc.metadata.namespace]);
    const names = svc.spec.ports.map((p: { name: string }) => p.name);
    for (const e of sm.spec.endpoints) expect(names).toContain(e.port);
  });

  test('the generated ConfigMap carries the dashboard file unchanged; panels use the datasource variable', () => {
    const cm = one(objects(), 'ConfigMap');
    expect(cm.metadata.labels.grafana_dashboard).toBe('1');
    expect(cm.data['s3-mirror.json']).toBe(dashboardText);
    expect(dashboard.templating.list.map((v) => v.name)).toContain('datasource');
    for (const p of panels.filter((x) => x.type !== 'row'))
      expect([p.title, p.datasource?.uid]).toEqual([p.title, '${datasource}']);
  });
});
