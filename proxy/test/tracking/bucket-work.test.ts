import type { BucketCounts, DueBucket, SettleOutcome } from '../../src/inventory/work-hints';
import { BucketWork } from '../../src/tracking/bucket-work';

const counts = (pending: number): BucketCounts => ({
  nextDue: pending ? new Date(0) : null,
  pending,
  parked: 0,
  oldestPending: null,
});

function setup(
  over: {
    due?: DueBucket[];
    accepts?: (b: string) => boolean;
    settle?: SettleOutcome;
    pending?: number;
    countFails?: boolean;
    countGate?: Promise<void>;
  } = {},
) {
  let now = 1_000_000;
  const calls: string[] = [];
  const work = new BucketWork({
    hints: {
      due: async () => over.due ?? [],
      version: async (bucket) => {
        calls.push(`version ${bucket}`);
        return '5';
      },
      settle: async (bucket, version) => {
        calls.push(`settle ${bucket}@${version}`);
        return over.settle ?? 'not-due';
      },
    },
    inventory: {
      hintCounts: async (bucket) => {
        calls.push(`count ${bucket}`);
        await over.countGate;
        if (over.countFails) throw new Error('bucket database down');
        return counts(over.pending ?? 0);
      },
    },
    owner: () => 'me',
    quietMs: 2_000,
    accepts: async (b) => over.accepts?.(b) ?? true,
    refused: () => [],
    offer: (bucket) => calls.push(`offer ${bucket}`),
    now: () => now,
  });
  return { work, calls, advance: (ms: number) => (now += ms) };
}

test('a bucket this sidecar is writing to keeps its hint while writes keep coming, then is settled with its version', async () => {
  const { work, calls, advance } = setup();
  work.recorded('b', '9');
  await work.settle('b');
  expect(calls).toEqual([]);
  advance(2_000);
  await work.settle('b');
  // The version read before the rows were counted: the one its own mark returned.
  expect(calls).toEqual(['count b', 'settle b@9']);
});

test('a hint of unknown version is read before the rows are counted; a lost settle forgets the version', async () => {
  const { work, calls } = setup({ settle: 'lost' });
  await work.settle('b');
  expect(calls).toEqual(['version b', 'count b', 'settle b@5']);
  calls.length = 0;
  await work.settle('b');
  expect(calls[0]).toBe('version b');
});

test('the poll offers the due buckets this sidecar accepts, and says when the next comes due', async () => {
  const { work } = setup({
    due: [
      { bucket: 'a', version: '1', dueInSeconds: 0 },
      { bucket: 'theirs', version: '1', dueInSeconds: 0 },
      { bucket: 'later', version: '1', dueInSeconds: 2.5 },
    ],
    accepts: (b) => b !== 'theirs',
  });
  expect(await work.findDue()).toEqual({ due: ['a'], nextInMs: 2500 });
});

test('recounts are the buckets written since the last call', () => {
  const { work } = setup();
  work.recorded('a', '1');
  work.recorded('a', '2');
  work.recorded('b', '1');
  expect(work.takeRecounts().sort()).toEqual(['a', 'b']);
  expect(work.takeRecounts()).toEqual([]);
  // A count that failed comes back with the next call.
  work.recountLater(['b']);
  expect(work.takeRecounts()).toEqual(['b']);
});

/** Lets settles started in the background by a poll finish (the fakes answer at once). */
const settled = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

describe('a bucket whose rows its own workers found cleared at the hint version the poll sees', () => {
  const dueAt = (version: string): DueBucket[] => [{ bucket: 'b', version, dueInSeconds: 0 }];

  test('is not offered for a claim while its writes keep coming, and once quiet is settled without one', async () => {
    const { work, calls, advance } = setup({ due: dueAt('9') });
    work.recorded('b', '9');
    await work.settle('b', work.knownVersion('b'));
    expect(await work.findDue()).toEqual({ due: [] });
    await settled();
    expect(calls).toEqual([]);
    advance(2_000);
    expect(await work.findDue()).toEqual({ due: [] });
    await settled();
    expect(calls).toEqual(['count b', 'settle b@9']);
  });

  test('is offered when the poll sees a newer version (a mark since the look)', async () => {
    const { work } = setup({ due: dueAt('10') });
    work.recorded('b', '9');
    await work.settle('b', '9');
    expect(await work.findDue()).toEqual({ due: ['b'] });
  });

  test('a look begun before the version now known clears nothing', async () => {
    const { work } = setup({ due: dueAt('10') });
    work.recorded('b', '9');
    work.recorded('b', '10');
    await work.settle('b', '9');
    expect(await work.findDue()).toEqual({ due: ['b'] });
  });

  test('once quiet, a settle that leaves it due now (a retry, a lease ended) offers it to the workers, and the next poll too', async () => {
    const { work, calls, advance } = setup({ due: dueAt('9'), pending: 1, settle: 'due' });
    work.recorded('b', '9');
    await work.settle('b', '9');
    advance(2_000);
    expect(await work.findDue()).toEqual({ due: [] });
    await settled();
    expect(calls).toEqual(['count b', 'settle b@9', 'offer b']);
    expect(await work.findDue()).toEqual({ due: ['b'] });
  });

  test('once quiet, a settle that leaves it due later keeps it cleared: the poll that finds it due settles again', async () => {
    const { work, calls, advance } = setup({ due: dueAt('9'), pending: 1 });
    work.recorded('b', '9');
    await work.settle('b', '9');
    advance(2_000);
    expect(await work.findDue()).toEqual({ due: [] });
    await settled();
    expect(await work.findDue()).toEqual({ due: [] });
    await settled();
    expect(calls).toEqual(['count b', 'settle b@9', 'count b', 'settle b@9']);
  });

  test("once quiet, a settle that lost to a newer mark or failed leaves it to the next poll's claim", async () => {
    for (const over of [{ settle: 'lost' as const }, { countFails: true }]) {
      const { work, advance } = setup({ due: dueAt('9'), ...over });
      work.recorded('b', '9');
      await work.settle('b', '9');
      advance(2_000);
      expect(await work.findDue()).toEqual({ due: [] });
      await settled();
      expect(await work.findDue()).toEqual({ due: ['b'] });
    }
  });

  test('polls while its settle runs start no second one', async () => {
    let open = (): void => undefined;
    const countGate = new Promise<void>((resolve) => (open = resolve));
    const { work, calls, advance } = setup({ due: dueAt('9'), countGate });
    work.recorded('b', '9');
    await work.settle('b', '9');
    advance(2_000);
    await work.findDue();
    await work.findDue();
    open();
    await settled();
    expect(calls).toEqual(['count b', 'settle b@9']);
  });

  test('a worker whose settle finds the hint due again (a retry came due meanwhile) leaves it to the next poll', async () => {
    const { work, advance } = setup({ due: dueAt('9'), settle: 'due' });
    work.recorded('b', '9');
    advance(2_000);
    await work.settle('b', '9');
    expect(await work.findDue()).toEqual({ due: ['b'] });
  });
});
