import { formatStatus, statusCommand } from '../../src/cli/status';
import type { BucketStatus } from '../../src/inventory/repository';

const base: BucketStatus = {
  objects: 1200,
  pending: 0,
  parked: 0,
  bytesBehind: 0,
  oldestPendingSeconds: undefined,
  delayedDeletes: 0,
  keptDeletes: 0,
  lastScan: undefined,
  scanInProgress: undefined,
};

test('an up-to-date bucket reads as such; a bucket never scanned says so', () => {
  const text = formatStatus('photos', base);
  expect(text).toContain('bucket photos');
  expect(text).toMatch(/objects\s+1200/);
  expect(text).toMatch(/pending\s+0 \(mirror up to date\)/);
  expect(text).toMatch(/last full scan\s+none yet/);
  expect(text).not.toMatch(/delayed deletes|kept on mirror/);
  expect(statusCommand.exitCode([base])).toBe(0);
});

test('pending writes show their count, the oldest one’s age and the bytes behind; parked ones point to the list', () => {
  const text = formatStatus('photos', {
    ...base,
    pending: 3,
    oldestPendingSeconds: 754,
    bytesBehind: 5 * 1024 * 1024 + 512 * 1024,
    parked: 2,
    lastScan: { completedAt: Date.UTC(2026, 11, 2, 10) / 1000, objects: 1200, differences: 1 },
    scanInProgress: { startedAt: Date.UTC(2026, 11, 2, 11) / 1000, objects: 400 },
  });
  expect(text).toMatch(/pending\s+3 \(oldest 13 min old, 5\.5 MiB behind\)/);
  expect(text).toMatch(/parked\s+2 \(list them: npm run parked -- --bucket photos\)/);
  expect(text).toMatch(/last full scan\s+2026-12-02T10:00:00\.000Z: 1200 objects, 1 differences/);
  expect(text).toMatch(/scan under way\s+since 2026-12-02T11:00:00\.000Z, 400 objects so far/);
  expect(statusCommand.exitCode([base, { ...base, parked: 2 }])).toBe(1);
});

test('deletes the delete policy holds back are shown apart from pending writes', () => {
  const text = formatStatus('photos', { ...base, delayedDeletes: 4, keptDeletes: 9 });
  expect(text).toMatch(/pending\s+0 \(mirror up to date\)/);
  expect(text).toMatch(/delayed deletes\s+4 \(waiting out MIRROR_DELETE_POLICY's delay\)/);
  expect(text).toMatch(/kept on mirror\s+9 /);
});
