/**
 * The hint backfill runs under a lease named by this sidecar (one statement each to take and give back, so
 * it holds behind PgBouncer's transaction pooling, where a session advisory lock and its unlock can land in
 * different server sessions).
 */
import { backfillHints, type HintBackfillDeps } from '../../src/tracking/hint-backfill';
import { createLogger } from '../../src/log';

function deps(opts: { done?: boolean; leaseFree?: boolean }): { d: HintBackfillDeps; calls: string[] } {
  const calls: string[] = [];
  const d: HintBackfillDeps = {
    owner: 'me:1',
    logger: createLogger('error'),
    hints: {
      backfilled: async () => opts.done ?? false,
      lockBackfill: async (owner) => {
        calls.push(`lock ${owner}`);
        return opts.leaseFree ?? true;
      },
      unlockBackfill: async (owner) => {
        calls.push(`unlock ${owner}`);
      },
      hintedDatabases: async () => new Set(['s3_mirror_a']),
      backfill: async (bucket) => {
        calls.push(`backfill ${bucket}`);
      },
      markBackfilled: async () => {
        calls.push('done');
      },
    },
    pools: {
      listBucketDatabases: async () => [
        { db: 's3_mirror_a', bucket: 'a' },
        { db: 's3_mirror_b', bucket: 'b' },
      ],
      bucketOf: async (db) => db.slice('s3_mirror_'.length),
    },
    inventory: {
      hintCounts: async () => ({ nextDue: null, pending: 0, parked: 0, oldestPending: null }),
    },
  };
  return { d, calls };
}

describe('backfillHints', () => {
  it('fills in the databases without a hint under its own lease, then gives the lease back', async () => {
    const { d, calls } = deps({});
    await expect(backfillHints(d)).resolves.toBe(true);
    expect(calls).toEqual(['lock me:1', 'backfill b', 'done', 'unlock me:1']);
  });

  it('does nothing while another sidecar holds the lease', async () => {
    const { d, calls } = deps({ leaseFree: false });
    await expect(backfillHints(d)).resolves.toBe(false);
    expect(calls).toEqual(['lock me:1']);
  });

  it('takes no lease once done', async () => {
    const { d, calls } = deps({ done: true });
    await expect(backfillHints(d)).resolves.toBe(true);
    expect(calls).toEqual([]);
  });
});
