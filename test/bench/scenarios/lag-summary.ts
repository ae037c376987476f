import { distribution, median } from '../stats';

/** One acknowledged write, in send order: when main acknowledged it and when its copy landed, if it did. */
export interface AckedWrite {
  ackedAt: number;
  copiedAt: number | undefined;
}

export interface LagSummary {
  /** Lags (ms) of the writes copied; one copied before its ack was seen counts 0. */
  lag: ReturnType<typeof distribution>;
  copied: number;
  uncopied: number;
  /** Median lag of the first and last fifth of the writes: rising means the mirror falls behind. */
  earlyMedianMs: number;
  lateMedianMs: number;
}

/** Lags of writes in send order; a write never copied lags at least until `waitedUntil` (ms epoch). */
export function summarizeLags(writes: readonly AckedWrite[], waitedUntil: number): LagSummary {
  const lags: number[] = [];
  const lagBySeq = writes.map(({ ackedAt, copiedAt }) => {
    if (copiedAt === undefined) return waitedUntil - ackedAt;
    const lag = Math.max(0, copiedAt - ackedAt);
    lags.push(lag);
    return lag;
  });
  const fifth = Math.max(1, Math.floor(lagBySeq.length / 5));
  return {
    lag: distribution(lags),
    copied: lags.length,
    uncopied: writes.length - lags.length,
    earlyMedianMs: median(lagBySeq.slice(0, fifth)),
    lateMedianMs: median(lagBySeq.slice(-fifth)),
  };
}
