/**
 * A full garbage collection on demand. The function `--expose-gc` provides is installed in contexts created
 * after the flag is set; a fresh context per call (about 2 ms and 1 MB) keeps it off the proxy's own global,
 * and dropped after the call, it costs nothing between reclaims.
 */
import v8 from 'node:v8';
import vm from 'node:vm';

let flagSet = false;

export function collectGarbage(): void {
  if (!flagSet) {
    v8.setFlagsFromString('--expose-gc');
    flagSet = true;
  }
  const gc: unknown = vm.runInNewContext('gc');
  if (typeof gc !== 'function') throw new Error('V8 gave no gc function despite --expose-gc');
  gc();
  // V8 frees the backing stores of dead ArrayBuffers on a background thread after the collection; the next
  // collection waits for that first. A young-generation one (about 1 ms) is enough, so what the caller does
  // next (malloc_trim) finds them freed.
  gc({ type: 'minor' });
}
