/**
 * The replication status of keys this sidecar wrote, as AWS reports it on GET and HEAD
 * (`x-amz-replication-status`): PENDING from the write until its copy completes, COMPLETED after, FAILED once
 * the row is parked. Pure and in memory, so a read costs a map lookup and never a Postgres round trip;
 * bounded (the oldest-written keys are forgotten first) and per sidecar: a key this sidecar did not write,
 * or forgot, gets no header. A copy settles a status only if no newer write of the key came since it began.
 */
export type ReplicationStatus = 'PENDING' | 'COMPLETED' | 'FAILED';

export const REPLICATION_STATUS_HEADER = 'x-amz-replication-status';

/** Keys remembered: about 140 bytes of heap each beyond the bucket and key (17 MB for 100,000 short keys). */
export const DEFAULT_REPLICATION_STATUS_KEYS = 100_000;

interface Entry {
  status: ReplicationStatus;
  /** Bumped by each write of the key: a copy begun before a newer write settles nothing. */
  write: number;
}

/** What a copy began from: settle() with it applies only if the key was not written since. */
export type CopyToken = number | undefined;

export class ReplicationStatuses {
  private readonly entries = new Map<string, Entry>();
  private writes = 0;

  constructor(private readonly limit: number = DEFAULT_REPLICATION_STATUS_KEYS) {}

  get size(): number {
    return this.entries.size;
  }

  /** A write main acknowledged: a put is PENDING; a deleted key is forgotten (its reads are 404s). */
  written(bucket: string, key: string, kind: 'put' | 'delete'): void {
    const id = idOf(bucket, key);
    this.entries.delete(id); // re-inserted last: the newest write is the last forgotten
    if (kind === 'delete') return;
    this.entries.set(id, { status: 'PENDING', write: ++this.writes });
    if (this.entries.size > this.limit) this.entries.delete(this.entries.keys().next().value!);
  }

  /** A copy of the key begins. */
  copying(bucket: string, key: string): CopyToken {
    return this.entries.get(idOf(bucket, key))?.write;
  }

  /** The copy begun at `token` completed, or its row was parked; ignored after a newer write. */
  settled(bucket: string, key: string, token: CopyToken, status: 'COMPLETED' | 'FAILED'): void {
    const entry = this.entries.get(idOf(bucket, key));
    if (entry && token !== undefined && entry.write === token) entry.status = status;
  }

  get(bucket: string, key: string): ReplicationStatus | undefined {
    return this.entries.get(idOf(bucket, key))?.status;
  }
}

const idOf = (bucket: string, key: string): string => `${bucket}\u0000${key}`;
