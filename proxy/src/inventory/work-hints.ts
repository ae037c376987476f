/**
 * Typed access to the control database's work hints (control-schema.ts explains the protocol): mark a
 * bucket due after its rows became pending, find the buckets due, settle a hint after a look at the rows,
 * and the counts behind the gauges. Every statement goes over the one control connection.
 */
import type { QueryResult, QueryResultRow } from 'pg';

import {
  BACKFILL_DONE_SQL,
  BACKFILL_LEASE_SQL,
  BACKFILL_MARK_SQL,
  BACKFILL_RELEASE_SQL,
  BACKFILL_ROW_SQL,
  BUCKETS_SQL,
  COUNTS_SQL,
  DUE_SQL,
  KNOWN_DATABASES_SQL,
  MARK_DUE_SQL,
  RECHECK_SQL,
  REGISTER_SQL,
  RELINQUISH_SQL,
  SCAN_DUE_AT_SQL,
  SCAN_DUE_SQL,
  SETTLE_SQL,
  TOTALS_SQL,
  VERSION_SQL,
} from './control-schema';
import { databaseNameFor } from './naming';

/**
 * How long one sidecar may fill in the hints of databases created before the control database before
 * another may start too (the backfill is idempotent; this only saves doing it twice).
 */
const BACKFILL_LEASE_SECONDS = 300;

export interface ControlQuery {
  query<R extends QueryResultRow = QueryResultRow>(sql: string, params?: unknown[]): Promise<QueryResult<R>>;
}

/** A sidecar that will mirror what it just recorded itself, for `seconds`. */
export interface WorkerVouch {
  owner: string;
  seconds: number;
}

/** What a look at a bucket's rows found. */
export interface BucketCounts {
  /** When the next pending row may be claimed; null when none is pending (parked rows do not count). */
  nextDue: Date | null;
  pending: number;
  parked: number;
  oldestPending: Date | null;
}

/** A settle lost to a newer mark, or left the hint due now (a row claimable), or not due (later, or none). */
export type SettleOutcome = 'lost' | 'due' | 'not-due';

export interface DueBucket {
  bucket: string;
  version: string;
  /** 0 when due now. */
  dueInSeconds: number;
}

export interface WorkTotals {
  pending: number;
  parked: number;
  lagSeconds: number;
}

export class WorkHints {
  constructor(private readonly control: ControlQuery) {}

  /** After rows of `bucket` were committed pending. Returns the hint's new version. */
  async markDue(bucket: string, vouch?: WorkerVouch): Promise<string> {
    const r = await this.control.query<{ version: string }>(MARK_DUE_SQL, [
      bucket,
      databaseNameFor(bucket),
      vouch?.owner ?? null,
      vouch?.seconds ?? null,
    ]);
    return r.rows[0]!.version;
  }

  /** A bucket whose database exists, with nothing pending yet. */
  async register(bucket: string): Promise<void> {
    await this.control.query(REGISTER_SQL, [bucket, databaseNameFor(bucket)]);
  }

  /** Buckets due for `owner` (unattended ones and its own), soonest first, then the next not yet due. */
  async due(owner: string, limit: number, excluded: readonly string[] = []): Promise<DueBucket[]> {
    const r = await this.control.query<{ bucket: string; version: string; due_in: number }>(DUE_SQL, [
      owner,
      limit,
      excluded,
    ]);
    return r.rows.map((row) => ({ bucket: row.bucket, version: row.version, dueInSeconds: row.due_in }));
  }

  async version(bucket: string): Promise<string | undefined> {
    const r = await this.control.query<{ version: string }>(VERSION_SQL, [bucket]);
    return r.rows[0]?.version;
  }

  /**
   * Records what a look at the rows found, only if nothing was marked since `version` (read before the
   * look): 'lost' when something was (the hint stays as it is); else whether it is due now.
   */
  async settle(bucket: string, version: string, counts: BucketCounts): Promise<SettleOutcome> {
    const r = await this.control.query<{ due: boolean }>(SETTLE_SQL, [
      bucket,
      version,
      counts.nextDue,
      counts.pending,
      counts.parked,
      counts.oldestPending,
    ]);
    const row = r.rows[0];
    if (!row) return 'lost';
    return row.due ? 'due' : 'not-due';
  }

  /** Counts only, of every bucket given, in one statement: the hints themselves are left alone. */
  async recordCounts(counted: ReadonlyMap<string, BucketCounts>): Promise<void> {
    if (counted.size === 0) return;
    const list = [...counted];
    await this.control.query(COUNTS_SQL, [
      list.map(([bucket]) => bucket),
      list.map(([, c]) => c.pending),
      list.map(([, c]) => c.parked),
      list.map(([, c]) => c.oldestPending),
    ]);
  }

  async totals(buckets: readonly string[]): Promise<WorkTotals> {
    const r = await this.control.query<{ pending: string; parked: string; lag: number }>(TOTALS_SQL, [
      buckets,
    ]);
    const row = r.rows[0];
    return {
      pending: Number(row?.pending ?? 0),
      parked: Number(row?.parked ?? 0),
      lagSeconds: Number(row?.lag ?? 0),
    };
  }

  async buckets(): Promise<string[]> {
    const r = await this.control.query<{ bucket: string }>(BUCKETS_SQL);
    return r.rows.map((row) => row.bucket);
  }

  /**
   * A starting sidecar: the hints its previous start (`ownerPrefix`) vouched for that were moved later are
   * due again, once (its own leases are its to take over at once).
   */
  async recheck(ownerPrefix: string): Promise<void> {
    await this.control.query(RECHECK_SQL, [ownerPrefix]);
  }

  /** A stopping sidecar no longer vouches for its buckets: their work is due for anyone, and told. */
  async relinquish(owner: string): Promise<void> {
    await this.control.query(RELINQUISH_SQL, [owner]);
  }

  /** Were the hints of databases older than the control database filled in yet? */
  async backfilled(): Promise<boolean> {
    const r = await this.control.query<{ done: boolean }>(BACKFILL_DONE_SQL);
    return r.rows[0]?.done ?? false;
  }

  /**
   * Takes the backfill lease for `owner` (one statement, so it holds behind a transaction pooler); false
   * when another sidecar holds it or the backfill is done.
   */
  async lockBackfill(owner: string): Promise<boolean> {
    const r = await this.control.query(BACKFILL_LEASE_SQL, [owner, BACKFILL_LEASE_SECONDS]);
    return (r.rowCount ?? 0) > 0;
  }

  async unlockBackfill(owner: string): Promise<void> {
    await this.control.query(BACKFILL_RELEASE_SQL, [owner]);
  }

  /** Databases that have a hint. */
  async hintedDatabases(): Promise<Set<string>> {
    const r = await this.control.query<{ db: string }>(KNOWN_DATABASES_SQL);
    return new Set(r.rows.map((row) => row.db));
  }

  /** A hint for a database that had none, from a look at its rows. */
  async backfill(bucket: string, counts: BucketCounts): Promise<void> {
    await this.control.query(BACKFILL_ROW_SQL, [
      bucket,
      databaseNameFor(bucket),
      counts.nextDue,
      counts.pending,
      counts.parked,
      counts.oldestPending,
    ]);
  }

  async markBackfilled(): Promise<void> {
    await this.control.query(BACKFILL_MARK_SQL);
  }

  /** Of `buckets`, those whose anti-entropy pass may be due. */
  async dueScans(buckets: readonly string[], limit: number): Promise<string[]> {
    const r = await this.control.query<{ bucket: string }>(SCAN_DUE_SQL, [buckets, limit]);
    return r.rows.map((row) => row.bucket);
  }

  /** The bucket's scan state needs no look before `inMs` from now. */
  async scanDueIn(bucket: string, inMs: number): Promise<void> {
    await this.control.query(SCAN_DUE_AT_SQL, [bucket, inMs / 1000]);
  }
}
