import { createSlots } from '../../src/mirror/slots';

function deferred(): { promise: Promise<void>; resolve: () => void; reject: (e: Error) => void } {
  let resolve!: () => void;
  let reject!: (e: Error) => void;
  const promise = new Promise<void>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}

const tick = (): Promise<void> => new Promise((r) => setImmediate(r));

test('runs at most n at once, the rest in arrival order, and frees a slot when work fails', async () => {
  const slots = createSlots(2);
  const gates = [deferred(), deferred(), deferred(), deferred()];
  const started: number[] = [];
  const runs = gates.map((g, i) =>
    slots.run(async () => {
      started.push(i);
      await g.promise;
      return i;
    }),
  );
  await tick();
  expect(started).toEqual([0, 1]);

  gates[1]!.reject(new Error('copy failed'));
  await expect(runs[1]).rejects.toThrow('copy failed');
  await tick();
  expect(started).toEqual([0, 1, 2]);

  gates[0]!.resolve();
  await expect(runs[0]).resolves.toBe(0);
  await tick();
  expect(started).toEqual([0, 1, 2, 3]);

  gates[2]!.resolve();
  gates[3]!.resolve();
  await expect(Promise.all([runs[2], runs[3]])).resolves.toEqual([2, 3]);

  // All slots are free again: two new holders start at once.
  const again: number[] = [];
  const hold = deferred();
  const more = [5, 6].map((i) =>
    slots.run(async () => {
      again.push(i);
      await hold.promise;
    }),
  );
  await tick();
  expect(again).toEqual([5, 6]);
  hold.resolve();
  await Promise.all(more);
});
