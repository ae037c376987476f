import type { WriteEvent } from '../../src/events';
import { createMetrics } from '../../src/metrics';
import { InventoryFlusher } from '../../src/tracking/inventory-flusher';
import { createLogThrottle } from '../../src/tracking/log-throttle';
import { LoopGeneration } from '../../src/tracking/loop-generation';
import { WriteIntake } from '../../src/tracking/write-intake';
import { put, recordingLogger, tick } from './fakes';

function setup(recordWrites: (bucket: string, events: readonly WriteEvent[]) => Promise<void>) {
  let version = 0;
  const { logger } = recordingLogger();
  const health: boolean[] = [];
  const recorded: [string, number][] = [];
  // eslint-disable-next-line prefer-const
  let flusher: InventoryFlusher;
  const intake = new WriteIntake({
    memoryLimit: 100,
    journalMaxBytes: undefined,
    metrics: createMetrics(),
    logger,
    throttle: createLogThrottle(),
    onQueued: () => flusher.wake(),
    onBacklog: () => flusher.wake(),
  });
  flusher = new InventoryFlusher({
    intake,
    inventory: {
      recordWrites: async (bucket, events) => {
        await recordWrites(bucket, events);
        return String(++version);
      },
    },
    batchSize: 2,
    idlePollMs: 60_000,
    vouch: () => ({ owner: 'me', seconds: 30 }),
    metrics: createMetrics(),
    logger,
    throttle: createLogThrottle(),
    onHealth: (ok) => health.push(ok),
    onRecorded: (bucket, n) => recorded.push([bucket, n]),
  });
  return { intake, flusher, health, recorded };
}

test('writes go to Postgres a bucket and a batch at a time, in order, woken by new writes', async () => {
  const calls: string[] = [];
  const { intake, flusher, recorded, health } = setup(async (bucket, events) => {
    calls.push(`${bucket}:${events.map((e) => e.key).join(',')}`);
  });
  const loops = new LoopGeneration();
  let stopping = false;
  const run = flusher.run(loops.begin(), () => stopping);
  for (const [b, k] of [
    ['a', '1'],
    ['a', '2'],
    ['a', '3'],
    ['b', '4'],
  ] as const)
    intake.record(put(b, k));
  await tick(20);
  expect(calls).toEqual(['a:1,2', 'a:3', 'b:4']);
  expect(recorded).toEqual([
    ['a', 2],
    ['a', 1],
    ['b', 1],
  ]);
  expect(intake.length).toBe(0);
  expect(health.every(Boolean)).toBe(true);
  stopping = true;
  loops.end();
  flusher.interrupt();
  await run;
});

test('a failing Postgres: health goes down, writes stay queued, new writes do not cut the backoff short', async () => {
  let attempts = 0;
  const { intake, flusher, health } = setup(async () => {
    attempts++;
    throw new Error('connection refused');
  });
  const loops = new LoopGeneration();
  let stopping = false;
  const run = flusher.run(loops.begin(), () => stopping);
  intake.record(put('a', '1'));
  await tick(20);
  expect(attempts).toBe(1);
  for (let i = 0; i < 20; i++) intake.record(put('a', `n${i}`)); // each wakes the flusher: ignored
  await tick(50);
  expect(attempts).toBe(1); // the first backoff is 200 ms
  expect(health).toEqual([false]);
  expect(intake.length).toBe(21);
  stopping = true;
  loops.end();
  flusher.interrupt();
  await run; // a failure while stopping ends the loop (the journal keeps the writes)
});

test('at stop it drains the queue, then ends', async () => {
  const calls: string[] = [];
  const { intake, flusher } = setup(async (bucket, events) => {
    calls.push(events.map((e) => e.key).join(','));
  });
  const loops = new LoopGeneration();
  let stopping = false;
  // Postgres slow: writes pile up while the first flush runs.
  const run = flusher.run(loops.begin(), () => stopping);
  for (let i = 0; i < 5; i++) intake.record(put('a', String(i)));
  stopping = true;
  loops.end();
  flusher.interrupt();
  await run;
  expect(calls.join('|')).toBe('0,1|2,3|4');
  expect(intake.length).toBe(0);
});
