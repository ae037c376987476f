import { createLogThrottle } from '../../src/tracking/log-throttle';
import { LoopGeneration } from '../../src/tracking/loop-generation';
import { MirrorWorkers, type DueWork, type MirrorWorkersDeps } from '../../src/tracking/mirror-workers';
import type { RowTurn } from '../../src/tracking/row-mirror';
import { recordingLogger, tick, until } from './fakes';

const heldRow = (bucket: string) => ({
  id: 1,
  path: `${bucket}/next`,
  generation: '1',
  attempts: 0,
  deleted: false,
  deleted_for_seconds: null,
  catching_up: false,
});

/** Rows waiting per bucket; copyFromRow takes one and counts concurrent copies. */
function setup(concurrency: number, pending: Record<string, number>, over: Partial<MirrorWorkersDeps> = {}) {
  const { logger } = recordingLogger();
  const claims: string[] = [];
  const copies: string[] = [];
  const givenBack: string[] = [];
  const settled: string[] = [];
  let polls = 0;
  let running = 0;
  let peak = 0;
  const workers = new MirrorWorkers({
    concurrency,
    pollMs: () => 60_000,
    findDue: async (): Promise<DueWork> => {
      polls++;
      return { due: [] };
    },
    knownVersion: () => undefined,
    settle: async (bucket) => {
      settled.push(bucket);
    },
    postgresHealthy: () => true,
    copyFromMemory: async () => false,
    memoryCopiesRunning: () => 0,
    // A claim (unless the worker holds a row) takes one row; the completion claims the next when allowed.
    copyFromRow: async (bucket, opts): Promise<RowTurn> => {
      if (!opts.held) {
        claims.push(bucket);
        if (!pending[bucket]) return { kind: 'none' };
        pending[bucket]--;
        opts.onClaimed?.();
      }
      const claimNext = opts.claimNext?.() ?? false;
      copies.push(`${bucket}${claimNext ? ' +next' : ''}`);
      running++;
      peak = Math.max(peak, running);
      await tick(5);
      running--;
      if (!claimNext) return { kind: 'settled' };
      if (!pending[bucket]) return { kind: 'drained' };
      pending[bucket]--;
      opts.onClaimed?.();
      return { kind: 'next', held: { row: heldRow(bucket), owner: 'me:1' } };
    },
    giveBack: async (bucket) => {
      givenBack.push(bucket);
      pending[bucket] = (pending[bucket] ?? 0) + 1;
    },
    logger,
    throttle: createLogThrottle(),
    ...over,
  });
  return { workers, claims, copies, givenBack, settled, polls: () => polls, peak: () => peak };
}

async function stopAll(
  loops: LoopGeneration,
  workers: MirrorWorkers,
  running: Promise<void>[],
): Promise<void> {
  loops.end();
  workers.wake();
  await Promise.all(running);
}

test('an idle sidecar claims nothing: it polls the hints, and no bucket database', async () => {
  const { workers, claims, polls } = setup(8, { a: 0, b: 0 }, { pollMs: () => 10 });
  const loops = new LoopGeneration();
  const running = workers.start(loops.begin());
  // Counted in polls, not in wall time: a loaded machine runs fewer 10 ms timers in 100 ms.
  while (polls() <= 3) await tick(10);
  expect(claims).toEqual([]);
  await stopAll(loops, workers, running);
});

test('recorded writes are copied by the woken workers; a bucket whose rows ran out is settled and leaves', async () => {
  const pending = { a: 0, b: 0 };
  const { workers, claims, settled, polls } = setup(2, pending);
  const loops = new LoopGeneration();
  const running = workers.start(loops.begin());
  await until(() => polls() >= 1);
  pending.a = 2;
  pending.b = 2;
  workers.add('a', 2);
  workers.add('b', 2);
  await until(() => new Set(settled).size === 2 && workers.dueBuckets === 0);
  expect(pending).toEqual({ a: 0, b: 0 });
  expect([...new Set(settled)].sort()).toEqual(['a', 'b']);
  expect(workers.dueBuckets).toBe(0);
  const after = claims.length;
  await tick(50);
  expect(claims.length).toBe(after); // nothing due: no more claims
  await stopAll(loops, workers, running);
});

test('one recorded write wakes one worker, not all: one claim; its completion finds none left (no empty claim)', async () => {
  const pending = { a: 0 };
  const { workers, claims, settled, polls } = setup(8, pending);
  const loops = new LoopGeneration();
  const running = workers.start(loops.begin());
  await until(() => polls() >= 1);
  pending.a = 1;
  workers.add('a', 1);
  await until(() => settled.length >= 1);
  await tick(20); // time for a claim that should not come
  expect(claims).toEqual(['a']);
  expect(settled).toEqual(['a']);
  await stopAll(loops, workers, running);
});

test("a bucket's rows are copied one after another by completions that claim the next: one claim for three rows", async () => {
  const pending = { a: 0 };
  const { workers, claims, copies, settled, polls } = setup(1, pending);
  const loops = new LoopGeneration();
  const running = workers.start(loops.begin());
  await until(() => polls() >= 1);
  pending.a = 3;
  workers.add('a', 1);
  await until(
    () => settled.length >= 1,
    () => ({ copies, settled }),
  );
  await tick(20); // time for a copy or claim that should not come
  expect(pending.a).toBe(0);
  expect(claims).toEqual(['a']);
  expect(copies).toEqual(['a +next', 'a +next', 'a +next']);
  expect(settled).toEqual(['a']);
  expect(workers.dueBuckets).toBe(0);
  await stopAll(loops, workers, running);
});

test('with another bucket due, a completion claims nothing: the worker turns to the other bucket (round-robin)', async () => {
  const pending = { a: 0, b: 0 };
  const { workers, claims, copies, polls } = setup(1, pending);
  const loops = new LoopGeneration();
  const running = workers.start(loops.begin());
  await until(() => polls() >= 1);
  pending.a = 2;
  pending.b = 3;
  workers.add('a', 2);
  workers.add('b', 3);
  await until(
    () => workers.dueBuckets === 0,
    () => copies,
  );
  await tick(20); // time for a copy that should not come
  expect(pending).toEqual({ a: 0, b: 0 });
  // Both due: each completion alone, alternating; a's last completion (nothing known left in a) looks, and
  // so do b's once only b is left. One claim per row the completions did not take, none empty.
  expect(copies).toEqual(['a', 'b', 'a +next', 'b +next', 'b +next']);
  expect(claims).toEqual(['a', 'b', 'a', 'b']);
  await stopAll(loops, workers, running);
});

test('a worker claims only where a look is left: workers behind on several buckets make no empty claims', async () => {
  // Four workers, five buckets with one write each, copies slower than the writes come.
  const pending: Record<string, number> = {};
  const { workers, claims, copies, polls } = setup(4, pending);
  const loops = new LoopGeneration();
  const running = workers.start(loops.begin());
  await until(() => polls() >= 1);
  for (let round = 0; round < 3; round++) {
    for (const bucket of ['a', 'b', 'c', 'd', 'e']) {
      pending[bucket] = (pending[bucket] ?? 0) + 1;
      workers.add(bucket, 1);
      await tick(1);
    }
  }
  await until(
    () => workers.dueBuckets === 0,
    () => ({ copies, pending }),
  );
  await tick(20); // time for a claim that should not come
  expect(Object.values(pending).every((n) => n === 0)).toBe(true);
  expect(copies.length).toBe(15);
  // A claim per row the completions did not take: never more claims than rows.
  expect(claims.length).toBeLessThanOrEqual(15);
  await stopAll(loops, workers, running);
});

test('drained while a write was recorded during the copy: the bucket stays due and is looked at again', async () => {
  const pending = { a: 0 };
  const { workers, claims, settled } = setup(1, pending, {
    copyFromRow: async (bucket, opts): Promise<RowTurn> => {
      claims.push(bucket);
      if (!pending.a) return { kind: 'none' };
      pending.a--;
      await tick(5);
      // Recorded while the copy ran, after the completion's claim looked (its upsert not yet committed).
      if (claims.length === 1) workers.add('a', 0);
      return opts.claimNext?.() ? { kind: 'drained' } : { kind: 'settled' };
    },
  });
  const loops = new LoopGeneration();
  const running = workers.start(loops.begin());
  await tick(10);
  pending.a = 1;
  workers.add('a', 1);
  await until(
    () => claims.length >= 2 && workers.dueBuckets === 0,
    () => ({ claims, settled }),
  );
  await tick(20); // time for a claim that should not come
  expect(claims).toEqual(['a', 'a']); // the look again, which found none
  expect(settled).toEqual(['a']);
  expect(workers.dueBuckets).toBe(0);
  await stopAll(loops, workers, running);
});

test('whether a completion may claim is asked when the copy is settled: not with another bucket due by then', async () => {
  const asked: boolean[] = [];
  const loops = new LoopGeneration();
  const pending = { a: 0, b: 0 };
  const { workers } = setup(1, pending, {
    copyFromRow: async (bucket, opts): Promise<RowTurn> => {
      if (!pending[bucket as 'a']) return { kind: 'none' };
      pending[bucket as 'a']--;
      asked.push(opts.claimNext?.() ?? false); // before: only this bucket due
      if (asked.length === 1) workers.add('b', 0); // another bucket comes due while the copy runs
      asked.push(opts.claimNext?.() ?? false);
      return { kind: 'settled' };
    },
  });
  const running = workers.start(loops.begin());
  await tick(10);
  pending.a = 2;
  pending.b = 1;
  workers.add('a', 2);
  await until(
    () => asked.length >= 6,
    () => asked,
  );
  await tick(20); // time for a copy that should not come
  // a's first copy: asked again once b came due, with a's look left: no. Then b's copy and a's second: each
  // worker is the last on its bucket with nothing known left there, so its completion looks.
  expect(asked).toEqual([true, false, true, true, true, true]);
  await stopAll(loops, workers, running);
});

test('a completion may not claim once the worker is stopping', async () => {
  const asked: boolean[] = [];
  const loops = new LoopGeneration();
  const pending = { a: 0 };
  const { workers, polls } = setup(1, pending, {
    copyFromRow: async (_bucket, opts): Promise<RowTurn> => {
      if (!pending.a) return { kind: 'none' };
      pending.a--;
      asked.push(opts.claimNext?.() ?? false); // only this bucket due, the loop running
      loops.end(); // stop() while the copy runs
      asked.push(opts.claimNext?.() ?? false);
      return { kind: 'settled' };
    },
  });
  const running = workers.start(loops.begin());
  await until(() => polls() >= 1);
  pending.a = 1;
  workers.add('a', 1);
  await until(
    () => asked.length >= 2,
    () => asked,
  );
  expect(asked).toEqual([true, false]);
  await stopAll(loops, workers, running);
});

test('a row a completion leased to a worker is given back when the loop ends, or when Postgres goes away', async () => {
  for (const how of ['stop', 'postgres'] as const) {
    const pending = { a: 0 };
    let healthy = true;
    const loops = new LoopGeneration();
    const { workers, givenBack } = setup(1, pending, {
      postgresHealthy: () => healthy,
      copyFromRow: async (bucket, opts): Promise<RowTurn> => {
        if (opts.held) throw new Error('a held row was copied');
        pending.a--;
        if (how === 'stop') loops.end();
        else healthy = false;
        return { kind: 'next', held: { row: heldRow(bucket), owner: 'me:1' } };
      },
    });
    const running = workers.start(loops.begin());
    await tick(10);
    pending.a = 2;
    workers.add('a', 1);
    await until(
      () => givenBack.length >= 1,
      () => givenBack,
    );
    await tick(20); // time for a second give-back that should not come
    expect({ how, givenBack }).toEqual({ how, givenBack: ['a'] });
    await stopAll(loops, workers, running);
  }
});

test('a copy that ends after another worker found the bucket empty gets one more look, and the hint settled again', async () => {
  const pending = { a: 0 };
  const { workers, settled } = setup(2, pending, {
    copyFromRow: async (bucket): Promise<RowTurn> => {
      if (!pending[bucket as 'a']) return { kind: 'none' };
      pending.a--;
      await tick(30); // a long copy: the other worker finds nothing meanwhile
      return { kind: 'settled' };
    },
  });
  const loops = new LoopGeneration();
  const running = workers.start(loops.begin());
  await tick(10);
  pending.a = 1;
  workers.add('a', 2);
  await until(
    () => settled.length >= 2 && workers.dueBuckets === 0,
    () => settled,
  );
  await tick(20); // time for a third settle that should not come
  // Once while the row was leased (its lease set the hint), once after the copy was settled.
  expect(settled).toEqual(['a', 'a']);
  expect(workers.dueBuckets).toBe(0);
  await stopAll(loops, workers, running);
});

test('work found by the poll ramps up: each claimed row wakes one more worker', async () => {
  const pending = { a: 12 };
  let offered = false;
  const { workers, peak } = setup(4, pending, {
    findDue: async () => {
      const due = offered ? [] : ['a'];
      offered = true;
      return { due };
    },
  });
  const loops = new LoopGeneration();
  const running = workers.start(loops.begin());
  await until(() => pending.a === 0);
  expect(peak()).toBe(4);
  await stopAll(loops, workers, running);
});

test('a failed copy in a backlog found by the poll is followed by the next row at once, not at the next poll', async () => {
  const pending = { a: 5 };
  let polls = 0;
  const copied: string[] = [];
  const { workers } = setup(1, pending, {
    findDue: async () => ({ due: polls++ === 0 ? ['a'] : [] }),
    // Every copy fails (the mirror is down): settled with a retry, no look at what is left.
    copyFromRow: async (bucket): Promise<RowTurn> => {
      if (!pending[bucket as 'a']) return { kind: 'none' };
      pending.a--;
      copied.push(bucket);
      return { kind: 'settled' };
    },
  });
  const loops = new LoopGeneration();
  const running = workers.start(loops.begin());
  await until(
    () => pending.a === 0,
    () => copied,
  );
  expect(polls).toBe(1); // one poll found the bucket; the rest came without another (pollMs is 60 s)
  await stopAll(loops, workers, running);
});

test('pollNow looks at the hints at once (a notification), not at the next poll', async () => {
  const { workers, polls } = setup(1, {});
  const loops = new LoopGeneration();
  const running = workers.start(loops.begin());
  await until(() => polls() >= 1);
  workers.pollNow();
  workers.pollNow(); // coalesced
  await until(() => polls() >= 2);
  await tick(20); // time for a third look that should not come
  expect(polls()).toBe(2);
  await stopAll(loops, workers, running);
});

test('a hint coming due sooner than the poll interval is looked at when it comes due', async () => {
  let calls = 0;
  const { workers } = setup(
    1,
    {},
    {
      findDue: async () => {
        calls++;
        return calls === 1 ? { due: [], nextInMs: 30 } : { due: [] };
      },
    },
  );
  const loops = new LoopGeneration();
  const running = workers.start(loops.begin());
  await until(() => calls >= 2);
  await tick(20);
  expect(calls).toBe(2);
  await stopAll(loops, workers, running);
});

test('a write recorded while a claim finds none keeps its bucket due', async () => {
  const pending = { a: 0 };
  let addDuringClaim: (() => void) | undefined;
  const { workers, settled } = setup(1, pending, {
    copyFromRow: async (bucket, opts): Promise<RowTurn> => {
      if (!opts.held && !pending[bucket as 'a']) {
        addDuringClaim?.();
        addDuringClaim = undefined;
        return { kind: 'none' };
      }
      pending.a--;
      return opts.claimNext?.() ? { kind: 'drained' } : { kind: 'settled' };
    },
  });
  const loops = new LoopGeneration();
  const running = workers.start(loops.begin());
  await tick(10);
  addDuringClaim = () => {
    pending.a = 1;
    workers.add('a', 0); // recorded while the claim ran: no idle worker to wake
  };
  workers.add('a', 1);
  await until(
    () => settled.length >= 2,
    () => settled,
  );
  await tick(20); // time for a third settle that should not come
  expect(pending.a).toBe(0);
  expect(settled).toEqual(['a', 'a']);
  await stopAll(loops, workers, running);
});

test('loops of a start that stop() gave up on end for good: a later start runs only its own', async () => {
  const pending = { a: 0 };
  const { workers, peak } = setup(1, pending);
  const loops = new LoopGeneration();
  const first = workers.start(loops.begin());
  await tick(10);
  loops.end(); // stop() without waking anyone: the old worker is still asleep
  const second = workers.start(loops.begin());
  await tick(10);
  pending.a = 6;
  workers.add('a', 1);
  workers.wake(); // reaches the old worker too: it must leave, not copy
  await Promise.all(first); // the old worker leaves (or the test times out)
  await until(() => pending.a === 0);
  expect(peak()).toBe(1); // MIRROR_CONCURRENCY=1 holds across the restart
  await stopAll(loops, workers, second);
});

test('while Postgres is down, workers copy from memory and leave rows alone', async () => {
  let memory = 3;
  const { workers, claims, polls } = setup(
    1,
    { a: 5 },
    {
      postgresHealthy: () => false,
      copyFromMemory: async () => {
        if (memory === 0) return false;
        memory--;
        return true;
      },
    },
  );
  const loops = new LoopGeneration();
  const running = workers.start(loops.begin());
  workers.add('a', 1);
  await until(() => memory === 0);
  expect(claims).toEqual([]);
  expect(polls()).toBe(0);
  await stopAll(loops, workers, running);
});

test('settle is given the hint version known when the look began, not one learnt during the copy', async () => {
  const versions: Record<string, string> = { a: '1' };
  const lookedAt: Array<string | undefined> = [];
  const { workers } = setup(
    1,
    { a: 1 },
    {
      knownVersion: (bucket) => versions[bucket],
      settle: async (_bucket, version) => {
        lookedAt.push(version);
      },
      copyFromRow: async (): Promise<RowTurn> => {
        versions.a = '2'; // a mark recorded while the claim ran
        await tick(1);
        return { kind: 'none' };
      },
    },
  );
  const loops = new LoopGeneration();
  const running = workers.start(loops.begin());
  try {
    workers.add('a');
    await until(
      () => lookedAt.length >= 1,
      () => lookedAt,
    );
    await tick(20); // time for a second settle that should not come
    expect(lookedAt).toEqual(['1']);
  } finally {
    await stopAll(loops, workers, running);
  }
});

test('a look held back for want of a catch-up slot waits for one: no claim while none is free, then one look, which settles the hint', async () => {
  let slotFree = false;
  const { workers, claims, settled } = setup(
    2,
    {},
    {
      catchUpSlotFree: () => slotFree,
      copyFromRow: async (bucket): Promise<RowTurn> => {
        claims.push(bucket);
        return claims.length === 1 ? { kind: 'held-back' } : { kind: 'none' };
      },
    },
  );
  const loops = new LoopGeneration();
  const running = workers.start(loops.begin());
  try {
    await tick(10);
    workers.add('a', 1);
    await until(() => claims.length >= 1);
    await tick(20); // time for a claim or a settle that should not come
    expect(claims).toEqual(['a']);
    expect(settled).toEqual([]); // the hint stays due
    expect(workers.dueBuckets).toBe(1); // the look is kept for a worker with a slot
    slotFree = true;
    workers.wake(1); // as the worker whose catch-up copy ends goes back to its loop
    await until(
      () => settled.length >= 1 && workers.dueBuckets === 0,
      () => ({ claims, settled }),
    );
    expect(claims).toEqual(['a', 'a']);
    expect(settled).toEqual(['a']);
  } finally {
    await stopAll(loops, workers, running);
  }
});

test('a copy holding a catch-up slot ends its chain when another bucket waits for one; a copy without one goes on', async () => {
  const asked: string[] = [];
  const { workers, claims } = setup(
    1,
    {},
    {
      catchUpSlotFree: () => false,
      copyFromRow: async (bucket, opts): Promise<RowTurn> => {
        claims.push(bucket);
        if (bucket === 'b') return { kind: 'held-back' };
        asked.push(`without ${String(opts.claimNext?.(false))}`, `holding ${String(opts.claimNext?.(true))}`);
        return { kind: 'settled' };
      },
    },
  );
  const loops = new LoopGeneration();
  const running = workers.start(loops.begin());
  try {
    await tick(10);
    workers.add('b', 1);
    await until(() => claims.length >= 1);
    workers.add('a', 1);
    await until(() => asked.length >= 2);
    expect(asked).toEqual(['without true', 'holding false']);
  } finally {
    await stopAll(loops, workers, running);
  }
});
