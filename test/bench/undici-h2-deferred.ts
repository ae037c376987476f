/**
 * The hop gets what the proxy's bundle does (proxy/bundle.mjs, DEFERRED_FILES): undici's HTTP/2 code, and
 * node:http2 with it, loads at its first call instead of with undici's client, so that at rest the hop stays
 * the floor under the proxy. Imported before anything that loads undici.
 */
import Module, { createRequire } from 'node:module';

type ConnectH2 = (this: unknown, ...args: unknown[]) => unknown;

// Resolved from the hop's pool module, which loads undici: the very file undici's client will require.
const fromPool = createRequire(require.resolve('@k8s-s3-mirror/proxy/dist/http/undici-pool'));
const file = fromPool.resolve('undici/lib/dispatcher/client-h2.js');
let loaded: ConnectH2 | undefined;
const standIn = new Module(file);
standIn.filename = file;
standIn.loaded = true;
standIn.exports = function deferred(this: unknown, ...args: unknown[]): unknown {
  if (loaded === undefined) {
    require.cache[file] = undefined; // so that require loads the module itself
    // eslint-disable-next-line @typescript-eslint/no-require-imports -- loaded at its first call, see above
    loaded = require(file) as ConnectH2;
  }
  return loaded.apply(this, args);
};
require.cache[file] = standIn;
