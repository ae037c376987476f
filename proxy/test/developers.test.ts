import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

const ROOT = join(__dirname, '../..');
const developers = readFileSync(join(ROOT, 'DEVELOPERS.md'), 'utf8');

/** Paths in the first column of DEVELOPERS.md's layout table (the first table of the file). */
function layoutPaths(): string[] {
  const start = developers.indexOf('\n|');
  const table = developers.slice(start, developers.indexOf('\n\n', start));
  return [...table.matchAll(/^\| `([^`]+)`/gm)].map((m) => m[1]!);
}

/** Folders that hold files git tracks, each as `a/b/`. */
function trackedFolders(): string[] {
  const files = execFileSync('git', ['ls-files'], { cwd: ROOT, encoding: 'utf8' }).split('\n');
  const folders = new Set<string>();
  for (const file of files) {
    const parts = file.split('/').slice(0, -1);
    for (let depth = 1; depth <= parts.length; depth++) folders.add(`${parts.slice(0, depth).join('/')}/`);
  }
  return [...folders];
}

describe("DEVELOPERS.md's layout table", () => {
  const named = layoutPaths();

  test("names every top-level folder, every source folder of the proxy and the webhook, and test/'s", () => {
    const folders = trackedFolders().filter(
      (f) => /^[^/]+\/$/.test(f) || /^(proxy|webhook)\/src\/.+\/$/.test(f) || /^test\/[^/]+\/$/.test(f),
    );
    expect(folders.length).toBeGreaterThan(10);
    expect(folders.filter((f) => !named.includes(f))).toEqual([]);
  });

  test('names nothing that does not exist', () => {
    expect(named.length).toBeGreaterThan(10);
    expect(named.filter((p) => !existsSync(join(ROOT, p)))).toEqual([]);
  });
});
