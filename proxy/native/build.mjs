// Compiles proxy/native/malloc-trim.c into proxy/dist/native/malloc-trim.node (`npm run build` runs this after
// tsc). Node-API, against the headers of the Node that runs this script. Without a C compiler or those headers
// it says why and leaves the addon out: the proxy then collects garbage only when it reclaims memory
// (proxy/src/memory/). `--required` (the image's build) fails instead.
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const source = join(here, 'malloc-trim.c');
const output = join(here, '..', 'dist', 'native', 'malloc-trim.node');
const required = process.argv.includes('--required');

const headerDirs = [
  process.env.npm_config_nodedir && join(process.env.npm_config_nodedir, 'include', 'node'),
  resolve(dirname(process.execPath), '..', 'include', 'node'),
].filter((dir) => dir && existsSync(join(dir, 'node_api.h')));

function giveUp(reason) {
  console.error(`proxy/native/build.mjs: malloc-trim addon not built: ${reason}`);
  process.exit(required ? 1 : 0);
}

if (headerDirs.length === 0) giveUp(`no node_api.h beside ${process.execPath} (set npm_config_nodedir)`);
mkdirSync(dirname(output), { recursive: true });
const compiler = process.env.CC || 'cc';
try {
  execFileSync(
    compiler,
    // Node's headers as system headers: a newer compiler's warnings about them must not fail the build.
    [
      '-shared',
      '-fPIC',
      '-O2',
      '-Wall',
      '-Wextra',
      '-Werror',
      '-isystem',
      headerDirs[0],
      '-o',
      output,
      source,
    ],
    { stdio: ['ignore', 'inherit', 'inherit'] },
  );
} catch (err) {
  giveUp(
    err.code === 'ENOENT'
      ? `no C compiler (${compiler}): install gcc and libc6-dev (test/setup.sh does), or set CC`
      : `${compiler} failed (exit ${err.status})`,
  );
}
