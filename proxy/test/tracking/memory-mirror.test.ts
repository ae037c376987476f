import { createMetrics } from '../../src/metrics';
import type { MirrorResult } from '../../src/mirror/copier';
import { createLogThrottle } from '../../src/tracking/log-throttle';
import { MemoryCopier, MemoryMirror } from '../../src/tracking/memory-mirror';
import { recordingLogger } from './fakes';

test('a newer write of a key waits for the copy of that key already running (an older copy never wins)', () => {
  const m = new MemoryMirror(10);
  m.add('b', 'k');
  const first = m.take()!;
  expect(first.key).toBe('k');
  m.add('b', 'k'); // a newer write arrives while the first copy runs
  m.add('b', 'other');
  expect(m.take()!.key).toBe('other'); // k is skipped while its copy runs
  expect(m.take()).toBeUndefined();
  expect(m.finish(first.id)).toBe(true); // the newer write waited: someone must come for it
  expect(m.take()!.key).toBe('k');
});

test('bounded: beyond the limit keys are refused (their rows retry them once Postgres is back)', () => {
  const m = new MemoryMirror(2);
  expect(m.add('b', '1')).toBe(true);
  expect(m.add('b', '1')).toBe(true); // the same key again takes no room
  expect(m.add('b', '2')).toBe(true);
  expect(m.add('b', '3')).toBe(false);
  expect(m.size).toBe(2);
});

describe('copies from memory and the delete policy', () => {
  async function copyGone(deletesReachMirror: boolean) {
    const keys = new MemoryMirror(10);
    keys.add('b', 'k');
    const asked: (boolean | undefined)[] = [];
    const metrics = createMetrics();
    const copier = new MemoryCopier({
      keys,
      copyKey: () => async (_b, _k, opts) => {
        asked.push(opts?.keepMissing);
        return (opts?.keepMissing ? { exists: false, kept: true } : { exists: false }) as MirrorResult;
      },
      deletesReachMirror,
      metrics,
      logger: recordingLogger().logger,
      throttle: createLogThrottle(),
      onWaiting: () => undefined,
    });
    expect(await copier.copyNext()).toBe(true);
    return { asked, ops: await metrics.registry.getSingleMetricAsString('s3mirror_mirror_operations_total') };
  }

  test('mirror: a key main no longer holds is deleted on the mirror from memory', async () => {
    const { asked, ops } = await copyGone(true);
    expect(asked).toEqual([false]);
    expect(ops).toMatch(/action="delete",result="success"} 1/);
  });

  test('keep or delay: never deleted from memory; the inventory row applies the policy later', async () => {
    const { asked, ops } = await copyGone(false);
    expect(asked).toEqual([true]);
    expect(ops).not.toMatch(/action="delete"/);
  });
});
