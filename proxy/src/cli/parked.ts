/**
 * `npm run parked -- --bucket B [--bucket C…] [--json]`: the writes whose mirror copy failed
 * MIRROR_MAX_ATTEMPTS times in a row and now wait for the anti-entropy scan (or a resync). Reads the
 * proxy's env (POSTGRES_URL). Exit code: 0 none parked, 1 some parked, 2 usage or configuration error.
 */
import type { InventoryRepository, ParkedRow } from '../inventory/repository';
import { parseJsonArgs, runAsMain, type InventoryCommand } from './inventory-command';

const LIMIT = 1000;

export const parseArgs = parseJsonArgs;

export function formatParked(bucket: string, rows: ParkedRow[]): string {
  if (rows.length === 0) return `bucket ${bucket}: no parked writes`;
  const lines = [`bucket ${bucket}: ${rows.length}${rows.length === LIMIT ? '+' : ''} parked write(s)`];
  for (const r of rows) {
    lines.push(
      `  ${JSON.stringify(r.path)} parked ${r.parked_at.toISOString()} after ${r.attempts} attempts` +
        ` (${r.last_operation ?? '?'}): ${r.last_error ?? ''}`,
    );
  }
  return lines.join('\n');
}

export const parkedCommand: InventoryCommand<ParkedRow[]> = {
  name: 'parked',
  read: (inventory: InventoryRepository, bucket: string) => inventory.parkedRows(bucket, LIMIT),
  format: formatParked,
  exitCode: (results) => (results.some((rows) => rows.length > 0) ? 1 : 0),
};

if (require.main === module) runAsMain(parkedCommand);
