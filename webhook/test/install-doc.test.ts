/**
 * docs/install.md cannot be run here (no Docker, no cluster), so everything it names is checked against the
 * repository: paths and kustomizations, images, annotation and ConfigMap keys with their defaults, Secret keys,
 * metric and alert names, the demo's objects and database, and the warning texts it quotes.
 */
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { databaseNameFor } from '../../proxy/src/inventory/naming';
import { MIGRATIONS } from '../../proxy/src/inventory/schema';
import { METRIC_NAMES as PROXY_METRICS } from '../../proxy/src/metrics';
import { ANNOTATIONS, LABELS } from '../src/annotations';
import { CONFIG_KEYS, type ConfigKey } from '../src/config';
import { METRIC_NAMES as WEBHOOK_METRICS } from '../src/metrics';
import { SECRET_ENV_KEYS } from '../src/sidecar-container';
import { kustomizationDirs, one, render, ROOT } from './deploy/render';

const doc = readFileSync(join(ROOT, 'docs/install.md'), 'utf8');

function section(title: string): string {
  const start = doc.indexOf(`\n${title}\n`);
  if (start < 0) throw new Error(`no section ${title}`);
  const rest = doc.slice(start + title.length + 2);
  const end = rest.search(/\n#{2,3} /);
  return end < 0 ? rest : rest.slice(0, end);
}

/** Markdown table rows of a section: cells without the outer pipes, header and rule dropped. */
function rows(text: string): string[][] {
  return text
    .split('\n')
    .filter((l) => l.startsWith('|'))
    .slice(2)
    .map((l) =>
      l
        .slice(1, -1)
        .split('|')
        .map((c) => c.trim()),
    );
}

const ticks = (text: string) => [...text.matchAll(/`([^`]+)`/g)].map((m) => m[1]!);

test('every deploy/ path exists, and every `apply -k` / `delete -k` names a kustomization', () => {
  const paths = [...doc.matchAll(/\bdeploy\/[\w./-]*[\w]/g)].map((m) => m[0]);
  expect(paths.length).toBeGreaterThan(10);
  for (const p of paths) expect([p, existsSync(join(ROOT, p))]).toEqual([p, true]);
  const kustomizations = new Set(kustomizationDirs());
  const applied = [...doc.matchAll(/kubectl (?:apply|delete) -k (\S+)/g)].map((m) => m[1]!);
  expect(applied).toEqual(
    expect.arrayContaining([
      'deploy/examples/local/self-managed',
      'deploy/examples/local/cert-manager',
      'deploy/examples/demo',
      'deploy/monitoring',
    ]),
  );
  for (const dir of applied) expect([dir, kustomizations.has(dir)]).toEqual([dir, true]);
});

test('image builds use the real Dockerfiles and the tags the manifests deploy', () => {
  const builds = [...doc.matchAll(/docker build -f (\S+)\s+-t (\S+)\s+\./g)].map(
    (m) => [m[1]!, m[2]!] as const,
  );
  const webhookImage = one(render('deploy/examples/local/self-managed'), 'Deployment', 's3-mirror-webhook')
    .spec.template.spec.containers[0].image;
  expect(Object.fromEntries(builds)).toEqual({
    'Dockerfile.proxy': CONFIG_KEYS.PROXY_IMAGE,
    'Dockerfile.webhook': webhookImage,
  });
  for (const [file] of builds) expect(existsSync(join(ROOT, file))).toBe(true);
  for (const image of [CONFIG_KEYS.PROXY_IMAGE, webhookImage]) {
    expect(doc).toContain(`kind load docker-image --name s3-mirror`);
    expect(doc).toContain(`minikube image load ${image}`);
  }
});

test('the annotation reference lists every annotation the webhook reads, and nothing else', () => {
  const table = rows(section('### Pod annotations')).map((r) => ticks(r[0]!)[0]);
  const readByWebhook = Object.values(ANNOTATIONS).filter(
    (k) => k !== ANNOTATIONS.inject && k !== ANNOTATIONS.status,
  );
  expect([...table].sort()).toEqual([...readByWebhook].sort());
  const known = new Set<string>([...Object.values(ANNOTATIONS), ...Object.values(LABELS)]);
  for (const key of doc.match(/s3-mirror\.io\/[a-z-]+/g) ?? [])
    expect([key, known.has(key)]).toEqual([key, true]);
});

test('ConfigMap keys exist, with the defaults the code has', () => {
  const table = rows(section('### ConfigMap `s3-mirror-webhook-config` (the keys an admin usually sets)'));
  expect(table.length).toBeGreaterThan(5);
  for (const [keysCell, defaultsCell] of table) {
    const keys = ticks(keysCell!);
    const defaults = defaultsCell!.split(/,\s*/);
    expect([keysCell, defaults.length]).toEqual([keysCell, keys.length]);
    keys.forEach((key, i) => {
      expect([key, key in CONFIG_KEYS]).toEqual([key, true]);
      const d = /^`(.*)`$/.exec(defaults[i]!);
      if (d) expect([key, d[1]]).toEqual([key, CONFIG_KEYS[key as ConfigKey]]);
      else
        expect([key, CONFIG_KEYS[key as ConfigKey] === '' || defaults[i] === 'required']).toEqual([
          key,
          true,
        ]);
    });
  }
});

test('the Secret keys are exactly the ones the proxy reads', () => {
  const line = doc.split('\n\n').find((p) => p.startsWith('Keys of the Secret:'))!;
  const keys = ticks(line).filter((k) => /^[A-Z]+_[A-Z_]+$/.test(k));
  expect(keys.sort()).toEqual([...SECRET_ENV_KEYS].sort());
});

test('metric names exist; the alert table lists exactly the alerts of the PrometheusRule', () => {
  const metrics = new Set<string>([...Object.values(PROXY_METRICS), ...Object.values(WEBHOOK_METRICS)]);
  const named = [...doc.matchAll(/\bs3mirror_[a-z_]+[a-z]\b/g)].map((m) => m[0]);
  // The grep patterns in step 7 are alternations: each alternative must be a real metric too.
  for (const m of doc.matchAll(/grep -E '\^(s3mirror_[^']+)'/g)) {
    const expand = (s: string): string[] => {
      const g = /\(([^()]*)\)/.exec(s);
      if (!g) return [s];
      return g[1]!
        .split('|')
        .flatMap((alt) => expand(s.slice(0, g.index) + alt + s.slice(g.index + g[0].length)));
    };
    named.push(...expand(m[1]!));
  }
  expect(named.length).toBeGreaterThan(8);
  for (const n of named) expect([n, metrics.has(n)]).toEqual([n, true]);
  const rule = one(render('deploy/monitoring'), 'PrometheusRule');
  const alerts = rule.spec.groups.flatMap((g: { rules: { alert: string }[] }) => g.rules.map((r) => r.alert));
  const table = rows(section('## 7. Metrics and alerts')).map((r) => ticks(r[0]!)[0]);
  expect([...table].sort()).toEqual([...alerts].sort());
});

test('the demo objects, image, database and columns the walkthrough uses exist', () => {
  const demo = render('deploy/examples/demo');
  for (const [kind, name] of [
    ['Job', 'create-buckets'],
    ['Deployment', 'demo-app'],
    ['Deployment', 'postgres'],
    ['Deployment', 'minio-mirror'],
    ['Service', 'minio-mirror'],
    ['Service', 'postgres'],
  ] as const) {
    expect(one(demo, kind, name).metadata.namespace).toBe('s3-mirror-demo');
  }
  expect(doc).toContain(`job/create-buckets`);
  const appImage = one(demo, 'Deployment', 'demo-app').spec.template.spec.containers[0].image;
  for (const m of doc.matchAll(/--image=(\S+)/g)) expect(m[1]).toBe(appImage);
  // The selectors the outage commands restore are the real ones.
  for (const m of doc.matchAll(/patch service (\S+) -p '\{"spec":\{"selector":\{"app":"([^"]+)"\}\}\}'/g)) {
    if (m[2] === 'nowhere') continue;
    expect(one(demo, 'Service', m[1]!).spec.selector).toEqual({ app: m[2] });
  }
  expect(doc).toContain(`-d ${databaseNameFor('demo')}`);
  const schema = MIGRATIONS.map((x) => x.sql).join('\n');
  const select = /SELECT (.+) FROM files ORDER BY (\w+)/.exec(doc)!;
  for (const col of [...select[1]!.split(/,\s*/), select[2]!])
    expect([col, schema.includes(col)]).toEqual([col, true]);
  // The mirror listing uses the demo's mirror credentials.
  const secret = one(demo, 'Secret').stringData;
  expect(doc).toContain(`--env=AWS_ACCESS_KEY_ID=${secret.MIRROR_ACCESS_KEY}`);
  expect(doc).toContain(`--env=AWS_SECRET_ACCESS_KEY=${secret.MIRROR_SECRET_KEY}`);
});

test('every warning fragment the page quotes is text the webhook really produces', () => {
  const sources: string[] = [];
  const walk = (d: string) => {
    for (const n of readdirSync(d)) {
      const p = join(d, n);
      if (statSync(p).isDirectory()) walk(p);
      else if (n.endsWith('.ts')) sources.push(readFileSync(p, 'utf8'));
    }
  };
  walk(join(ROOT, 'webhook/src'));
  const code = sources.join('\n');
  const fragments = ticks(section('### What the webhook warns')).filter(
    (f) => f !== 'Warning: ...' && f !== 'envFrom' && f !== 'hostNetwork' && f !== 'skip-containers',
  );
  expect(fragments.length).toBeGreaterThan(8);
  for (const f of fragments) expect([f, code.includes(f)]).toEqual([f, true]);
  // The full sentence quoted in step 5 is the builder's, with its placeholders filled in.
  expect(doc).toContain(
    'Warning: Secret "s3-mirror-credentials" not found in namespace "scratch": the s3-mirror proxy cannot start until it exists',
  );
  expect(code).toContain('the s3-mirror proxy cannot start until it exists');
});

test('the page says how it was checked', () => {
  expect(doc).toMatch(/Not on a live cluster/);
});
