import type { PageOutcome } from '../../src/scan/anti-entropy';
import { ScanSchedule } from '../../src/scan/scan-schedule';
import { createLogThrottle } from '../../src/tracking/log-throttle';
import { LoopGeneration } from '../../src/tracking/loop-generation';
import { recordingLogger, tick } from '../tracking/fakes';

const settings = { intervalSeconds: 3600, requestsPerSecond: 10, settleSeconds: 60 };

function setup(outcomes: Record<string, PageOutcome[] | Error>, due: (list: readonly string[]) => string[]) {
  const scanned: string[] = [];
  const dueIn: [string, number][] = [];
  const asked: string[][] = [];
  const notBefore = new Map<string, number>();
  const schedule = new ScanSchedule({
    scanner: {
      scanPage: async (bucket) => {
        scanned.push(bucket);
        const o = outcomes[bucket];
        if (o instanceof Error) throw o;
        return o?.shift() ?? { kind: 'pass-complete' };
      },
    },
    settings,
    buckets: () => Object.keys(outcomes),
    dueScans: async (list) => {
      asked.push([...list]);
      // As the hints do: a bucket told to wait is not due before then.
      return due(list).filter((b) => (notBefore.get(b) ?? 0) <= Date.now());
    },
    scanDueIn: async (bucket, inMs) => {
      dueIn.push([bucket, inMs]);
      notBefore.set(bucket, Date.now() + inMs);
    },
    mayScan: () => true,
    idleMs: 20,
    logger: recordingLogger().logger,
    throttle: createLogThrottle(),
  });
  return { schedule, scanned, dueIn, asked };
}

test('only buckets the hints call due are looked at; what the look says goes back into the hints', async () => {
  let done = false;
  const { schedule, scanned, dueIn } = setup(
    {
      a: [{ kind: 'page' }, { kind: 'page' }, { kind: 'pass-complete' }],
      b: [{ kind: 'not-due', retryInMs: 5_000 }],
      idle: [],
    },
    (list) => (done ? [] : list.filter((b) => b !== 'idle')),
  );
  const loops = new LoopGeneration();
  const run = schedule.run(loops.begin());
  await tick(5);
  done = true;
  await tick(60);
  loops.end();
  await run;
  expect(scanned).not.toContain('idle');
  expect(scanned.filter((b) => b === 'a').length).toBeGreaterThanOrEqual(1);
  expect(dueIn).toContainEqual(['b', 5_000]);
});

test('a pass that completes is due again after the interval', async () => {
  const { schedule, dueIn } = setup({ a: [{ kind: 'pass-complete' }] }, (list) => [...list]);
  const loops = new LoopGeneration();
  const run = schedule.run(loops.begin());
  await tick(10);
  loops.end();
  await run;
  expect(dueIn[0]).toEqual(['a', 3_600_000]);
});

test('a bucket whose look failed is left out of the next questions until its backoff ends', async () => {
  const { schedule, asked } = setup({ bad: new Error('postgres away'), good: [] }, (list) => [...list]);
  const loops = new LoopGeneration();
  const run = schedule.run(loops.begin());
  await tick(60);
  loops.end();
  await run;
  expect(asked[0]).toEqual(['bad', 'good']);
  expect(asked.slice(1).every((list) => !list.includes('bad'))).toBe(true);
  expect(asked.length).toBeGreaterThan(1);
});
