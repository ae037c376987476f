/**
 * `npm run status -- --bucket B [--bucket C…] [--json]`: where each bucket's mirroring stands: objects,
 * writes waiting for their copy (how many, the oldest, bytes behind), parked writes, the last anti-entropy
 * pass. Reads the proxy's env (POSTGRES_URL). Exit code: 0 nothing parked, 1 some parked (see `npm run
 * parked`), 2 usage, configuration or Postgres error.
 */
import type { BucketStatus } from '../inventory/repository';
import { runAsMain, type InventoryCommand } from './inventory-command';

function bytes(n: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let v = n;
  let u = 0;
  while (v >= 1024 && u < units.length - 1) {
    v /= 1024;
    u++;
  }
  return `${u === 0 ? v : v.toFixed(1)} ${units[u]}`;
}

function duration(seconds: number): string {
  if (seconds < 120) return `${Math.round(seconds)} s`;
  if (seconds < 7200) return `${Math.round(seconds / 60)} min`;
  return `${(seconds / 3600).toFixed(1)} h`;
}

const iso = (epochSeconds: number): string => new Date(epochSeconds * 1000).toISOString();

export function formatStatus(bucket: string, s: BucketStatus): string {
  const pending =
    s.pending === 0
      ? '0 (mirror up to date)'
      : `${s.pending} (oldest ${duration(s.oldestPendingSeconds ?? 0)} old, ${bytes(s.bytesBehind)} behind)`;
  const lastScan = s.lastScan
    ? `${iso(s.lastScan.completedAt)}: ${s.lastScan.objects} objects, ${s.lastScan.differences} differences`
    : 'none yet';
  const lines = [
    `bucket ${bucket}`,
    `  objects          ${s.objects}`,
    `  pending          ${pending}`,
    `  parked           ${s.parked}${s.parked > 0 ? ` (list them: npm run parked -- --bucket ${bucket})` : ''}`,
    `  last full scan   ${lastScan}`,
  ];
  // Only when the delete policy left something (MIRROR_DELETE_POLICY keep or delay).
  if (s.delayedDeletes > 0)
    lines.push(`  delayed deletes  ${s.delayedDeletes} (waiting out MIRROR_DELETE_POLICY's delay)`);
  if (s.keptDeletes > 0)
    lines.push(`  kept on mirror   ${s.keptDeletes} (deleted on main, kept: MIRROR_DELETE_POLICY=keep)`);
  if (s.scanInProgress) {
    lines.push(
      `  scan under way   since ${iso(s.scanInProgress.startedAt)}, ${s.scanInProgress.objects} objects so far`,
    );
  }
  return lines.join('\n');
}

export const statusCommand: InventoryCommand<BucketStatus> = {
  name: 'status',
  read: (inventory, bucket) => inventory.bucketStatus(bucket),
  format: formatStatus,
  exitCode: (results) => (results.some((s) => s.parked > 0) ? 1 : 0),
};

if (require.main === module) runAsMain(statusCommand);
