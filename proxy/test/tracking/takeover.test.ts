import { TakeoverPolicy, type BucketAnswer } from '../../src/tracking/takeover';

function policy(answers: Record<string, BucketAnswer | Error>, allowedBuckets: string[] = []) {
  let now = 1_000_000;
  const asked: string[] = [];
  const refused: string[] = [];
  const p = new TakeoverPolicy({
    allowedBuckets,
    onRefused: (bucket) => refused.push(bucket),
    recheckRefusedMs: 60_000,
    now: () => now,
    askMain: async (bucket) => {
      asked.push(bucket);
      const a = answers[bucket] ?? 'serves';
      if (a instanceof Error) throw a;
      return a;
    },
  });
  return { p, asked, refused, advance: (ms: number) => (now += ms) };
}

test('a bucket main serves is taken over', async () => {
  const { p, asked } = policy({ photos: 'serves' });
  expect(await p.accepts('photos')).toBe(true);
  expect(asked).toEqual(['photos']);
});

test('a bucket main refuses is not, and is asked about again only after the recheck period', async () => {
  const answers: Record<string, BucketAnswer> = { theirs: 'refuses' };
  const { p, asked, refused, advance } = policy(answers);
  expect(await p.accepts('theirs')).toBe(false);
  expect(await p.accepts('theirs')).toBe(false);
  expect(asked).toEqual(['theirs']);
  expect(refused).toEqual(['theirs']); // reported once, not at every skip
  expect(p.refusedCount()).toBe(1);
  advance(60_000);
  answers.theirs = 'serves'; // created meanwhile, or access granted
  expect(await p.accepts('theirs')).toBe(true);
  expect(asked).toEqual(['theirs', 'theirs']);
  expect(p.refusedCount()).toBe(0);
});

test('main unreachable (unknown, or the question throws): not now, asked again at once next time', async () => {
  const answers: Record<string, BucketAnswer | Error> = { a: 'unknown', b: new Error('ECONNREFUSED') };
  const { p, asked, refused } = policy(answers);
  expect(await p.accepts('a')).toBe(false);
  expect(await p.accepts('b')).toBe(false);
  answers.a = 'serves';
  answers.b = 'serves';
  expect(await p.accepts('a')).toBe(true);
  expect(await p.accepts('b')).toBe(true);
  expect(asked).toEqual(['a', 'b', 'a', 'b']);
  expect(refused).toEqual([]);
});

test('with ALLOWED_BUCKETS, other buckets are never taken over and main is not even asked', async () => {
  const { p, asked } = policy({}, ['mine']);
  expect(await p.accepts('other')).toBe(false);
  expect(await p.accepts('mine')).toBe(true);
  expect(asked).toEqual(['mine']);
});
