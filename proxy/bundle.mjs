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
import { createRequire } from 'node:module';
import { dirname, join, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));

/** Loaded only on demand, and large: the AWS SDK (credential providers, the resync CLI's client) and pg's native binding. */
const EXTERNAL = ['@aws-sdk/*', '@smithy/*', 'pg-native'];

/**
 * Files inside bundled packages that are loaded on demand, left to load from node_modules when they are:
 * undici's HTTP parser as WebAssembly in base64 (two of 71 KB; its client loads one at its first connection),
 * and its fetch body mixins (loaded only for a FormData body, which the proxy never sends).
 */
const EXTERNAL_FILES = [
  'undici/lib/llhttp/llhttp-wasm.js',
  'undici/lib/llhttp/llhttp_simd-wasm.js',
  'undici/lib/web/fetch/body.js',
];

/**
 * Package files the bundle replaces with the proxy's own: pg's password-authentication helpers, which load
 * Web Crypto at start, by the same functions over node:crypto (src/inventory/pg-crypto.ts says why).
 */
const REPLACED_FILES = { 'pg/lib/crypto/utils.js': join(here, 'dist', 'inventory', 'pg-crypto.js') };

/**
 * Modules of bundled packages that the bundle evaluates at their first call instead of at start, each one that
 * exports a single function: undici's HTTP/2 session code, which loads node:http2 as it loads (2.5 MB of a
 * resting proxy, test/bench/notes.md) and runs only when a server offers h2 to a client that allows it (the
 * proxy's never do).
 */
const DEFERRED_FILES = ['undici/lib/dispatcher/client-h2.js'];

/** `pkg/lib/x.js` of a path inside node_modules. */
const packageFile = (absolute) => absolute.split(`${sep}node_modules${sep}`).pop()?.split(sep).join('/');

/** Where each file left out was found: at run time its package path must lead to that same file. */
const externalFrom = new Map();
/** Where each deferred file was found: it must export a bare function, which is all its stand-in passes on. */
const deferredFrom = new Map();

const onDemandAndReplaced = {
  name: 'on-demand-and-replaced-files',
  setup(b) {
    b.onResolve({ filter: /^\.\.?\// }, (args) => {
      if (!args.importer.includes(`${sep}node_modules${sep}`)) return undefined;
      let absolute = resolve(args.resolveDir, args.path);
      if (!absolute.endsWith('.js')) absolute += '.js';
      const file = packageFile(absolute);
      if (EXTERNAL_FILES.includes(file)) {
        const seen = externalFrom.get(file);
        if (seen !== undefined && seen !== absolute)
          throw new Error(`${file} is both ${seen} and ${absolute}`);
        externalFrom.set(file, absolute);
        return { path: file, external: true };
      }
      if (file in REPLACED_FILES) return { path: REPLACED_FILES[file] };
      if (DEFERRED_FILES.includes(file)) {
        deferredFrom.set(file, absolute);
        // Named by its package path: the build machine's folders stay out of the bundle.
        return { path: file, namespace: 'deferred', pluginData: { absolute } };
      }
      return undefined;
    });
    // In the module's place, a function that requires it at its first call (bundled all the same: a package
    // path, which the resolver above leaves alone; the checks below make sure it is the same file).
    b.onLoad({ filter: /.*/, namespace: 'deferred' }, ({ path: file, pluginData: { absolute } }) => ({
      contents: `let loaded;
module.exports = function deferred(...args) {
  loaded ??= require(${JSON.stringify(file)});
  return loaded.apply(this, args);
};`,
      resolveDir: dirname(absolute),
      loader: 'js',
    }));
  },
};

const result = await build({
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
  plugins: [onDemandAndReplaced],
  metafile: true,
  logLevel: 'warning',
});

// A dependency update that moves one of those files must fail the build, not ship it bundled again.
const bundled = Object.keys(result.metafile.inputs).map((f) => f.split('node_modules/').pop());
const stillBundled = [...EXTERNAL_FILES, ...Object.keys(REPLACED_FILES)].filter((f) => bundled.includes(f));
const imports = Object.values(result.metafile.outputs).flatMap((o) => o.imports.map((i) => i.path));
const unmatched = [
  ...EXTERNAL_FILES.filter((f) => !imports.includes(f)),
  ...Object.entries(REPLACED_FILES)
    .filter(([, by]) => !Object.keys(result.metafile.inputs).some((f) => resolve(f) === by))
    .map(([f]) => f),
];
// Required by package path from the bundle, each must resolve to the file the bundled code came with (a nested
// copy of the package, or an `exports` field that hides it, would fail only at the first upstream connection).
const requireFromBundle = createRequire(join(here, 'dist', 'bundle', 'main.js'));
for (const [file, absolute] of externalFrom) {
  let found;
  try {
    found = requireFromBundle.resolve(file);
  } catch (err) {
    found = err.code;
  }
  if (found !== absolute) unmatched.push(`${file} (from the bundle: ${found}, bundled code's: ${absolute})`);
}
// A deferred module must export a bare function, not a class (the stand-in passes on calls, nothing else), and only its
// stand-in may import it: another importer would evaluate it at start again, or get it twice.
const importersOf = (path) =>
  Object.entries(result.metafile.inputs)
    .filter(([, input]) => input.imports.some((i) => i.path === path))
    .map(([importer]) => importer);
for (const file of DEFERRED_FILES) {
  const absolute = deferredFrom.get(file);
  if (absolute === undefined) {
    unmatched.push(`${file} (deferred, not imported)`);
    continue;
  }
  const exported = requireFromBundle(absolute);
  const bareFunction =
    typeof exported === 'function' &&
    Object.keys(exported).length === 0 &&
    !Function.prototype.toString.call(exported).startsWith('class');
  if (!bareFunction) unmatched.push(`${file} (deferred, exports more than a function to call)`);
  const standIn = `deferred:${file}`;
  const inBundle = Object.keys(result.metafile.inputs).filter((f) => resolve(f) === absolute);
  const importers = inBundle.flatMap(importersOf);
  if (inBundle.length !== 1 || importers.length !== 1 || importers[0] !== standIn)
    unmatched.push(
      `${file} (deferred, bundled as ${inBundle.join(' ')}, imported by ${importers.join(' ')})`,
    );
}
if (stillBundled.length || unmatched.length) {
  throw new Error(
    `proxy/bundle.mjs: files to leave out, replace or defer not matched: ${[...stillBundled, ...unmatched].join(', ')}`,
  );
}
