import { createLogThrottle } from '../../src/tracking/log-throttle';
import { LoopGeneration } from '../../src/tracking/loop-generation';
import { MirrorWorkers, type MirrorWorkersDeps } from '../../src/tracking/mirror-workers';
import { recordingLogger, tick } from './fakes';

/** Rows waiting per bucket; copyFromRow takes one and counts concurrent copies. */
function setup(concurrency: number, pending: Record<string, number>, over: Partial<MirrorWorkersDeps> = {}) {
  const { logger } = recordingLogger();
  const claims: string[] = [];
  let running = 0;
  let peak = 0;
  const workers = new MirrorWorkers({
    concurrency,
    idlePollMs: 60_000,
    buckets: () => Object.keys(pending),
    postgresHealthy: () => true,
    copyFromMemory: async () => false,
    memoryCopiesRunning: () => 0,
    copyFromRow: async (bucket) => {
      claims.push(bucket);
      if (!pending[bucket]) return false;
      pending[bucket]--;
      running++;
      peak = Math.max(peak, running);
      await tick(5);
      running--;
      return true;
    },
    logger,
    throttle: createLogThrottle(),
    ...over,
  });
  return { workers, claims, peak: () => peak };
}

test('work announced by a wake-up is done by the woken workers, visiting every bucket round-robin', async () => {
  const pending = { a: 0, b: 0 };
  const { workers, claims } = setup(2, pending);
  const loops = new LoopGeneration();
  const running = workers.start(loops.begin());
  await tick(10); // each worker looked once and found nothing: now idle until woken (poll is 60 s)
  const idleClaims = claims.length;
  pending.a = 2;
  pending.b = 2;
  workers.wake(4);
  await tick(100);
  expect(pending).toEqual({ a: 0, b: 0 });
  expect(claims.length).toBeGreaterThan(idleClaims);
  loops.end();
  workers.wake();
  await Promise.all(running);
});

test('one idle poll costs one claim per bucket, not one per worker', async () => {
  const { workers, claims } = setup(8, { a: 0 });
  const loops = new LoopGeneration();
  const running = workers.start(loops.begin());
  await tick(20);
  // Every worker looks once at start; after that only a wake-up or the first worker's poll claims.
  expect(claims.length).toBe(8);
  workers.wake(1);
  await tick(20);
  expect(claims.length).toBe(9);
  loops.end();
  workers.wake();
  await Promise.all(running);
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
  workers.wake(); // reaches the old worker too: it must leave, not copy
  const firstEnded = await Promise.race([Promise.all(first).then(() => true), tick(200).then(() => false)]);
  await tick(100);
  expect(firstEnded).toBe(true);
  expect(pending.a).toBe(0);
  expect(peak()).toBe(1); // MIRROR_CONCURRENCY=1 holds across the restart
  loops.end();
  workers.wake();
  await Promise.all(second);
});

test('while Postgres is down, workers copy from memory and leave rows alone', async () => {
  let memory = 3;
  const { workers, claims } = setup(
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
  await tick(20);
  expect(memory).toBe(0);
  expect(claims).toEqual([]);
  loops.end();
  workers.wake();
  await Promise.all(running);
});
