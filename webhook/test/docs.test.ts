/** docs/webhook.md must name every key the code defines, so the two cannot drift apart. */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ANNOTATIONS, LABELS, STATUS_INJECTED } from '../src/annotations';
import { CONFIG_KEYS, DEFAULT_METRICS_PORT, DEFAULT_WEBHOOK_PORT, MUTATE_PATH } from '../src/config';
import { METRIC_NAMES, DEFAULT_METRICS_PREFIX } from '../src/metrics';

const doc = readFileSync(join(__dirname, '..', '..', 'docs', 'webhook.md'), 'utf8');

test.each([...Object.values(ANNOTATIONS), ...Object.values(LABELS), STATUS_INJECTED])(
  'documents %s',
  (key) => {
    expect(doc).toContain(`\`${key}\``);
  },
);

test.each(Object.entries(CONFIG_KEYS))('documents config key %s with its default', (key, def) => {
  const row = doc.split('\n').find((l) => l.startsWith(`| \`${key}\``));
  expect(row).toBeDefined();
  if (def !== '') expect(row).toContain(`\`${def}\``);
});

test.each([...Object.values(METRIC_NAMES), DEFAULT_METRICS_PREFIX])('documents metric %s', (name) => {
  expect(doc).toContain(`\`${name}\``);
});

test('documents ports and path', () => {
  expect(doc).toContain(`DEFAULT_WEBHOOK_PORT = ${DEFAULT_WEBHOOK_PORT}`);
  expect(doc).toContain(`DEFAULT_METRICS_PORT = ${DEFAULT_METRICS_PORT}`);
  expect(doc).toContain(`MUTATE_PATH = ${MUTATE_PATH}`);
});

test('the module table names every source file', () => {
  const files: string[] = [];
  const walk = (dir: string, prefix: string) => {
    for (const e of readdirSync(dir, { withFileTypes: true })) {
      if (e.isDirectory()) walk(join(dir, e.name), `${prefix}${e.name}/`);
      else if (e.name.endsWith('.ts')) files.push(`${prefix}${e.name}`);
    }
  };
  walk(join(__dirname, '..', 'src'), '');
  const table = doc.slice(doc.indexOf('## Modules'));
  for (const f of files) expect([f, table.includes(`\`${f}\``)]).toEqual([f, true]);
});
