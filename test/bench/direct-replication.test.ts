import { CopyQueue, cpuBetween } from './scenarios/direct-replication';

describe('the direct replication arm’s queue of acknowledged writes', () => {
  it('hands items out in the order they came, to takers that waited first', async () => {
    const q = new CopyQueue<number>();
    const early = [q.take(), q.take()];
    q.push(1);
    q.push(2);
    q.push(3);
    expect(await Promise.all(early)).toEqual([1, 2]);
    expect(await q.take()).toBe(3);
  });

  it('ends every worker once closed and drained, items left first', async () => {
    const q = new CopyQueue<string>();
    const waiting = q.take();
    q.push('a');
    q.push('b');
    q.push('c');
    const blocked = [q.take(), q.take(), q.take()];
    q.close();
    expect(await waiting).toBe('a');
    expect(await Promise.all(blocked)).toEqual(['b', 'c', undefined]);
    expect(await q.take()).toBeUndefined();
  });

  it('wakes workers that wait when it closes', async () => {
    const q = new CopyQueue<number>();
    const workers = [q.take(), q.take()];
    q.close();
    expect(await Promise.all(workers)).toEqual([undefined, undefined]);
    expect(() => q.push(1)).toThrow(/after close/);
  });

  it('drops what no worker took when abandoned, and ends the workers', async () => {
    const q = new CopyQueue<number>();
    q.push(1);
    q.push(2);
    q.push(3);
    expect(await q.take()).toBe(1);
    expect(q.abandon()).toBe(2);
    expect(await q.take()).toBeUndefined();
    expect(q.abandon()).toBe(0);
  });
});

describe('CPU of a group of processes between two samples', () => {
  it('counts a process that started meanwhile from zero, and leaves out one that ended', () => {
    const before = new Map([
      [10, 5],
      [11, 2],
    ]);
    const after = new Map([
      [10, 5.5],
      [12, 0.25],
    ]);
    expect(cpuBetween(before, after)).toBeCloseTo(0.75);
    expect(cpuBetween(new Map(), new Map())).toBe(0);
  });
});
