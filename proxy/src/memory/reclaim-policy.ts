/**
 * When an idle proxy gives memory back (reclaim-when-quiet.ts does it). Pure: one decision per sample.
 *
 * After a burst of writes or a large transfer, a Node process stays tens of MB above what it uses: glibc keeps
 * what was freed in its arenas, and after a large transfer the Buffers already passed on wait for a garbage
 * collection that an idle process never runs. malloc_trim gives the first back for a few ms; the second
 * needs a full collection, which costs more than itself: V8's memory reducer follows it with collections
 * that shrink the heap, which the next burst grows again (+0.3 ms CPU per write over the next 1,000 small
 * PUTs, test/bench/notes.md). So a reclaim happens only once the process has gone quiet after growing, and
 * collects garbage only when dead Buffers are worth it. The one exception is the first quiet moment after
 * start-up: module loading and migrations leave garbage a collection frees once, and the memory reducer that
 * follows gives back the young generation a start-up grew and never used again (an idle proxy rests 3 MB
 * lower); a burst grows the heap back once, not after every reclaim. Within a minute of start, that collection
 * also drops the bytecode of every function not running then: most of it ran once, at start-up, and V8 drops
 * it by itself only after major collections an idle proxy never has (1.1-1.5 MB at rest). What runs again
 * compiles again, once. Later, traffic has run since start, and its code would be dropped with start-up's.
 */

import { DEFAULT_SPOOL_MEMORY_BYTES } from '../config';

const MiB = 1024 * 1024;

export interface ReclaimPolicy {
  /** RSS growth since the last reclaim (or since start) that makes one worth its cost. */
  growthBytes: number;
  /** The most CPU the process may have used over the last sampling interval, as a share of one core, to count as quiet. */
  quietCpuShare: number;
  /** ArrayBuffer memory (live or awaiting collection) above which a reclaim collects garbage before trimming. */
  collectAboveArrayBufferBytes: number;
  /** The start-up reclaim also flushes code if it comes this soon after start. */
  flushCodeWithinMicros: number;
}

/**
 * The policy for a proxy whose memory spool holds up to `spoolMemoryBytes` of small bodies (SPOOL_MEMORY_BYTES).
 * 8 MiB of growth: a burst of small writes leaves 15-20 MB that malloc_trim gives back in part, an idle proxy
 * grows by none. Buffers beyond what the spool may hold live, plus 8 MiB, are mostly a large transfer's dead
 * ones: worth a collection.
 */
export function reclaimPolicyFor(spoolMemoryBytes: number): ReclaimPolicy {
  return {
    growthBytes: 8 * MiB,
    quietCpuShare: 0.01,
    collectAboveArrayBufferBytes: spoolMemoryBytes + 8 * MiB,
    flushCodeWithinMicros: 60_000_000,
  };
}

export const DEFAULT_RECLAIM_POLICY: ReclaimPolicy = reclaimPolicyFor(DEFAULT_SPOOL_MEMORY_BYTES);

export interface ReclaimSample {
  rssBytes: number;
  /** ArrayBuffer memory V8 accounts, live or awaiting collection. */
  arrayBufferBytes: number;
  /** CPU time (user and system) the process spent since the previous sample. */
  cpuMicros: number;
  /** Wall time since the previous sample. */
  elapsedMicros: number;
}

export interface ReclaimState {
  /** RSS after the last reclaim, or the lowest seen since: what growth is measured from. */
  baselineBytes: number;
  /** Start-up's garbage is still uncollected: the first quiet moment reclaims, growth or not. */
  startUpPending: boolean;
  /** Wall time since start, counted while start-up's reclaim is pending. */
  sinceStartMicros: number;
}

/** A process that has just started, holding `rssBytes`. */
export function startUpState(rssBytes: number): ReclaimState {
  return { baselineBytes: rssBytes, startUpPending: true, sinceStartMicros: 0 };
}

/** Growth counts from `rssBytes`: what the process held right after a reclaim. */
export function baselineAt(rssBytes: number): ReclaimState {
  return { baselineBytes: rssBytes, startUpPending: false, sinceStartMicros: 0 };
}

export type ReclaimCause = 'start-up' | 'growth';

export type ReclaimDecision =
  | { reclaim: true; cause: ReclaimCause; collectGarbage: boolean; flushCode: boolean }
  | { reclaim: false; state: ReclaimState };

export function decideReclaim(
  policy: ReclaimPolicy,
  state: ReclaimState,
  sample: ReclaimSample,
): ReclaimDecision {
  const quiet = sample.cpuMicros <= policy.quietCpuShare * sample.elapsedMicros;
  const sinceStartMicros = state.startUpPending ? state.sinceStartMicros + sample.elapsedMicros : 0;
  if (quiet && state.startUpPending) {
    const flushCode = sinceStartMicros <= policy.flushCodeWithinMicros;
    return { reclaim: true, cause: 'start-up', collectGarbage: true, flushCode };
  }
  if (quiet && sample.rssBytes - state.baselineBytes >= policy.growthBytes) {
    const collectGarbage = sample.arrayBufferBytes >= policy.collectAboveArrayBufferBytes;
    // Code is not flushed after growth: what just ran is what the next burst runs.
    return { reclaim: true, cause: 'growth', collectGarbage, flushCode: false };
  }
  // Memory the process gave back by itself lowers the baseline; growth is measured from there.
  return {
    reclaim: false,
    state: { ...state, baselineBytes: Math.min(state.baselineBytes, sample.rssBytes), sinceStartMicros },
  };
}
