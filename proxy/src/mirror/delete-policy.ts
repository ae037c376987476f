/**
 * The delete policy (MIRROR_DELETE_POLICY): what a delete on main does to the mirror. Pure: parsing and the
 * decisions; the edges (row-mirror, copier, resync, scan) ask it and act.
 *
 * - `mirror` (default): a delete reaches the mirror as soon as it is mirrored, like every write.
 * - `keep`: the mirror keeps what main deleted; the inventory row still says deleted (and "kept").
 * - `delay:<duration>`: a delete reaches the mirror only once it is that old; a write of the key before
 *   then cancels it (the row becomes a put again, and main holds the key again).
 */
export type DeletePolicy = { kind: 'mirror' } | { kind: 'keep' } | { kind: 'delay'; seconds: number };

export const DEFAULT_DELETE_POLICY: DeletePolicy = { kind: 'mirror' };

/** The longest delay accepted: a year. */
export const MAX_DELETE_DELAY_SECONDS = 366 * 24 * 3600;

const UNIT_SECONDS: Record<string, number> = { s: 1, m: 60, h: 3600, d: 86_400 };

/**
 * Parses `mirror`, `keep` or `delay:<n><unit>` (unit s, m, h or d; n a positive integer, e.g. `delay:24h`).
 * Strict: anything else (spaces inside, a zero, a fraction, a missing unit) is an error, the reason returned.
 */
export function parseDeletePolicy(raw: string): DeletePolicy | { error: string } {
  const text = raw.trim();
  if (text === 'mirror') return { kind: 'mirror' };
  if (text === 'keep') return { kind: 'keep' };
  const m = /^delay:([1-9][0-9]{0,8})([smhd])$/.exec(text);
  if (m) {
    const seconds = Number(m[1]) * UNIT_SECONDS[m[2]!]!;
    if (seconds > MAX_DELETE_DELAY_SECONDS) return { error: 'a delay may be at most 366d' };
    return { kind: 'delay', seconds };
  }
  return {
    error: 'must be mirror, keep or delay:<duration> (a positive integer and s, m, h or d, e.g. delay:24h)',
  };
}

/** The setting's text for `p` (logs, the webhook's env). */
export function formatDeletePolicy(p: DeletePolicy): string {
  if (p.kind !== 'delay') return p.kind;
  for (const [unit, n] of [
    ['d', 86_400],
    ['h', 3600],
    ['m', 60],
  ] as const) {
    if (p.seconds % n === 0) return `delay:${p.seconds / n}${unit}`;
  }
  return `delay:${p.seconds}s`;
}

/** How long a recorded delete waits before it may be claimed (0 unless `delay`). */
export function deleteDelaySeconds(p: DeletePolicy): number {
  return p.kind === 'delay' ? p.seconds : 0;
}

/**
 * What to do on the mirror with a key main no longer holds:
 * `delete` it now; `keep` it (for good: the row is settled as deleted and kept); `defer` (the delete is not
 * due yet: look again in `inSeconds`).
 */
export type MissingKeyAction = { kind: 'delete' } | { kind: 'keep' } | { kind: 'defer'; inSeconds: number };

/**
 * The decision for one key main does not hold. `deletedForSeconds`: how long ago the inventory recorded
 * the delete; undefined when the row did not say deleted (main lost the key behind the proxy's back, or
 * a provisional write never happened): then the delete counts from now.
 */
export function missingKeyAction(p: DeletePolicy, deletedForSeconds: number | undefined): MissingKeyAction {
  if (p.kind === 'mirror') return { kind: 'delete' };
  if (p.kind === 'keep') return { kind: 'keep' };
  const age = deletedForSeconds === undefined ? 0 : Math.max(0, deletedForSeconds);
  if (age >= p.seconds) return { kind: 'delete' };
  return { kind: 'defer', inSeconds: p.seconds - age };
}

/**
 * The decision for a claimed inventory row whose key main may no longer hold: the more protective of the
 * policy the delete was recorded under and this sidecar's. A delete recorded under `keep` is kept whatever
 * this sidecar's policy; a recorded delay is in the row's due time (the row is claimed only after it), and
 * this sidecar's own delay counts from when the delete was recorded.
 */
export function rowMissingAction(
  p: DeletePolicy,
  row: { deleted: boolean; deleted_for_seconds: number | null; delete_kept?: boolean },
): MissingKeyAction {
  if (!row.deleted) return missingKeyAction(p, undefined);
  if (row.delete_kept) return { kind: 'keep' };
  return missingKeyAction(p, row.deleted_for_seconds ?? undefined);
}

/** What a comparison (resync, scan) may do about a key the mirror holds and main does not. */
export type ExtraOnMirror = 'delete-on-mirror' | 'mark-deleted' | 'leave';

/**
 * A key on the mirror and not on main, with its inventory row (if any): delete it on the mirror, only
 * record the delete in the row (the policy keeps it, or its delay starts now), or leave it (already
 * recorded as deleted and kept, or its delay has not run out).
 *
 * A delete once settled as kept (`delete_kept`) is left under every policy: a resync run without the
 * proxy's MIRROR_DELETE_POLICY (default `mirror`), a sidecar switched from `keep` to `mirror`, or another
 * pod of the bucket with another policy must not empty the backup of what `keep` kept. Only a new write or
 * delete of the key through a proxy changes such a row. Likewise a delete still waiting out the delay it
 * was recorded with (`delete_delayed`) is left: its row deletes on the mirror when due.
 */
export function extraOnMirror(
  p: DeletePolicy,
  row:
    | {
        deleted: boolean;
        deleted_for_seconds?: number | null;
        delete_kept?: boolean;
        delete_delayed?: boolean;
      }
    | undefined,
): ExtraOnMirror {
  if (row?.deleted && (row.delete_kept || row.delete_delayed)) return 'leave';
  if (p.kind === 'mirror') return 'delete-on-mirror';
  const recorded = !!row?.deleted;
  if (!recorded) return 'mark-deleted';
  if (p.kind === 'keep') return 'leave';
  const action = missingKeyAction(p, row.deleted_for_seconds ?? undefined);
  return action.kind === 'delete' ? 'delete-on-mirror' : 'leave';
}
