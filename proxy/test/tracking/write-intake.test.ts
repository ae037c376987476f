import { createMetrics } from '../../src/metrics';
import { createLogThrottle } from '../../src/tracking/log-throttle';
import { WriteIntake } from '../../src/tracking/write-intake';
import { put, recordingLogger } from './fakes';

function intake(memoryLimit: number) {
  const queued: string[] = [];
  const { logger, lines } = recordingLogger();
  const i = new WriteIntake({
    memoryLimit,
    journalMaxBytes: undefined,
    metrics: createMetrics(),
    logger,
    throttle: createLogThrottle(),
    onQueued: (e) => queued.push(e.key),
    onBacklog: () => undefined,
  });
  return { intake: i, queued, lines };
}

test('batches hold the oldest write’s bucket only, in order; recorded writes leave the queue', () => {
  const { intake: i, queued } = intake(10);
  for (const [b, k] of [
    ['a', '1'],
    ['b', '2'],
    ['a', '3'],
    ['a', '4'],
  ] as const)
    i.record(put(b, k));
  expect(queued).toEqual(['1', '2', '3', '4']);
  const first = i.nextBatch(3)!;
  expect(first.bucket).toBe('a');
  expect(first.batch.map((q) => q.event.key)).toEqual(['1', '3']); // '4' is beyond the first 3
  i.recorded(first.batch);
  expect(i.events().map((q) => q.event.key)).toEqual(['2', '4']);
  expect(i.nextBatch(3)!.bucket).toBe('b');
});

test('without a journal a full queue forgets its oldest write, counts and logs it', () => {
  const { intake: i, lines } = intake(2);
  i.record(put('a', '1'));
  i.record(put('a', '2'));
  i.record(put('a', '3'));
  expect(i.events().map((q) => q.event.key)).toEqual(['2', '3']);
  expect(i.dropped).toBe(1);
  expect(i.overflow).toBe(1);
  expect(lines.filter(([level]) => level === 'error')).toHaveLength(1);
  expect(i.hasBacklog()).toBe(true);
});

test('mayHold: a write of the key still queued (not in Postgres yet); after a forgotten write, any key', () => {
  const { intake: i } = intake(2);
  i.record(put('a', 'k'));
  expect(i.mayHold('a', 'k')).toBe(true);
  expect(i.mayHold('a', 'other')).toBe(false);
  expect(i.mayHold('b', 'k')).toBe(false);
  i.recorded(i.nextBatch(10)!.batch);
  expect(i.mayHold('a', 'k')).toBe(false);
  // A write forgotten before Postgres recorded it: any row may be older than main.
  for (const k of ['1', '2', '3']) i.record(put('a', k));
  expect(i.mayHold('a', 'unrelated')).toBe(true);
});
