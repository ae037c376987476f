/** Issue 12's memory goal, judged from each process's peak RSS in each scenario of one run (the idle goal has a row of its own: scenarios/idle.ts). Pure. */
import { fmtNumber, verdictOf, type GoalCheck } from './report';

export const PEAK_RSS_GOAL_BYTES = 120e6;

/** The proxies as shipped, each with the bare Node hop in front of the same backend: its floor. */
const FLOOR_OF: Readonly<Record<string, string>> = {
  'proxy-sink': 'node-hop-sink',
  'proxy-ceph': 'node-hop-ceph',
};

export interface PhasePeak {
  process: string;
  phase: string;
  bytes: number;
}

/**
 * The goal row: the highest peak of a shipped proxy, how many of their scenario peaks are within 120 MB, and
 * which of the others no Node hop could meet (node-hop itself above 120 MB in that scenario): out of reach when
 * that is every one of them.
 */
export function peakRssCheck(peaks: readonly PhasePeak[]): GoalCheck | undefined {
  const shipped = peaks.filter((p) => FLOOR_OF[p.process] !== undefined && Number.isFinite(p.bytes));
  if (shipped.length === 0) return undefined;
  const worst = shipped.reduce((w, p) => (p.bytes > w.bytes ? p : w));
  const within = shipped.filter((p) => p.bytes <= PEAK_RSS_GOAL_BYTES).length;
  const floorOf = (p: PhasePeak): number | undefined =>
    peaks.find((f) => f.process === FLOOR_OF[p.process] && f.phase === p.phase)?.bytes;
  const beyondAnyHop = shipped.flatMap((p) => {
    const floor = floorOf(p);
    return p.bytes > PEAK_RSS_GOAL_BYTES && floor !== undefined && floor > PEAK_RSS_GOAL_BYTES
      ? [`${p.process} in ${p.phase} (node-hop ${fmtNumber(floor / 1e6)})`]
      : [];
  });
  const reach = beyondAnyHop.length
    ? `; out of reach for any Node hop in ${beyondAnyHop.length}, where node-hop itself peaked above 120 MB: ${beyondAnyHop.join(', ')}`
    : '';
  return {
    goal: 'proxy peak RSS ≤ 120 MB in every scenario (issue 12)',
    measured:
      `highest ${fmtNumber(worst.bytes / 1e6)} MB (${worst.process} in ${worst.phase}); ` +
      `${within} of ${shipped.length} scenario peaks within${reach}`,
    met: verdictOf(shipped.length - within, beyondAnyHop.length),
  };
}
