import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

const ROOT = join(__dirname, '../..');
const developers = readFileSync(join(ROOT, 'DEVELOPERS.md'), 'utf8');

/** Paths in the first column of DEVELOPERS.md's layout table (the first table of the file). */
function layoutPaths(): string[] {
  const start = developers.indexOf('\n|');
  const table = developers.slice(start, developers.indexOf('\n\n', start));
  return [...table.matchAll(/^\| `([^`]+)`/gm)].map((m) => m[1]!);
}

/** Folders under `dir` (relative to the root), at every depth. */
function foldersUnder(dir: string): string[] {
  return readdirSync(join(ROOT, dir), { withFileTypes: true })
    .filter((e) => e.isDirectory())
    .flatMap((e) => [`${dir}/${e.name}/`, ...foldersUnder(`${dir}/${e.name}`)]);
}

test("DEVELOPERS.md's layout table names every source folder of the proxy and the webhook, and test/'s", () => {
  const named = new Set(layoutPaths());
  const folders = [
    ...foldersUnder('proxy/src'),
    ...foldersUnder('webhook/src'),
    ...readdirSync(join(ROOT, 'test'), { withFileTypes: true })
      .filter((e) => e.isDirectory() && e.name !== 'dist')
      .map((e) => `test/${e.name}/`),
  ];
  expect(folders.length).toBeGreaterThan(10);
  expect(folders.filter((f) => !named.has(f))).toEqual([]);
});
