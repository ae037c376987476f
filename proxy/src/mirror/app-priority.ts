/**
 * Catch-up copies give way to the app. After a mirror outage the retried copies (the backlog) would take as
 * much CPU as they can get, the sidecar's and, where main and mirror share hardware, theirs: on this
 * project's bench the app kept 17–68 % of its rate while a backlog drained. So while the app has a request
 * in flight, or had one within `quietMs`, the catch-up copies together stream at most `bytesPerSecond`, as
 * Ceph's recovery is throttled while clients are served. A byte rate, not a share of the time: copies held
 * back part of every 100 ms still filled the sockets' buffers at once in the time they were let go, and the
 * mirror took as much as before. The copy of a write that has not failed a copy never waits (a mirror that
 * keeps up must not fall behind because the app is busy), nor does a catch-up copy's first `freeBytes`.
 * Pure: time is injected.
 */

/** What the data path reports: one call as each app request starts and one as its response closes. */
export interface AppActivity {
  requestStarted(): void;
  requestEnded(): void;
}

/** What a copy's body asks before each chunk. */
export interface CopyPacing {
  /** Milliseconds a chunk of `chunkBytes` waits, in a copy that has streamed `streamedBytes`; 0: now. */
  waitMs(streamedBytes: number, chunkBytes: number): number;
}

export interface AppPrioritySettings {
  /** What catch-up copies stream together while the app is busy; 0: they never give way. */
  bytesPerSecond: number;
  /** How long after its last request the app still counts as busy. */
  quietMs: number;
  freeBytes: number;
  /** Bytes let go at once after a pause (the bucket's depth), as this many ms at the rate. */
  burstMs: number;
}

// Measured on the bench's backlog (RGW as main and mirror on the same 2 cores): 8 MiB/s kept the app at
// 90–99.6 % of its rate, 32 MiB/s at 59–68 %, no limit at 17–33 %.
export const DEFAULT_CATCHUP_BYTES_PER_SECOND = 8 * 1024 * 1024;

export const DEFAULT_APP_PRIORITY: AppPrioritySettings = {
  bytesPerSecond: DEFAULT_CATCHUP_BYTES_PER_SECOND,
  quietMs: 200,
  freeBytes: 256 * 1024,
  burstMs: 50,
};

export class AppPriority implements AppActivity, CopyPacing {
  private inFlight = 0;
  private lastEndedAt = Number.NEGATIVE_INFINITY;
  /** When the bytes let go so far would have been sent at the rate (a virtual clock: GCRA). */
  private paidUntil = Number.NEGATIVE_INFINITY;

  constructor(
    private readonly settings: AppPrioritySettings,
    private readonly now: () => number = () => performance.now(),
  ) {}

  requestStarted(): void {
    this.inFlight++;
  }

  requestEnded(): void {
    if (this.inFlight > 0) this.inFlight--;
    this.lastEndedAt = this.now();
  }

  waitMs(streamedBytes: number, chunkBytes: number): number {
    const { bytesPerSecond, quietMs, freeBytes, burstMs } = this.settings;
    if (bytesPerSecond <= 0 || streamedBytes < freeBytes) return 0;
    const now = this.now();
    if (this.inFlight === 0 && now - this.lastEndedAt >= quietMs) return 0;
    // Every catch-up copy draws on the same budget; a chunk goes when the bytes before it are paid for.
    const start = Math.max(this.paidUntil, now - burstMs);
    this.paidUntil = start + (chunkBytes * 1000) / bytesPerSecond;
    return Math.max(0, start - now);
  }
}
