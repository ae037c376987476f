import { MemoryMirror } from '../../src/tracking/memory-mirror';

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
