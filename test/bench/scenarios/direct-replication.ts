/**
 * The lag goal's reference arm: replication with no proxy and no inventory. The same open loop of 4 KiB
 * PUTs as the lag runs, straight to RGW main; for each one acknowledged, a HEAD on main and a PUT of the same
 * bytes to the mirror, by one of as many workers as a sidecar copies with, in the bench's own process with its
 * light client (no retries). Lag runs from main's 2xx to the mirror's. What it shows: how the same replication
 * fares on this machine with no sidecar and no Postgres taking a share of its CPU.
 */
import { BenchClient, openLoop, type Endpoint } from '../client';
import { busyCoresDuring, readProcStat } from '../procs';
import type { distribution } from '../stats';
import { summarizeLags } from './lag-summary';
import { SMALL_SIZE } from './small';

/** Where the machine's CPU went while the PUTs were sent (cores, averaged over the sending). */
export interface SendingCores {
  /** Every process on the machine. */
  machine: number;
  /** The S3 backend's daemons (RGW, the OSD, the monitor). */
  backend: number;
  /** The bench's own process: the app's client, and the copies in the direct arm. */
  client: number;
  /** The proxy, and its Postgres (absent in the direct arm). */
  proxy?: number;
  postgres?: number;
}

export interface DirectReplicationRun {
  rate: number;
  workers: number;
  sent: number;
  failed: number;
  copied: number;
  /** Acknowledged writes whose copy failed, or that were still queued when the catch-up's time ran out. */
  uncopied: number;
  lag: ReturnType<typeof distribution>;
  earlyMedianMs: number;
  lateMedianMs: number;
  copiesPerSec: number;
  cores: SendingCores;
}

/**
 * A FIFO of acknowledged writes for copy workers: `take` waits for the next one, and resolves undefined once
 * the queue is closed and empty.
 */
export class CopyQueue<T> {
  private readonly items: T[] = [];
  private head = 0;
  private readonly waiting: ((item: T | undefined) => void)[] = [];
  private closed = false;

  push(item: T): void {
    if (this.closed) throw new Error('push after close');
    const waiter = this.waiting.shift();
    if (waiter) waiter(item);
    else this.items.push(item);
  }

  take(): Promise<T | undefined> {
    if (this.head < this.items.length) return Promise.resolve(this.items[this.head++]);
    if (this.closed) return Promise.resolve(undefined);
    return new Promise((resolve) => this.waiting.push(resolve));
  }

  /** No more pushes: waiting takers get undefined, later ones the items left, then undefined. */
  close(): void {
    this.closed = true;
    for (const waiter of this.waiting.splice(0)) waiter(undefined);
  }

  /** Closes and drops the items not yet taken; returns how many there were. */
  abandon(): number {
    const left = this.items.length - this.head;
    this.head = this.items.length;
    this.close();
    return left;
  }
}

/** CPU seconds of each process that can still be read, by pid. */
function cpuByPid(pids: readonly number[]): Map<number, number> {
  const out = new Map<number, number>();
  for (const pid of pids) {
    const s = readProcStat(pid);
    if (s) out.set(pid, s.cpuSeconds);
  }
  return out;
}

/**
 * CPU seconds a group of processes used between two samples: a process that started meanwhile counts from
 * zero, one that ended meanwhile is lost (so the sum is a lower bound; Postgres backends come and go).
 */
export function cpuBetween(before: ReadonlyMap<number, number>, after: ReadonlyMap<number, number>): number {
  let sum = 0;
  for (const [pid, seconds] of after) sum += seconds - (before.get(pid) ?? 0);
  return sum;
}

type PidGroups = { backend: () => number[]; proxy?: () => number[]; postgres?: () => number[] };

/** CPU of `work` by process group, as cores over its duration. */
export async function sendingCores<T>(
  groups: PidGroups,
  work: () => Promise<T>,
): Promise<{ result: T; cores: SendingCores }> {
  const sample = (): Record<keyof PidGroups, Map<number, number>> => ({
    backend: cpuByPid(groups.backend()),
    proxy: cpuByPid(groups.proxy?.() ?? []),
    postgres: cpuByPid(groups.postgres?.() ?? []),
  });
  const started = performance.now();
  const client = process.cpuUsage();
  const before = sample();
  const { result, cores: machine } = await busyCoresDuring(work);
  const after = sample();
  const seconds = (performance.now() - started) / 1000;
  const cores = (k: keyof PidGroups): number => cpuBetween(before[k], after[k]) / seconds;
  const clientUsed = process.cpuUsage(client);
  return {
    result,
    cores: {
      machine,
      backend: cores('backend'),
      client: (clientUsed.user + clientUsed.system) / 1e6 / seconds,
      ...(groups.proxy ? { proxy: cores('proxy') } : {}),
      ...(groups.postgres ? { postgres: cores('postgres') } : {}),
    },
  };
}

export async function measureDirectReplication(opts: {
  main: Endpoint;
  mirror: Endpoint;
  bucket: string;
  rate: number;
  durationMs: number;
  /** How long the copies may catch up after the sending; writes still queued then count as uncopied. */
  waitAfterMs: number;
  workers: number;
  backendPids: () => number[];
}): Promise<DirectReplicationRun> {
  const { bucket, rate, durationMs, workers } = opts;
  const main = new BenchClient(opts.main, 512);
  const mirror = new BenchClient(opts.mirror, workers);
  const queue = new CopyQueue<number>();
  try {
    for (const client of [main, mirror]) {
      const status = await client.send('PUT', `/${bucket}`, await client.headers('PUT', `/${bucket}`));
      if (status !== 200 && status !== 409) throw new Error(`CreateBucket ${bucket}: HTTP ${status}`);
    }
    const body = Buffer.alloc(SMALL_SIZE, 'lag-');
    const extra = { 'content-length': String(SMALL_SIZE), 'content-type': 'application/octet-stream' };
    const total = Math.round((rate * durationMs) / 1000);
    const pathOf = (seq: number): string => `/${bucket}/k-${seq}`;
    // Sign before the clock starts, as the proxied runs do.
    const signed = await Promise.all(
      Array.from({ length: total }, async (_, seq) => ({
        put: await main.headers('PUT', pathOf(seq), extra),
        head: await main.headers('HEAD', pathOf(seq)),
        copy: await mirror.headers('PUT', pathOf(seq), extra),
      })),
    );
    const acked = new Map<number, number>();
    const copiedAt = new Map<number, number>();
    const copyWorker = async (): Promise<void> => {
      for (let seq = await queue.take(); seq !== undefined; seq = await queue.take()) {
        const s = signed[seq]!;
        try {
          if ((await main.send('HEAD', pathOf(seq), s.head)) !== 200) continue;
          if ((await mirror.send('PUT', pathOf(seq), s.copy, body)) === 200) copiedAt.set(seq, Date.now());
        } catch {
          // Counted as uncopied.
        }
      }
    };
    const copying = Array.from({ length: workers }, copyWorker);
    const { result: sends, cores } = await sendingCores({ backend: opts.backendPids }, () =>
      openLoop({
        ratePerSec: rate,
        durationMs,
        request: async (seq) => {
          const status = await main.send('PUT', pathOf(seq), signed[seq]!.put, body);
          if (status === 200) {
            acked.set(seq, Date.now());
            queue.push(seq);
          }
          return status;
        },
      }),
    );
    queue.close();
    const caughtUp = Promise.all(copying);
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([caughtUp, new Promise((resolve) => (timer = setTimeout(resolve, opts.waitAfterMs)))]);
    clearTimeout(timer);
    queue.abandon();
    await caughtUp;
    const summary = summarizeLags(
      sends.flatMap(({ seq }) => {
        const ackedAt = acked.get(seq);
        return ackedAt === undefined ? [] : [{ ackedAt, copiedAt: copiedAt.get(seq) }];
      }),
      Date.now(),
    );
    const firstAck = Math.min(...acked.values());
    const lastCopy = Math.max(...copiedAt.values());
    return {
      rate,
      workers,
      sent: sends.length,
      failed: sends.length - acked.size,
      ...summary,
      copiesPerSec: copiedAt.size ? copiedAt.size / ((lastCopy - firstAck) / 1000) : NaN,
      cores,
    };
  } finally {
    // The workers end with the queue, whatever happened.
    queue.abandon();
    main.close();
    mirror.close();
  }
}
