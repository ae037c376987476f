import type { BucketCounts } from '../../src/inventory/work-hints';
import { createMetrics } from '../../src/metrics';
import { refreshPendingGauges } from '../../src/tracking/pending-gauges';

const counts = (pending: number): BucketCounts => ({
  nextDue: null,
  pending,
  parked: 0,
  oldestPending: null,
});

async function gauge(metrics: ReturnType<typeof createMetrics>, name: string): Promise<number> {
  const metric = await metrics.registry.getSingleMetric(name)!.get();
  return metric.values[0]?.value ?? NaN;
}

function sources(over: { failCount?: string } = {}) {
  const calls: string[] = [];
  return {
    calls,
    sources: {
      hints: {
        recordCounts: async (counted: ReadonlyMap<string, BucketCounts>) => {
          calls.push(`record ${[...counted].map(([b, c]) => `${b}=${c.pending}`).join(',')}`);
        },
        totals: async (buckets: readonly string[]) => {
          calls.push(`totals ${buckets.join(',')}`);
          return { pending: 7, parked: 2, lagSeconds: 3 };
        },
      },
      inventory: {
        hintCounts: async (bucket: string) => {
          calls.push(`count ${bucket}`);
          if (bucket === over.failCount) throw new Error('database down');
          return counts(bucket.length);
        },
      },
      recount: ['a', 'bb', 'ccc'],
      buckets: ['a', 'bb', 'ccc', 'idle'],
      pendingInMemory: 1,
    },
  };
}

test('the buckets written since the last refresh are counted in their databases and recorded in one statement', async () => {
  const metrics = createMetrics();
  const { calls, sources: s } = sources();
  await refreshPendingGauges(s, metrics);
  expect(calls).toEqual([
    'count a',
    'count bb',
    'count ccc',
    'record a=1,bb=2,ccc=3',
    'totals a,bb,ccc,idle',
  ]);
  expect(await gauge(metrics, 's3mirror_mirror_pending')).toBe(8); // the hints' 7 and 1 held in memory
  expect(await gauge(metrics, 's3mirror_mirror_parked')).toBe(2);
  expect(await gauge(metrics, 's3mirror_mirror_lag_seconds')).toBe(3);
});

test('a bucket whose count fails is counted again next time; the others are recorded and the gauges set', async () => {
  const metrics = createMetrics();
  metrics.mirrorPending.set(42);
  const { calls, sources: s } = sources({ failCount: 'bb' });
  const again = await refreshPendingGauges(s, metrics);
  expect(calls).toEqual(['count a', 'count bb', 'count ccc', 'record a=1,ccc=3', 'totals a,bb,ccc,idle']);
  expect(again).toEqual(['bb']);
  expect(await gauge(metrics, 's3mirror_mirror_pending')).toBe(8);
});

test('when the control database fails, the gauges stay and every bucket is counted again', async () => {
  const metrics = createMetrics();
  metrics.mirrorPending.set(42);
  const { sources: s } = sources();
  const down = async (): Promise<never> => {
    throw new Error('control database down');
  };
  expect(await refreshPendingGauges({ ...s, hints: { ...s.hints, recordCounts: down } }, metrics)).toEqual([
    'a',
    'bb',
    'ccc',
  ]);
  expect(await refreshPendingGauges({ ...s, hints: { ...s.hints, totals: down } }, metrics)).toEqual([]);
  expect(await gauge(metrics, 's3mirror_mirror_pending')).toBe(42);
});
