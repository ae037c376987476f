import type * as ClientS3 from '@aws-sdk/client-s3';
import type * as LibStorage from '@aws-sdk/lib-storage';

/**
 * The AWS SDK's S3 modules, loaded at their first use. The data path, the copies, the scan and preparing
 * a mirror bucket go over undici with the proxy's own signer; in the proxy the SDK serves only multipart
 * copies over 5 GiB (and the resync command, a process of its own). Loaded, it held about 10 MB of
 * resident memory (8 MB of V8 heap) for the rest of the process's life (test/bench/notes.md).
 *
 * `require`, not `import()`: in this CommonJS build `import()` stays a real dynamic import and would load
 * the SDK's ES module build, a second copy beside the CommonJS one (whose classes the tests and the
 * @smithy modules share).
 */
let clientS3: typeof ClientS3 | undefined;
let libStorage: typeof LibStorage | undefined;

export function s3Sdk(): typeof ClientS3 {
  // eslint-disable-next-line @typescript-eslint/no-require-imports -- loaded on first use, see above
  return (clientS3 ??= require('@aws-sdk/client-s3') as typeof ClientS3);
}

export function s3Storage(): typeof LibStorage {
  // eslint-disable-next-line @typescript-eslint/no-require-imports -- loaded on first use, see above
  return (libStorage ??= require('@aws-sdk/lib-storage') as typeof LibStorage);
}

/**
 * An S3Client made (and the SDK loaded) at the first use of any of its members: a proxy constructs its
 * clients at start but may never call them. `destroy()` of a client never made does nothing.
 */
export function lazyS3Client(make: () => ClientS3.S3Client): ClientS3.S3Client {
  let made: ClientS3.S3Client | undefined;
  return new Proxy({} as ClientS3.S3Client, {
    get(_target, prop) {
      if (prop === 'destroy' && !made) return () => undefined;
      // Not a thenable: awaiting the client must not make it.
      if (prop === 'then') return undefined;
      const client = (made ??= make());
      const value: unknown = Reflect.get(client, prop, client);
      return typeof value === 'function' ? (value as (...a: unknown[]) => unknown).bind(client) : value;
    },
  });
}
