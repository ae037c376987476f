import { DiskLane } from '../../src/spool/disk-lane';

test('runs at most `slots` operations at once, the rest in arrival order', async () => {
  const lane = new DiskLane(2);
  let running = 0;
  let peak = 0;
  const order: number[] = [];
  const releases: (() => void)[] = [];
  const op = (i: number) => () =>
    new Promise<number>((resolve) => {
      running++;
      peak = Math.max(peak, running);
      order.push(i);
      releases.push(() => {
        running--;
        resolve(i);
      });
    });
  const all = [0, 1, 2, 3, 4].map((i) => lane.run(op(i)));
  await new Promise((r) => setImmediate(r));
  expect(order).toEqual([0, 1]);
  expect(lane.busy).toBe(5);
  while (releases.length > 0) {
    releases.shift()!();
    await new Promise((r) => setImmediate(r));
  }
  expect(await Promise.all(all)).toEqual([0, 1, 2, 3, 4]);
  expect(order).toEqual([0, 1, 2, 3, 4]);
  expect(peak).toBe(2);
  expect(lane.busy).toBe(0);
});

test('a failing operation frees its slot', async () => {
  const lane = new DiskLane(1);
  await expect(lane.run(() => Promise.reject(new Error('EIO')))).rejects.toThrow('EIO');
  await expect(lane.run(() => Promise.resolve('next'))).resolves.toBe('next');
  expect(lane.busy).toBe(0);
});
