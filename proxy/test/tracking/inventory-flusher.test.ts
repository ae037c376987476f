import { readFileSync } from 'node:fs';
import path from 'node:path';
import type { WriteEvent } from '../../src/events';
import { createMetrics } from '../../src/metrics';
import { DEFAULT_TUNING } from '../../src/tracking';
import { InventoryFlusher } from '../../src/tracking/inventory-flusher';
import { createLogThrottle } from '../../src/tracking/log-throttle';
import { LoopGeneration } from '../../src/tracking/loop-generation';
import { WriteIntake } from '../../src/tracking/write-intake';
import { put, recordingLogger, tick } from './fakes';

function setup(recordWrites: (bucket: string, events: readonly WriteEvent[]) => Promise<void>, lingerMs = 0) {
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
    lingerMs,
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

/** Runs the flusher around `body`; stops it (once) when `body` calls stop() or ends, also on a failed expectation. */
async function running(flusher: InventoryFlusher, body: (stop: () => Promise<void>) => Promise<void>) {
  const loops = new LoopGeneration();
  let stopping = false;
  const run = flusher.run(loops.begin(), () => stopping);
  let stopped: Promise<void> | undefined;
  const stop = (): Promise<void> =>
    (stopped ??= (async () => {
      stopping = true;
      loops.end();
      flusher.interrupt();
      await run;
    })());
  try {
    await body(stop);
  } finally {
    await stop();
  }
}

test('writes go to Postgres a bucket and a batch at a time, in order, woken by new writes', async () => {
  const calls: string[] = [];
  const { intake, flusher, recorded, health } = setup(async (bucket, events) => {
    calls.push(`${bucket}:${events.map((e) => e.key).join(',')}`);
  });
  await running(flusher, async () => {
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
  });
});

test('a failing Postgres: health goes down, writes stay queued, new writes do not cut the backoff short', async () => {
  let attempts = 0;
  const { intake, flusher, health } = setup(async () => {
    attempts++;
    throw new Error('connection refused');
  });
  await running(flusher, async (stop) => {
    intake.record(put('a', '1'));
    await tick(20);
    expect(attempts).toBe(1);
    for (let i = 0; i < 20; i++) intake.record(put('a', `n${i}`)); // each wakes the flusher: ignored
    await tick(50);
    expect(attempts).toBe(1); // the first backoff is 200 ms
    expect(health).toEqual([false]);
    expect(intake.length).toBe(21);
    await stop(); // a failure while stopping ends the loop (the journal keeps the writes)
  });
});

test('at stop it drains the queue, then ends', async () => {
  const calls: string[] = [];
  const { intake, flusher } = setup(async (bucket, events) => {
    calls.push(events.map((e) => e.key).join(','));
  });
  // Postgres slow: writes pile up while the first flush runs.
  await running(flusher, async (stop) => {
    for (let i = 0; i < 5; i++) intake.record(put('a', String(i)));
    await stop();
    expect(calls.join('|')).toBe('0,1|2,3|4');
    expect(intake.length).toBe(0);
  });
});

describe('linger: a trickle of writes is recorded a few at a time', () => {
  test('the first write after a quiet spell goes at once; the next waits for the linger or a full batch', async () => {
    const calls: string[] = [];
    const { intake, flusher } = setup(async (_bucket, events) => {
      calls.push(events.map((e) => e.key).join(','));
    }, 60_000);
    await running(flusher, async (stop) => {
      intake.record(put('a', '1'));
      await tick(20);
      expect(calls).toEqual(['1']);
      intake.record(put('a', '2')); // wakes the flusher, which lingers: the batch (2) is not full
      await tick(20);
      expect(calls).toEqual(['1']);
      intake.record(put('a', '3')); // a full batch goes at once
      await tick(20);
      expect(calls).toEqual(['1', '2,3']);
      intake.record(put('a', '4'));
      await tick(20);
      expect(calls).toEqual(['1', '2,3']);
      await stop(); // a stop does not wait out the linger
      expect(calls).toEqual(['1', '2,3', '4']);
    });
  });

  test('a write held back is flushed once the linger has passed since the flush before', async () => {
    const starts: number[] = [];
    const { intake, flusher } = setup(async () => {
      starts.push(performance.now());
    }, 60);
    await running(flusher, async () => {
      intake.record(put('a', '1'));
      await tick(5);
      intake.record(put('a', '2'));
      for (let i = 0; i < 200 && starts.length < 2; i++) await tick(10);
      expect(starts).toHaveLength(2);
      // Timers may fire a millisecond early; the second flush never starts a linger after the first.
      expect(starts[1]! - starts[0]!).toBeGreaterThanOrEqual(58);
    });
  });
});

test("docs/inventory-and-mirroring.md states the flush's linger and batch size the tracker uses", () => {
  const doc = readFileSync(path.join(__dirname, '../../../docs/inventory-and-mirroring.md'), 'utf8');
  const { flushLingerMs, batchSize } = DEFAULT_TUNING;
  expect(doc.replace(/\s+/g, ' ')).toContain(
    `A flush starts at most every ${flushLingerMs} ms unless its batch (${batchSize} writes) is full`,
  );
});
