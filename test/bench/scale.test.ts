import { bucketIndex, connectionBudget } from './scenarios/scale';

const all = Array.from({ length: 20 }, (_, i) => `b${i}`);

test('write patterns: a shared bucket, one per pod, several per pod cycled by each pod', () => {
  const pods = 4;
  expect(
    new Set(Array.from({ length: 40 }, (_, s) => bucketIndex({ all, perPod: 'shared' }, pods, s))),
  ).toEqual(new Set([0]));
  // Pod = seq mod pods; with one bucket each, a pod always writes its own.
  expect(Array.from({ length: 8 }, (_, s) => bucketIndex({ all, perPod: 1 }, pods, s))).toEqual([
    0, 1, 2, 3, 0, 1, 2, 3,
  ]);
  // Pod 1 (seq 1, 5, 9, …) cycles through buckets 3, 4, 5.
  expect([1, 5, 9, 13].map((s) => bucketIndex({ all, perPod: 3 }, pods, s))).toEqual([3, 4, 5, 3]);
});

test('the connection budget: N idle, 3 per pod in one bucket, 17 per pod at worst, whatever M', () => {
  expect(connectionBudget(20, 0)).toBe(20);
  expect(connectionBudget(20, 1)).toBe(60);
  expect(connectionBudget(20, 5)).toBe(220);
  expect(connectionBudget(20, 12)).toBe(340);
});
