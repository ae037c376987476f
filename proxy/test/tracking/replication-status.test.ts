import { ReplicationStatuses } from '../../src/tracking/replication-status';

test('PENDING from the write, COMPLETED or FAILED when its copy settles; unknown keys have none', () => {
  const s = new ReplicationStatuses(10);
  expect(s.get('b', 'k')).toBeUndefined();
  s.written('b', 'k', 'put');
  expect(s.get('b', 'k')).toBe('PENDING');
  const copy = s.copying('b', 'k');
  s.settled('b', 'k', copy, 'COMPLETED');
  expect(s.get('b', 'k')).toBe('COMPLETED');
  s.written('b', 'k', 'put');
  s.settled('b', 'k', s.copying('b', 'k'), 'FAILED');
  expect(s.get('b', 'k')).toBe('FAILED');
  expect(s.get('other', 'k')).toBeUndefined();
});

test('a copy begun before a newer write settles nothing: the newer write stays PENDING', () => {
  const s = new ReplicationStatuses(10);
  s.written('b', 'k', 'put');
  const old = s.copying('b', 'k');
  s.written('b', 'k', 'put');
  s.settled('b', 'k', old, 'COMPLETED');
  expect(s.get('b', 'k')).toBe('PENDING');
  // A copy of a key this sidecar never wrote leaves no status behind.
  s.settled('b', 'never', s.copying('b', 'never'), 'COMPLETED');
  expect(s.get('b', 'never')).toBeUndefined();
});

test('a delete forgets the key; the map keeps the most recently written keys within its bound', () => {
  const s = new ReplicationStatuses(2);
  s.written('b', '1', 'put');
  s.written('b', '2', 'put');
  s.written('b', '1', 'put'); // written again: now the newest
  s.written('b', '3', 'put');
  expect(s.size).toBe(2);
  expect(s.get('b', '2')).toBeUndefined();
  expect(s.get('b', '1')).toBe('PENDING');
  s.written('b', '1', 'delete');
  expect(s.get('b', '1')).toBeUndefined();
});
