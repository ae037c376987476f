import { RateBudget } from '../../src/scan/rate-budget';

test('requests are spaced to the budget: 4 per second means one every 250 ms of a virtual clock', async () => {
  let now = 1_000;
  const slept: number[] = [];
  const budget = new RateBudget(
    4,
    () => now,
    async (ms) => {
      slept.push(ms);
      now += ms;
    },
  );
  for (let i = 0; i < 5; i++) await budget.take();
  expect(slept).toEqual([250, 250, 250, 250]);
  expect(now).toBe(2_000);
});

test('an idle budget does not save up a burst beyond one request', async () => {
  let now = 0;
  const slept: number[] = [];
  const budget = new RateBudget(
    2,
    () => now,
    async (ms) => {
      slept.push(ms);
      now += ms;
    },
  );
  await budget.take();
  now += 10_000;
  await budget.take();
  await budget.take();
  expect(slept).toEqual([500]);
});
