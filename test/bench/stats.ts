/** Pure statistics for the benchmark: order statistics, paired ratios, spreads. No I/O. */

/** Sorted copy, ascending. */
function sorted(values: readonly number[]): number[] {
  return [...values].sort((a, b) => a - b);
}

/**
 * The p-th percentile (0..100) by linear interpolation between closest ranks (the "R-7" definition that
 * numpy and spreadsheets use). NaN for an empty input.
 */
export function percentile(values: readonly number[], p: number): number {
  if (values.length === 0) return NaN;
  if (p < 0 || p > 100 || Number.isNaN(p)) throw new RangeError(`percentile ${p} is outside 0..100`);
  const s = sorted(values);
  const rank = (p / 100) * (s.length - 1);
  const lo = Math.floor(rank);
  const hi = Math.ceil(rank);
  return s[lo]! + (s[hi]! - s[lo]!) * (rank - lo);
}

export function median(values: readonly number[]): number {
  return percentile(values, 50);
}

export function mean(values: readonly number[]): number {
  if (values.length === 0) return NaN;
  let sum = 0;
  for (const v of values) sum += v;
  return sum / values.length;
}

export function max(values: readonly number[]): number {
  return values.length === 0 ? NaN : values.reduce((a, b) => (b > a ? b : a), -Infinity);
}

export function min(values: readonly number[]): number {
  return values.length === 0 ? NaN : values.reduce((a, b) => (b < a ? b : a), Infinity);
}

export interface Distribution {
  n: number;
  min: number;
  p50: number;
  p90: number;
  p99: number;
  max: number;
}

export function distribution(values: readonly number[]): Distribution {
  return {
    n: values.length,
    min: min(values),
    p50: percentile(values, 50),
    p90: percentile(values, 90),
    p99: percentile(values, 99),
    max: max(values),
  };
}

/** b / a, or NaN when a is not a positive number (a ratio to nothing means nothing). */
export function ratio(b: number, a: number): number {
  return a > 0 && Number.isFinite(a) && Number.isFinite(b) ? b / a : NaN;
}

/** A value measured once per round, summarised by its median and its range across rounds. */
export interface Spread {
  median: number;
  min: number;
  max: number;
  /** Each round's value, in round order. */
  rounds: number[];
}

export function spread(rounds: readonly number[]): Spread {
  return { median: median(rounds), min: min(rounds), max: max(rounds), rounds: [...rounds] };
}

/**
 * Ratios of interleaved rounds, pair by pair (round i of B against round i of A), so slow drifts in machine
 * load cancel out. The arrays must have the same length.
 */
export function pairedRatios(a: readonly number[], b: readonly number[]): Spread {
  if (a.length !== b.length)
    throw new RangeError(`paired rounds differ in length: ${a.length} vs ${b.length}`);
  return spread(a.map((av, i) => ratio(b[i]!, av)));
}

/** Differences b - a, pair by pair (for added latency). */
export function pairedDifferences(a: readonly number[], b: readonly number[]): Spread {
  if (a.length !== b.length)
    throw new RangeError(`paired rounds differ in length: ${a.length} vs ${b.length}`);
  return spread(a.map((av, i) => b[i]! - av));
}

/** Counts values into consecutive windows of `width` starting at `start` (for per-second rates). */
export function histogramByWindow(
  times: readonly number[],
  start: number,
  width: number,
  windows: number,
): number[] {
  const counts = new Array<number>(windows).fill(0);
  for (const t of times) {
    const i = Math.floor((t - start) / width);
    if (i >= 0 && i < windows) counts[i]!++;
  }
  return counts;
}

/**
 * The arms in the order one round runs them: as given in even rounds, reversed in odd ones (A B, B A, …), so
 * that a drift of the machine's load hits every arm alike.
 */
export function roundOrder<T>(arms: readonly T[], round: number): readonly T[] {
  return round % 2 === 0 ? arms : [...arms].reverse();
}
