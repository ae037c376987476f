/**
 * Gives memory back once the proxy has gone quiet after start-up or after growing (the rules:
 * reclaim-policy.ts): when garbage is worth it (start-up's, or dead Buffers of finished transfers), a full
 * collection frees it; then glibc's malloc_trim returns the freed pages to the system. Samples RSS and CPU
 * every few seconds on an unref'd timer.
 */
import type { Collected } from './garbage-collection';
import {
  baselineAt,
  decideReclaim,
  DEFAULT_RECLAIM_POLICY,
  startUpState,
  type ReclaimCause,
  type ReclaimPolicy,
} from './reclaim-policy';

export interface ReclaimResult {
  cause: ReclaimCause;
  rssBeforeBytes: number;
  rssAfterBytes: number;
  /** Main-thread time the collection and the trim took. */
  durationMs: number;
  /** Whether a full garbage collection ran first. */
  collected: boolean;
  /** Whether that collection also dropped the bytecode of functions not running (start-up only). */
  flushedCode: boolean;
  /** The bytecode it dropped. */
  bytecodeFreedBytes: number;
  /** Whether malloc_trim ran (false: no addon). */
  trimmed: boolean;
}

/** The process's edges, injected so the loop can be driven by a test. */
export interface ReclaimEdges {
  rssBytes(): number;
  /** ArrayBuffer memory V8 accounts, live or awaiting collection (process.memoryUsage().arrayBuffers). */
  arrayBufferBytes(): number;
  /** CPU time (user and system) the process has used so far, in µs. */
  cpuMicros(): number;
  nowMicros(): number;
  /** A full collection; `flushCode`: dropping the bytecode of every function not running (recompiled on use). */
  collectGarbage(opts: { flushCode: boolean }): Collected;
  /** Requests the data server has received since start. */
  requestsServed(): number;
  mallocTrim: (() => boolean) | undefined;
  onReclaim(result: ReclaimResult): void;
  onError(err: Error): void;
}

export const RECLAIM_SAMPLE_MS = 5_000;

export interface MemoryReclaim {
  /** Takes one sample and reclaims if the policy says so (the timer calls it; tests call it directly). */
  sample(): void;
  stop(): void;
}

export function startMemoryReclaim(
  edges: ReclaimEdges,
  opts: { policy?: ReclaimPolicy; sampleMs?: number; timer?: boolean } = {},
): MemoryReclaim {
  const policy = opts.policy ?? DEFAULT_RECLAIM_POLICY;
  let state = startUpState(edges.rssBytes());
  let last = { cpu: edges.cpuMicros(), at: edges.nowMicros() };

  const reclaim = (cause: ReclaimCause, collectGarbage: boolean, flushCode: boolean): void => {
    const rssBeforeBytes = edges.rssBytes();
    const started = edges.nowMicros();
    let collected = collectGarbage;
    let bytecodeFreedBytes = 0;
    if (collected) {
      try {
        ({ bytecodeFreedBytes } = edges.collectGarbage({ flushCode }));
      } catch (err) {
        // The trim still gives back what glibc holds.
        collected = false;
        edges.onError(err as Error);
      }
    }
    const trimmed = edges.mallocTrim !== undefined;
    edges.mallocTrim?.();
    const rssAfterBytes = edges.rssBytes();
    state = baselineAt(rssAfterBytes);
    const durationMs = (edges.nowMicros() - started) / 1000;
    const flushedCode = collected && flushCode;
    edges.onReclaim({
      cause,
      rssBeforeBytes,
      rssAfterBytes,
      durationMs,
      collected,
      flushedCode,
      bytecodeFreedBytes,
      trimmed,
    });
  };

  const lastKnownRss = (): number => {
    try {
      return edges.rssBytes();
    } catch {
      return state.baselineBytes;
    }
  };

  const sample = (): void => {
    let reclaimTried = false;
    // Nothing here may throw out of the timer: an uncaught error stops the proxy, and this is only memory.
    try {
      const now = { cpu: edges.cpuMicros(), at: edges.nowMicros() };
      const decision = decideReclaim(policy, state, {
        rssBytes: edges.rssBytes(),
        arrayBufferBytes: edges.arrayBufferBytes(),
        cpuMicros: now.cpu - last.cpu,
        elapsedMicros: now.at - last.at,
        requestsServed: edges.requestsServed(),
      });
      if (decision.reclaim) {
        reclaimTried = true;
        reclaim(decision.cause, decision.collectGarbage, decision.flushCode);
      } else state = decision.state;
      // The reclaim's own CPU is not the app's: the next interval starts after it.
      last = { cpu: edges.cpuMicros(), at: edges.nowMicros() };
    } catch (err) {
      // Not again until the process has grown once more; a start-up reclaim not tried yet is still due.
      const startUpPending = state.startUpPending && !reclaimTried;
      state = { ...baselineAt(Math.max(state.baselineBytes, lastKnownRss())), startUpPending };
      edges.onError(err as Error);
    }
  };

  const timer = opts.timer === false ? undefined : setInterval(sample, opts.sampleMs ?? RECLAIM_SAMPLE_MS);
  timer?.unref();
  return {
    sample,
    stop: () => clearInterval(timer),
  };
}
