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
 * lower); a burst grows the heap back once, not after every reclaim. If the proxy has answered no request yet,
 * all the code that ran is start-up's, and that collection also drops its bytecode: V8 drops unused bytecode by
 * itself only as major collections age it, which an idle proxy never has (1.1-1.5 MB at rest). What runs
 * again compiles again, once. Once requests have been answered, their code is kept: the next ones run it.
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
  /** Requests the data server has received since start. */
  requestsServed: number;
}

export interface ReclaimState {
  /** RSS after the last reclaim, or the lowest seen since: what growth is measured from. */
  baselineBytes: number;
  /** Start-up's garbage is still uncollected: the first quiet moment reclaims, growth or not. */
  startUpPending: boolean;
}

/** A process that has just started, holding `rssBytes`. */
export function startUpState(rssBytes: number): ReclaimState {
  return { baselineBytes: rssBytes, startUpPending: true };
}

/** Growth counts from `rssBytes`: what the process held right after a reclaim. */
export function baselineAt(rssBytes: number): ReclaimState {
  return { baselineBytes: rssBytes, startUpPending: false };
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
  if (quiet && state.startUpPending) {
    return { reclaim: true, cause: 'start-up', collectGarbage: true, flushCode: sample.requestsServed === 0 };
  }
  if (quiet && sample.rssBytes - state.baselineBytes >= policy.growthBytes) {
    const collectGarbage = sample.arrayBufferBytes >= policy.collectAboveArrayBufferBytes;
    // Code is not flushed after growth: what just ran is what the next burst runs.
    return { reclaim: true, cause: 'growth', collectGarbage, flushCode: false };
  }
  // Memory the process gave back by itself lowers the baseline; growth is measured from there.
  return {
    reclaim: false,
    state: { ...state, baselineBytes: Math.min(state.baselineBytes, sample.rssBytes) },
  };
}
