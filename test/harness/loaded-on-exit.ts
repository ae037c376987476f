import fs from 'node:fs';
import path from 'node:path';

/** What a Node process had loaded when it exits: its builtins, or the files in its module cache. */
const LISTS = {
  builtins: 'process.moduleLoadList',
  modules: 'Object.keys(require.cache)',
} as const;

/**
 * A `--require` hook, written into `dir`, that writes one of those lists there when the process exits:
 * `file` or `nodeOption` goes on its command line or in its NODE_OPTIONS, `read()` after it stopped (the hook's
 * own file left out).
 */
export function loadedOnExitHook(
  dir: string,
  list: keyof typeof LISTS,
): { file: string; nodeOption: string; read(): string[] } {
  const file = path.join(dir, `${list}-hook.js`);
  const listed = path.join(dir, `${list}.json`);
  fs.writeFileSync(
    file,
    `process.on('exit', () => require('fs').writeFileSync(${JSON.stringify(listed)}, ` +
      `JSON.stringify(${LISTS[list]})));`,
  );
  return {
    file,
    nodeOption: `--require ${file}`,
    read: () => (JSON.parse(fs.readFileSync(listed, 'utf8')) as string[]).filter((f) => f !== file),
  };
}
