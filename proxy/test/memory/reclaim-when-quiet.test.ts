import {
  startMemoryReclaim,
  type ReclaimEdges,
  type ReclaimResult,
} from '../../src/memory/reclaim-when-quiet';

const MiB = 1024 * 1024;

/**
 * A process whose RSS, Buffers and CPU the test sets; collecting garbage frees the Buffers and some memory,
 * trimming gives some more back.
 */
function fakeProcess(opts: { trim?: boolean; gcThrows?: boolean } = {}) {
  const p = {
    rss: 74 * MiB,
    arrayBuffers: 64 * MiB,
    requests: 0,
    cpuUs: 0,
    nowUs: 0,
    calls: [] as string[],
    reclaims: [] as ReclaimResult[],
  };
  const errors: Error[] = [];
  const edges: ReclaimEdges = {
    rssBytes: () => p.rss,
    arrayBufferBytes: () => p.arrayBuffers,
    cpuMicros: () => p.cpuUs,
    nowMicros: () => p.nowUs,
    collectGarbage: ({ flushCode }) => {
      if (opts.gcThrows) throw new Error('no gc');
      p.calls.push(flushCode ? 'gc+flush' : 'gc');
      p.rss -= 10 * MiB;
      p.arrayBuffers = 1 * MiB;
      p.cpuUs += 15_000;
      p.nowUs += 15_000;
      return { bytecodeFreedBytes: flushCode ? 900_000 : 0 };
    },
    requestsServed: () => p.requests,
    mallocTrim:
      opts.trim === false
        ? undefined
        : () => {
            p.calls.push('trim');
            p.rss -= 20 * MiB;
            return true;
          },
    onReclaim: (r) => p.reclaims.push(r),
    onError: (e) => errors.push(e),
  };
  /** `ms` of wall time in which the process used `cpuMs` of CPU and ended at `rssMiB`. */
  const pass = (ms: number, cpuMs: number, rssMiB: number): void => {
    p.nowUs += ms * 1000;
    p.cpuUs += cpuMs * 1000;
    p.rss = rssMiB * MiB;
  };
  return { p, edges, errors, pass };
}

/** The reclaim of a process that has started and made its start-up reclaim; calls and results cleared. */
function pastStartUp(f: ReturnType<typeof fakeProcess>) {
  const reclaim = startMemoryReclaim(f.edges, { timer: false });
  f.pass(5_000, 0, f.p.rss / MiB);
  reclaim.sample();
  expect(f.p.reclaims.map((r) => r.cause)).toEqual(['start-up']);
  f.p.calls.length = 0;
  f.p.reclaims.length = 0;
  f.p.arrayBuffers = 64 * MiB;
  return reclaim;
}

test('the first quiet moment after start-up collects garbage, flushing code, and trims, grown or not; then no more at rest', () => {
  const { p, edges, pass } = fakeProcess();
  p.arrayBuffers = 1 * MiB;
  const reclaim = startMemoryReclaim(edges, { timer: false });
  pass(5_000, 400, 74); // still starting: busy
  reclaim.sample();
  expect(p.calls).toEqual([]);
  pass(5_000, 10, 74); // quiet, not grown, few Buffers
  reclaim.sample();
  expect(p.calls).toEqual(['gc+flush', 'trim']);
  expect(p.reclaims).toEqual([
    {
      cause: 'start-up',
      rssBeforeBytes: 74 * MiB,
      rssAfterBytes: 44 * MiB,
      durationMs: 15,
      collected: true,
      flushedCode: true,
      bytecodeFreedBytes: 900_000,
      trimmed: true,
    },
  ]);
  for (let i = 0; i < 10; i++) {
    pass(5_000, 5, 45);
    reclaim.sample();
  }
  expect(p.calls).toEqual(['gc+flush', 'trim']);
  reclaim.stop();
});

test('after a large transfer, once quiet: a full collection, then malloc_trim; the result is reported', () => {
  const f = fakeProcess();
  const { p, pass } = f;
  const reclaim = pastStartUp(f);
  pass(5_000, 2_000, 140); // the burst
  reclaim.sample();
  expect(p.calls).toEqual([]);
  pass(5_000, 20, 140); // quiet
  reclaim.sample();
  expect(p.calls).toEqual(['gc', 'trim']);
  expect(p.reclaims).toEqual([
    {
      cause: 'growth',
      rssBeforeBytes: 140 * MiB,
      rssAfterBytes: 110 * MiB,
      durationMs: 15,
      collected: true,
      flushedCode: false,
      bytecodeFreedBytes: 0,
      trimmed: true,
    },
  ]);
  // Quiet again, nothing new: no second reclaim.
  pass(5_000, 5, 110);
  reclaim.sample();
  pass(5_000, 5, 111);
  reclaim.sample();
  expect(p.calls).toEqual(['gc', 'trim']);
  reclaim.stop();
});

test('after small writes (few Buffers): malloc_trim alone, no collection', () => {
  const f = fakeProcess();
  const { p, pass } = f;
  const reclaim = pastStartUp(f);
  p.arrayBuffers = 2 * MiB;
  pass(5_000, 3_000, 110);
  reclaim.sample();
  pass(5_000, 0, 110);
  reclaim.sample();
  expect(p.calls).toEqual(['trim']);
  expect(p.reclaims[0]).toMatchObject({ rssAfterBytes: 90 * MiB, collected: false, trimmed: true });
});

test('the reclaim’s own CPU does not make the next interval look busy', () => {
  const { p, edges, pass } = fakeProcess();
  edges.collectGarbage = () => {
    p.calls.push('gc');
    p.rss -= 30 * MiB;
    p.arrayBuffers = 20 * MiB; // still worth a collection next time
    p.cpuUs += 200_000; // a collection of 200 ms: four times what a quiet interval may use
    p.nowUs += 200_000;
    return { bytecodeFreedBytes: 0 };
  };
  const reclaim = startMemoryReclaim(edges, { timer: false });
  pass(5_000, 0, 140);
  reclaim.sample(); // start-up
  expect(p.reclaims).toHaveLength(1);
  // Quiet, and grown again by more than the threshold: reclaimed, though the first reclaim's 200 ms were
  // spent just before this interval.
  pass(5_000, 0, p.rss / MiB + 10);
  reclaim.sample();
  expect(p.reclaims).toHaveLength(2);
});

test('without the addon it collects garbage only, and says so', () => {
  const f = fakeProcess({ trim: false });
  const { p, pass } = f;
  const reclaim = pastStartUp(f);
  pass(5_000, 2_000, 140); // a large transfer
  reclaim.sample();
  pass(5_000, 0, 140);
  reclaim.sample();
  expect(p.calls).toEqual(['gc']);
  expect(p.reclaims[0]).toMatchObject({
    cause: 'growth',
    rssAfterBytes: 130 * MiB,
    collected: true,
    trimmed: false,
  });
});

test('a failed collection is reported, and the trim still runs: at start-up and after growth', () => {
  const f = fakeProcess({ gcThrows: true });
  const { p, errors, edges, pass } = f;
  const reclaim = startMemoryReclaim(edges, { timer: false });
  pass(5_000, 0, 74);
  reclaim.sample();
  pass(5_000, 2_000, 140); // a large transfer
  reclaim.sample();
  p.arrayBuffers = 64 * MiB;
  pass(5_000, 0, 140);
  reclaim.sample();
  expect(errors.map((e) => e.message)).toEqual(['no gc', 'no gc']);
  expect(p.calls).toEqual(['trim', 'trim']);
  expect(p.reclaims).toEqual([
    expect.objectContaining({
      cause: 'start-up',
      rssAfterBytes: 54 * MiB,
      collected: false,
      flushedCode: false,
      trimmed: true,
    }),
    expect.objectContaining({ cause: 'growth', rssAfterBytes: 120 * MiB, collected: false, trimmed: true }),
  ]);
});

test('a failure of its own edges never leaves the sample: it is reported, and a later sample tries again', () => {
  const f = fakeProcess();
  const { p, errors, edges, pass } = f;
  const reclaim = pastStartUp(f);
  let rssFails = true;
  const rssBytes = edges.rssBytes;
  edges.rssBytes = () => {
    if (rssFails) throw new Error('EMFILE: /proc/self/stat');
    return rssBytes();
  };
  pass(5_000, 0, 140);
  expect(() => reclaim.sample()).not.toThrow();
  expect(errors.map((e) => e.message)).toEqual(['EMFILE: /proc/self/stat']);
  rssFails = false;
  // The failed sample left the baseline where it was: the next quiet sample reclaims.
  pass(5_000, 0, 140);
  reclaim.sample();
  expect(p.calls).toEqual(['gc', 'trim']);
});

test('a sample that fails before the start-up reclaim leaves it due; one that fails in it does not repeat it', () => {
  const f = fakeProcess();
  const { p, errors, edges, pass } = f;
  let buffersFail = true;
  edges.arrayBufferBytes = () => {
    if (buffersFail) throw new Error('EMFILE');
    return p.arrayBuffers;
  };
  const reclaim = startMemoryReclaim(edges, { timer: false });
  pass(5_000, 0, 74);
  reclaim.sample();
  expect(errors.map((e) => e.message)).toEqual(['EMFILE']);
  expect(p.calls).toEqual([]);
  buffersFail = false;
  pass(5_000, 0, 74);
  reclaim.sample();
  expect(p.calls).toEqual(['gc+flush', 'trim']);

  // Failing inside the start-up reclaim (the trim throws): reported, and not tried again at rest.
  const g = fakeProcess();
  g.edges.mallocTrim = () => {
    g.p.calls.push('trim');
    throw new Error('trim failed');
  };
  const other = startMemoryReclaim(g.edges, { timer: false });
  g.pass(5_000, 0, 74);
  other.sample();
  g.pass(5_000, 0, 74);
  other.sample();
  expect(g.p.calls).toEqual(['gc+flush', 'trim']);
  expect(g.errors.map((e) => e.message)).toEqual(['trim failed']);
});

test('samples on its timer until stopped', () => {
  jest.useFakeTimers();
  try {
    const { p, edges, pass } = fakeProcess();
    const reclaim = startMemoryReclaim(edges, { sampleMs: 5_000 });
    pass(5_000, 0, 74);
    jest.advanceTimersByTime(4_999);
    expect(p.calls).toEqual([]);
    jest.advanceTimersByTime(1);
    expect(p.calls).toEqual(['gc+flush', 'trim']);
    reclaim.stop();
    pass(5_000, 0, 200);
    jest.advanceTimersByTime(60_000);
    expect(p.reclaims).toHaveLength(1);
  } finally {
    jest.useRealTimers();
  }
});

test('a proxy that answered requests before its first quiet moment collects start-up’s garbage and keeps its code', () => {
  const { p, edges, pass } = fakeProcess();
  const reclaim = startMemoryReclaim(edges, { timer: false });
  p.requests = 3;
  pass(5_000, 0, 80);
  reclaim.sample();
  expect(p.calls).toEqual(['gc', 'trim']);
  expect(p.reclaims).toEqual([
    expect.objectContaining({ cause: 'start-up', flushedCode: false, bytecodeFreedBytes: 0 }),
  ]);
});
