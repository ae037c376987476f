/**
 * The malloc_trim addon as `npm run build` leaves it in proxy/dist/native (the test command builds first), and
 * the full collection the reclaim runs before it.
 */
import fs from 'node:fs';
import path from 'node:path';
import v8 from 'node:v8';
import vm from 'node:vm';

import { collectGarbage } from '../../src/memory/garbage-collection';
import { loadMallocTrim } from '../../src/memory/malloc-trim';

const BUILT_ADDON = path.join(__dirname, '..', '..', 'dist', 'native', 'malloc-trim.node');
const MiB = 1024 * 1024;

/** Anonymous resident memory of this process (the heap glibc hands out), from /proc. */
function rssAnonBytes(): number {
  const status = fs.readFileSync('/proc/self/status', 'utf8');
  return Number(/^RssAnon:\s+(\d+) kB$/m.exec(status)![1]) * 1024;
}

test('a file that is no addon gives no trim (the proxy then collects garbage only)', () => {
  expect(loadMallocTrim(path.join(__dirname, 'no-such-addon.node'))).toEqual({
    ok: false,
    reason: expect.stringContaining('no-such-addon.node') as unknown,
  });
  expect(loadMallocTrim(__filename)).toMatchObject({ ok: false });
});

/**
 * 3,000 Buffers of 64 KiB (a socket read's size: from glibc's arenas, not mmap), of which every eighth is kept:
 * what lies between them, once collected, is freed but cannot shrink an arena from its top. Made in a function
 * of its own so that nothing of the whole array stays reachable from the caller's frame.
 */
function fragmentedBuffers(): Buffer[] {
  const all = Array.from({ length: 3_000 }, () => Buffer.allocUnsafeSlow(64 * 1024).fill(7));
  return all.filter((_, i) => i % 8 === 0);
}

test('malloc_trim gives back glibc memory freed in the middle of its arenas, which free() alone keeps', () => {
  const addon = loadMallocTrim(BUILT_ADDON);
  // Built by `npm run build` (proxy/native/build.mjs; test/setup.sh installs a C compiler when missing).
  if (!addon.ok) throw new Error(`the malloc_trim addon did not load: ${addon.reason}`);
  const kept = fragmentedBuffers();
  collectGarbage(); // once, as a reclaim does
  const beforeTrim = rssAnonBytes();
  expect(addon.trim()).toBe(true);
  const afterTrim = rssAnonBytes();
  expect(kept).toHaveLength(375);
  // About 7/8 of 187.5 MiB was freed; at least half of that must leave the process.
  expect(beforeTrim - afterTrim).toBeGreaterThan(80 * MiB);
});

// Once the flag is set, contexts made later in this process (jest's, for the test files after this one) have
// a global gc; the proxy's own, made at start, never does.
test('collectGarbage runs V8’s full collection without putting gc on the global object', async () => {
  const weak = new WeakRef({ payload: 'x'.repeat(1000) });
  expect(weak.deref()).toBeDefined();
  // A WeakRef keeps its target for the rest of the turn that made or read it.
  await new Promise((resolve) => setImmediate(resolve));
  collectGarbage();
  expect(weak.deref()).toBeUndefined();
  expect((globalThis as { gc?: unknown }).gc).toBeUndefined();
});

/** 2,000 functions, each run once (as start-up runs its code): about 0.9 MB of bytecode. */
function compiledFunctions(): ((n: number) => number)[] {
  const sources = Array.from(
    { length: 2_000 },
    (_, i) => `(n) => { let s = ${i}; for (let j = 0; j < n; j++) s += j * ${i}; return s; }`,
  );
  const fns = vm.runInThisContext(`[${sources.join(',')}]`) as ((n: number) => number)[];
  for (const f of fns) f(3);
  return fns;
}

const bytecodeBytes = (): number => v8.getHeapCodeStatistics().bytecode_and_metadata_size;

test('collectGarbage({ flushCode: true }) drops the bytecode of functions not running, for that collection only', () => {
  const fns = compiledFunctions();
  expect(collectGarbage()).toEqual({ bytecodeFreedBytes: 0 });
  const kept = bytecodeBytes();
  const { bytecodeFreedBytes } = collectGarbage({ flushCode: true });
  const flushed = bytecodeBytes();
  expect(kept - flushed).toBeGreaterThan(500_000);
  // What it reports is what V8's statistics show.
  expect(Math.abs(bytecodeFreedBytes - (kept - flushed))).toBeLessThan(50_000);
  // What runs again compiles again, and computes what it did.
  expect(fns[7]!(3)).toBe(7 + 0 * 7 + 1 * 7 + 2 * 7);
  for (const f of fns) f(3);
  const recompiled = bytecodeBytes();
  expect(recompiled - flushed).toBeGreaterThan(200_000);
  // V8's flag is off again: a plain collection keeps what was just compiled.
  collectGarbage();
  expect(recompiled - bytecodeBytes()).toBeLessThan(100_000);
});
