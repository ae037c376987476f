// Bundles the compiled proxy (dist/main.js and everything it loads at start) into one file,
// dist/bundle/main.js: what the image runs, the tests start and `npm start` runs (package.json `bin`).
// `npm run build` runs this after tsc. Why one file: a proxy at rest holds less. Resolving 186 modules at
// start made node's path functions hot enough to page in V8's optimizing compilers (file-backed pages of the
// node binary), and each module kept its source and wrapper; minified, without comments, the source V8
// keeps for lazy compilation shrinks by a third. An idle proxy rests 6.5 MB lower (test/bench/notes.md).
// Identifiers are not minified, so functions and classes keep their names in stack traces without esbuild's
// keepNames (which would rename every closure as it is created, on the request path too). Positions in a
// logged stack are the bundle's: main.js.map beside it maps them to the TypeScript (DEVELOPERS.md).
// A large dependency loaded only on demand belongs in EXTERNAL: bundled, its source would be held all the same.
import { build } from 'esbuild';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));

/** Loaded only on demand, and large: the AWS SDK (credential providers, the resync CLI's client) and pg's native binding. */
const EXTERNAL = ['@aws-sdk/*', '@smithy/*', 'pg-native'];

await build({
  entryPoints: [join(here, 'dist', 'main.js')],
  // In a folder of dist, so that `__dirname/../native` finds the malloc_trim addon as from dist/memory/.
  outfile: join(here, 'dist', 'bundle', 'main.js'),
  bundle: true,
  platform: 'node',
  target: 'node24',
  format: 'cjs',
  minifyWhitespace: true,
  minifySyntax: true,
  sourcemap: 'linked',
  legalComments: 'eof',
  external: EXTERNAL,
  logLevel: 'warning',
});
