import { CatchUpSlots, catchUpLimit } from '../../src/tracking/catch-up-slots';

test('a quarter of the workers, at least one, is kept for fresh rows; a single worker keeps none', () => {
  expect([1, 2, 3, 4, 5, 8, 16, 64].map(catchUpLimit)).toEqual([1, 1, 2, 3, 3, 6, 12, 48]);
});

test('no more slots than the limit; a slot released twice frees one', () => {
  const slots = new CatchUpSlots(2);
  const a = slots.tryTake();
  const b = slots.tryTake();
  expect(a && b).toBeDefined();
  expect(slots.tryTake()).toBeUndefined();
  a!.release();
  a!.release();
  expect(slots.inUse).toBe(1);
  expect(slots.tryTake()).toBeDefined();
  expect(slots.tryTake()).toBeUndefined();
});
