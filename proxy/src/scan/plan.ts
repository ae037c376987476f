/**
 * What one page of the anti-entropy scan re-queues. Pure. The comparison itself is resync's (planResync),
 * so `npm run resync` and the scan never disagree about what a difference is; the scan only leaves out what
 * is already on its way (a pending row) or too fresh to judge (a write the proxy may not have recorded yet).
 */
import type { ScannedRow } from '../inventory/repository';
import { DEFAULT_DELETE_POLICY, type DeletePolicy } from '../mirror/delete-policy';
import { planResync, type Listed, type ResyncActionKind } from '../mirror/resync';

export type { ScannedRow };

export interface ScannedObject extends Listed {
  lastModified?: Date;
}

export type DifferenceKind = ResyncActionKind | 'parked';

export interface Requeue {
  key: string;
  kind: DifferenceKind;
  /** Main does not hold the key (the row is re-queued as a delete). */
  deleted: boolean;
  size: number | undefined;
}

export function planScanPage(
  main: Map<string, ScannedObject>,
  mirror: Map<string, Listed>,
  rows: Map<string, ScannedRow>,
  settleCutoff: Date,
  policy: DeletePolicy = DEFAULT_DELETE_POLICY,
): Requeue[] {
  const out: Requeue[] = [];
  const planned = new Set<string>();
  const requeue = (key: string, kind: DifferenceKind): void => {
    planned.add(key);
    out.push({ key, kind, deleted: !main.has(key), size: main.get(key)?.size });
  };
  // The delete policy is planResync's: with `keep` a key main deleted is never re-queued as a mirror delete
  // once its row says deleted; with `delay` not before the delay ran out.
  for (const action of planResync(main, mirror, rows, policy)) {
    // An ETag neither the listing nor a HEAD gave: nothing to compare; the next pass looks again.
    if (main.get(action.key)?.etag === '' || mirror.get(action.key)?.etag === '') continue;
    const row = rows.get(action.key);
    if (row && !row.is_backed_up && !row.parked) continue; // already queued: the copier is on it
    if (row?.recent) continue;
    const lastModified = main.get(action.key)?.lastModified;
    if (lastModified && lastModified > settleCutoff) continue; // may still be in a proxy's queue
    requeue(action.key, row?.parked ? 'parked' : action.action);
  }
  for (const [key, row] of rows) if (row.parked && !planned.has(key)) requeue(key, 'parked');
  return out;
}
