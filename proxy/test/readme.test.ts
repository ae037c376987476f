import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

import { loadConfig } from '../src/config';
import { formatDeletePolicy } from '../src/mirror/delete-policy';

const ROOT = join(__dirname, '../..');
const readme = readFileSync(join(ROOT, 'README.md'), 'utf8');
const configSource = readFileSync(join(ROOT, 'proxy/src/config.ts'), 'utf8');

/** Variable names in the first column of the README's configuration table. */
function documentedVariables(): string[] {
  const section = readme.slice(readme.indexOf('## Configuration (proxy)'));
  const table = section.slice(0, section.indexOf('\n\n', section.indexOf('| variable')));
  return [...table.matchAll(/^\| `([A-Z0-9_]+)`/gm)].map((m) => m[1]!);
}

describe('README', () => {
  test('the configuration table lists exactly the variables the proxy reads', () => {
    const read = new Set([...configSource.matchAll(/'([A-Z][A-Z0-9]*(?:_[A-Z0-9]+)+)'/g)].map((m) => m[1]!));
    expect(new Set(documentedVariables())).toEqual(read);
  });

  test("every row of the configuration table has the header's cells (a bare | in a cell splits it)", () => {
    const section = readme.slice(readme.indexOf('## Configuration (proxy)'));
    const table = section.slice(
      section.indexOf('| variable'),
      section.indexOf('\n\n', section.indexOf('| variable')),
    );
    const cells = (line: string): number => line.replace(/\\\|/g, '').split('|').length;
    const [header, ...rows] = table.split('\n');
    for (const line of rows)
      expect([line.slice(0, 40), cells(line)]).toEqual([line.slice(0, 40), cells(header!)]);
  });

  test('the defaults in the table are the ones the code uses', () => {
    const c = loadConfig({
      MAIN_ACCESS_KEY: 'a',
      MAIN_SECRET_KEY: 'b',
      MIRROR_S3_ENDPOINT: 'http://m',
      MIRROR_ACCESS_KEY: 'c',
      MIRROR_SECRET_KEY: 'd',
      POSTGRES_URL: 'postgres://h/db',
    });
    const row = (name: string): string =>
      new RegExp(`^\\| \`${name}\`\\s*\\| ([^|]+)\\|`, 'm').exec(readme)![1]!;
    expect(row('MAIN_S3_ENDPOINT')).toContain(c.main.url.origin);
    expect(row('LISTEN_ADDR')).toContain(`${c.listen.host}:${c.listen.port}`);
    expect(row('ADMIN_ADDR')).toContain(`${c.admin.host}:${c.admin.port}`);
    expect(row('MAIN_S3_REGION')).toContain(c.main.region);
    expect(row('MIRROR_S3_REGION')).toContain(c.mirror.region);
    expect(row('MIRROR_BUCKET_TEMPLATE')).toContain(`\`${c.mirrorBucketTemplate}\``);
    expect(row('LOG_LEVEL')).toContain(c.logLevel);
    expect(row('MIRROR_DELETE_POLICY')).toContain(`\`${formatDeletePolicy(c.deletePolicy)}\``);
    expect(row('JOURNAL_MAX_BYTES')).toContain(String(c.journalMaxBytes));
    expect(row('SPOOL_MAX_BYTES')).toContain(String(c.spoolMaxBytes));
    expect(row('SPOOL_MAX_OBJECT_BYTES')).toContain(String(c.spoolMaxObjectBytes));
    expect(row('SPOOL_MEMORY_BYTES')).toContain(String(c.spoolMemoryBytes));
    expect(row('PENDING_MEMORY_LIMIT')).toContain(String(c.pendingMemoryLimit));
    expect(row('MIRROR_CONCURRENCY')).toContain(String(c.mirrorConcurrency));
    expect(row('MIRROR_CATCHUP_BYTES_PER_SECOND')).toContain(String(c.mirrorCatchupBytesPerSecond));
    expect(row('CLIENT_IDLE_TIMEOUT_MS')).toContain(String(c.clientIdleTimeoutMs));
    expect(row('SHUTDOWN_GRACE_MS')).toContain(String(c.shutdownGraceMs));
  });

  test('every npm script it names exists', () => {
    const scripts = (JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { scripts: object })
      .scripts;
    const named = [...readme.matchAll(/npm run ([a-z:]+)/g)].map((m) => m[1]!);
    expect(named.length).toBeGreaterThan(3);
    for (const name of named) expect(Object.keys(scripts)).toContain(name);
  });

  test('every repository path and link it names exists', () => {
    const paths = new Set([
      ...[...readme.matchAll(/\]\(([^)#]+)\)/g)].map((m) => m[1]!).filter((p) => !p.startsWith('http')),
      ...[
        ...readme.matchAll(
          /(?:^|[\s`(])((?:deploy|docs|test|proxy|webhook|\.ci)\/[A-Za-z0-9_./-]*[A-Za-z0-9_])/gm,
        ),
      ].map((m) => m[1]!),
    ]);
    expect(paths.size).toBeGreaterThan(10);
    for (const p of paths) expect([p, existsSync(join(ROOT, p))]).toEqual([p, true]);
  });
});
