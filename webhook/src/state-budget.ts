/**
 * How the proxy may use its state volume (STATE_DIR, an emptyDir with `sizeLimit`): the write-ahead journal
 * and the upload spool share it, and the kubelet evicts the pod when the volume grows past `sizeLimit`. So
 * the webhook derives both bounds from the limit and injects them. Pure.
 */

/** The journal's own default (JOURNAL_MAX_BYTES): about 800,000 acknowledged writes. More buys little. */
export const JOURNAL_CAP_BYTES = 256 * 1024 * 1024;
/** Below this the spool would hold too little to matter: it is turned off (SPOOL_MAX_BYTES=0). */
export const MIN_SPOOL_BYTES = 1024 * 1024;

export interface StateBudget {
  journalMaxBytes: number;
  spoolMaxBytes: number;
  spoolMaxObjectBytes: number;
}

const FACTORS: Record<string, number> = {
  '': 1,
  m: 1e-3,
  k: 1e3,
  M: 1e6,
  G: 1e9,
  T: 1e12,
  P: 1e15,
  E: 1e18,
  Ki: 2 ** 10,
  Mi: 2 ** 20,
  Gi: 2 ** 30,
  Ti: 2 ** 40,
  Pi: 2 ** 50,
  Ei: 2 ** 60,
};

/** Bytes of a Kubernetes quantity (`1Gi`, `500M`, `1e9`, `1.5Gi`), rounded down; undefined if it is not one. */
export function quantityBytes(quantity: string): number | undefined {
  const m = /^\+?([0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:(Ki|Mi|Gi|Ti|Pi|Ei|[mkMGTPE])|[eE]([+-]?[0-9]+))?$/.exec(
    quantity.trim(),
  );
  if (!m) return undefined;
  const factor = m[3] !== undefined ? 10 ** Number(m[3]) : FACTORS[m[2] ?? '']!;
  return Math.min(Number.MAX_SAFE_INTEGER, Math.floor(Number(m[1]) * factor));
}

/**
 * The journal and spool bounds for a state volume of `sizeLimit` ('' = no limit: the proxy's own defaults
 * apply, nothing is injected). An eighth of the volume stays free for what the bounds do not count
 * (directories, the instance id, partly filled blocks); the journal gets half the rest up to its cap, the
 * spool everything else, and one upload at most a quarter of the spool.
 */
export function stateBudget(sizeLimit: string): StateBudget | undefined {
  if (sizeLimit.trim() === '') return undefined;
  const limit = quantityBytes(sizeLimit);
  if (limit === undefined) return undefined;
  const usable = Math.floor((limit * 7) / 8);
  const journalMaxBytes = Math.max(1, Math.min(JOURNAL_CAP_BYTES, Math.floor(usable / 2)));
  const rest = usable - journalMaxBytes;
  const spoolMaxBytes = rest >= MIN_SPOOL_BYTES ? rest : 0;
  return {
    journalMaxBytes,
    spoolMaxBytes,
    spoolMaxObjectBytes: Math.max(1, Math.floor(spoolMaxBytes / 4)),
  };
}

/** The proxy environment for a state volume of `sizeLimit` (none when it has no limit). */
export function stateBudgetEnv(sizeLimit: string): { name: string; value: string }[] {
  const b = stateBudget(sizeLimit);
  if (!b) return [];
  return [
    { name: 'JOURNAL_MAX_BYTES', value: String(b.journalMaxBytes) },
    { name: 'SPOOL_MAX_BYTES', value: String(b.spoolMaxBytes) },
    { name: 'SPOOL_MAX_OBJECT_BYTES', value: String(b.spoolMaxObjectBytes) },
  ];
}
