/**
 * Garbage collections on demand. The function `--expose-gc` provides is installed in contexts created after
 * the flag is set; a context of its own (about 2 ms and 1 MB) keeps it off the proxy's own global. A full
 * collection takes a fresh one and drops it after the call, so it costs nothing between reclaims. The
 * collections made while bodies stream (young-generation ones, many to a large transfer, and now and then a
 * full one) share one, kept until the next reclaim (once the proxy is quiet) drops it.
 *
 * `flushCode`: the collection also drops the bytecode (and baseline code) of every function not running, which
 * V8 does by itself only for functions unused over several major collections. V8's own flag for it
 * (`--stress-flush-code`, read at the start of each collection) is set for this one collection only; what it
 * dropped is measured, since V8 ignores a flag it does not know with no more than a line on stderr.
 */
import v8 from 'node:v8';
import vm from 'node:vm';

let gcExposed = false;

type GcFunction = (opts?: { type: 'minor' }) => void;

function gcFromNewContext(): GcFunction {
  if (!gcExposed) {
    v8.setFlagsFromString('--expose-gc');
    gcExposed = true;
  }
  const gc: unknown = vm.runInNewContext('gc');
  if (typeof gc !== 'function') throw new Error('V8 gave no gc function despite --expose-gc');
  return gc as GcFunction;
}

let minorGc: GcFunction | undefined;

export interface Collected {
  /** Bytecode and its metadata the collection dropped (0 unless flushing code). */
  bytecodeFreedBytes: number;
}

const bytecodeBytes = (): number => v8.getHeapCodeStatistics().bytecode_and_metadata_size;

export function collectGarbage(opts: { flushCode?: boolean } = {}): Collected {
  const gc = gcFromNewContext();
  // A quiet proxy keeps no context for the collections of the next large transfer.
  minorGc = undefined;
  const bytecodeBefore = opts.flushCode ? bytecodeBytes() : 0;
  if (opts.flushCode) v8.setFlagsFromString('--stress-flush-code');
  try {
    gc();
  } finally {
    if (opts.flushCode) v8.setFlagsFromString('--no-stress-flush-code');
  }
  // V8 frees the backing stores of dead ArrayBuffers on a background thread after the collection; the next
  // collection waits for that first. A young-generation one (about 1 ms) is enough, so what the caller does
  // next (malloc_trim) finds them freed.
  gc({ type: 'minor' });
  return { bytecodeFreedBytes: opts.flushCode ? Math.max(0, bytecodeBefore - bytecodeBytes()) : 0 };
}

/** A young-generation collection. */
export function scavenge(): void {
  minorGc ??= gcFromNewContext();
  minorGc({ type: 'minor' });
}

/** A full collection while bodies stream, through the young-generation collections' context. */
export function collectFullWhileStreaming(): void {
  minorGc ??= gcFromNewContext();
  minorGc();
}
