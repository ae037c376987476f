import type { BucketCounts, DueBucket } from '../../src/inventory/work-hints';
import { BucketWork } from '../../src/tracking/bucket-work';

const counts = (pending: number): BucketCounts => ({
  nextDue: pending ? new Date(0) : null,
  pending,
  parked: 0,
  oldestPending: null,
});

function setup(over: { due?: DueBucket[]; accepts?: (b: string) => boolean; settleWins?: boolean } = {}) {
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
        return over.settleWins ?? true;
      },
    },
    inventory: {
      hintCounts: async (bucket) => {
        calls.push(`count ${bucket}`);
        return counts(0);
      },
    },
    owner: () => 'me',
    quietMs: 2_000,
    accepts: async (b) => over.accepts?.(b) ?? true,
    refused: () => [],
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
  const { work, calls } = setup({ settleWins: false });
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
});
