import fs from 'node:fs';
import path from 'node:path';

/**
 * A `--require` hook that writes the builtins a Node process loaded (`process.moduleLoadList`) to `dir` when it
 * exits: `nodeOption` goes in its NODE_OPTIONS, `read()` after it stopped.
 */
export function builtinsListHook(dir: string): { nodeOption: string; read(): string[] } {
  const hook = path.join(dir, 'builtins-hook.js');
  const listed = path.join(dir, 'builtins.json');
  fs.writeFileSync(
    hook,
    `process.on('exit', () => require('fs').writeFileSync(${JSON.stringify(listed)}, ` +
      `JSON.stringify(process.moduleLoadList)));`,
  );
  return {
    nodeOption: `--require ${hook}`,
    read: () => JSON.parse(fs.readFileSync(listed, 'utf8')) as string[],
  };
}
