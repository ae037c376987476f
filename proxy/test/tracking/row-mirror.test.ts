import type { ClaimedRow } from '../../src/inventory/repository';
import { createMetrics } from '../../src/metrics';
import type { MirrorResult } from '../../src/mirror/copier';
import { parseDeletePolicy, type DeletePolicy } from '../../src/mirror/delete-policy';
import type { CopyKey, CopyKeyOptions } from '../../src/tracking/key-copier';
import { CatchUpSlots } from '../../src/tracking/catch-up-slots';
import { createLogThrottle } from '../../src/tracking/log-throttle';
import { ReplicationStatuses } from '../../src/tracking/replication-status';
import { RowMirror, type HeldRow, type RowMirrorDeps } from '../../src/tracking/row-mirror';
import { SettleRetry } from '../../src/tracking/settle-retry';
import { recordingLogger } from './fakes';

const row: ClaimedRow = {
  id: 7,
  path: 'k',
  generation: '3',
  attempts: 0,
  deleted: false,
  deleted_for_seconds: null,
  catching_up: false,
};
const nextRow: ClaimedRow = { ...row, id: 8, path: 'k2', generation: '1' };
const copied: MirrorResult = { exists: true, size: 1, etag: '"e"', mirrorEtag: '"e"' } as MirrorResult;

function setup(
  copy: CopyKey,
  opts: {
    claimed?: ClaimedRow;
    parked?: boolean;
    policy?: DeletePolicy;
    /** What the completion's claim finds: a next row (default), none, a lost compare-and-set, an error. */
    chained?: 'next' | 'none' | 'lost' | 'fails';
    /** The row the completion's claim leases (default nextRow). */
    next?: ClaimedRow;
    catchUp?: CatchUpSlots;
  } = {},
) {
  const calls: string[] = [];
  const metrics = createMetrics();
  const { logger, lines } = recordingLogger();
  let stop = new AbortController();
  const deps: RowMirrorDeps = {
    inventory: {
      claim: async (_b, _l, _s, claim) => {
        calls.push(claim?.freshOnly ? 'claim fresh only' : 'claim');
        return 'claimed' in opts ? opts.claimed : row;
      },
      renewLease: async () => void calls.push('renew'),
      completeOrRelease: async (_b, r, owner, result) => {
        calls.push(
          `complete ${r.id} gen ${r.generation} by ${owner} exists=${result.exists}` +
            (!result.exists && result.kept ? ' kept' : ''),
        );
        return true;
      },
      completeAndClaimNext: async (_b, r, lease, seconds, result, claim) => {
        calls.push(
          `complete ${r.id} gen ${r.generation} by ${lease.owner} exists=${result.exists}, claim next for ${seconds} s` +
            (claim?.freshOnly ? ' (fresh only)' : ''),
        );
        if (opts.chained === 'fails') throw new Error('ECONNRESET');
        if (opts.chained === 'lost') return { completed: false, next: undefined };
        return { completed: true, next: opts.chained === 'none' ? undefined : (opts.next ?? nextRow) };
      },
      deferDelete: async (_b, r, owner, delay) =>
        void calls.push(`defer ${r.id} gen ${r.generation} by ${owner} delay ${delay}`),
      release: async (_b, id, owner) => void calls.push(`release ${id} by ${owner}`),
      fail: async (_b, id, _o, f) => {
        // Backoff is jittered between half and all of the ceiling (1 s for a first failure).
        const retry = f.retryInMs >= 500 && f.retryInMs <= 1000 ? 'within 1 s' : String(f.retryInMs);
        calls.push(`fail ${id} retry ${retry} max ${f.maxAttempts}`);
        return { parked: opts.parked ?? false };
      },
    },
    copyKey: () => copy,
    deletePolicy: opts.policy ?? { kind: 'mirror' },
    lease: () => ({ owner: 'me:1', ownerPrefix: 'me:' }),
    leaseSeconds: 120,
    retry: { baseMs: 1_000, maxMs: 300_000 },
    maxAttempts: 15,
    stopSignal: () => stop.signal,
    settle: new SettleRetry(),
    metrics,
    logger,
    throttle: createLogThrottle(),
    ...(opts.catchUp ? { catchUp: opts.catchUp } : {}),
  };
  return {
    mirror: new RowMirror(deps),
    calls,
    lines,
    metrics,
    abort: () => stop.abort(),
    renew: () => (stop = new AbortController()),
  };
}

test('nothing pending: no copy, false', async () => {
  const { mirror, calls } = setup(async () => copied, { claimed: undefined });
  expect(await mirror.mirrorOne('b')).toEqual({ kind: 'none' });
  expect(calls).toEqual(['claim']);
});

test('a copy completes the row with the generation it claimed (compare-and-set)', async () => {
  const { mirror, calls } = setup(async () => copied);
  expect(await mirror.mirrorOne('b')).toEqual({ kind: 'settled' });
  expect(calls).toEqual(['claim', 'complete 7 gen 3 by me:1 exists=true']);
  expect(mirror.inFlight).toBe(0);
});

test('a backlog row (its copy failed before, or it waited long) is copied as catching up (it gives way to the app); a fresh write is not', async () => {
  for (const [attempts, catchingUp] of [
    [0, false],
    [1, true],
    [5, true],
    [0, true], // due longer than a fresh write ever is: a mirror that hung failed no copy of it
  ] as const) {
    const asked: (boolean | undefined)[] = [];
    const { mirror } = setup(
      async (_b, _k, opts) => {
        asked.push(opts?.catchingUp);
        return copied;
      },
      { claimed: { ...row, attempts, catching_up: catchingUp } },
    );
    await mirror.mirrorOne('b');
    expect(asked).toEqual([catchingUp]);
  }
});

describe('a completion that claims the next row (claimNext)', () => {
  test('completes with the generation copied and leases the next row to this worker, which copies it without a claim', async () => {
    const { mirror, calls } = setup(async () => copied);
    let claimed = 0;
    const turn = await mirror.mirrorOne('b', { claimNext: () => true, onClaimed: () => claimed++ });
    expect(turn).toEqual({ kind: 'next', held: { row: nextRow, owner: 'me:1' } });
    expect(calls).toEqual(['claim', 'complete 7 gen 3 by me:1 exists=true, claim next for 120 s']);
    expect(claimed).toBe(2); // its own claim, and the completion's: a ramp-up wakes one more for each
    calls.length = 0;
    expect(await mirror.mirrorOne('b', { held: { row: nextRow, owner: 'me:0' } })).toEqual({
      kind: 'settled',
    });
    // No claim; completed as the owner that holds the lease.
    expect(calls).toEqual(['complete 8 gen 1 by me:0 exists=true']);
  });

  test('nothing left to claim: drained', async () => {
    const { mirror } = setup(async () => copied, { chained: 'none' });
    expect(await mirror.mirrorOne('b', { claimNext: () => true })).toEqual({ kind: 'drained' });
  });

  test('a lost compare-and-set claims nothing: the bucket is looked at again', async () => {
    const { mirror } = setup(async () => copied, { chained: 'lost' });
    expect(await mirror.mirrorOne('b', { claimNext: () => true })).toEqual({ kind: 'settled' });
  });

  test('the statement fails: the completion alone is kept for Postgres to take, never a claim', async () => {
    const { mirror, calls } = setup(async () => copied, { chained: 'fails' });
    expect(await mirror.mirrorOne('b', { claimNext: () => true })).toEqual({ kind: 'settled' });
    expect(calls).toEqual([
      'claim',
      'complete 7 gen 3 by me:1 exists=true, claim next for 120 s',
      'complete 7 gen 3 by me:1 exists=true',
    ]);
  });

  test('a held row is given back as the owner that holds it', async () => {
    const { mirror, calls } = setup(async () => copied);
    await mirror.giveBack('b', { row: nextRow, owner: 'me:0' });
    expect(calls).toEqual(['release 8 by me:0']);
  });
});

test('a failed copy records the attempt with its backoff; the last allowed attempt parks, counted and logged', async () => {
  const err = Object.assign(new Error('mirror down'), { name: 'ServiceUnavailable' });
  const { mirror, calls, lines, metrics } = setup(
    async () => {
      throw err;
    },
    { parked: true },
  );
  await mirror.mirrorOne('b');
  expect(calls).toEqual(['claim', 'fail 7 retry within 1 s max 15']);
  expect(lines.some(([level, message]) => level === 'error' && /parked/.test(message))).toBe(true);
  expect(await metrics.registry.getSingleMetricAsString('s3mirror_mirror_parked_total')).toMatch(
    /reason="ServiceUnavailable"} 1/,
  );
});

test('a copy cut short by stop() releases the row without counting an attempt', async () => {
  let fail!: (e: Error) => void;
  const { mirror, calls, abort } = setup(() => new Promise<MirrorResult>((_r, rej) => (fail = rej)));
  const one = mirror.mirrorOne('b');
  await new Promise((r) => setTimeout(r, 5));
  expect(mirror.inFlight).toBe(1);
  abort();
  fail(new Error('aborted'));
  await one;
  expect(calls).toEqual(['claim', 'release 7 by me:1']);
});

test('Postgres gone at settle time: the update is kept and applied when it returns', async () => {
  const settle = new SettleRetry();
  let up = false;
  const { mirror, calls } = setup(async () => copied);
  // Replace completeOrRelease with one that fails until Postgres is "up".
  const deps = (mirror as unknown as { deps: RowMirrorDeps }).deps;
  (deps as { settle: SettleRetry }).settle = settle;
  deps.inventory.completeOrRelease = async () => {
    if (!up) throw new Error('ECONNREFUSED');
    calls.push('completed later');
    return true;
  };
  await mirror.mirrorOne('b');
  expect(settle.size).toBe(1);
  up = true;
  await settle.retry(() => false);
  expect(calls).toEqual(['claim', 'completed later']);
  expect(settle.size).toBe(0);
});

describe('the delete policy at claim and settle', () => {
  const policy = (text: string): DeletePolicy => {
    const p = parseDeletePolicy(text);
    if ('error' in p) throw new Error(p.error);
    return p;
  };
  /** A copier that sees main without the key: it deletes on the mirror unless told to keep its copy. */
  function gone(asked: boolean[]) {
    return async (_b: string, _k: string, opts?: CopyKeyOptions): Promise<MirrorResult> => {
      asked.push(opts?.keepMissing === true);
      return opts?.keepMissing ? { exists: false, kept: true } : { exists: false };
    };
  }
  const deletedRow = (forSeconds: number | null): ClaimedRow => ({
    ...row,
    deleted: true,
    deleted_for_seconds: forSeconds,
  });

  test('mirror: the copier may delete on the mirror; the row completes as an ordinary delete', async () => {
    const asked: boolean[] = [];
    const { mirror, calls, metrics } = setup(gone(asked), {
      claimed: deletedRow(0),
      policy: policy('mirror'),
    });
    await mirror.mirrorOne('b');
    expect(asked).toEqual([false]);
    expect(calls).toEqual(['claim', 'complete 7 gen 3 by me:1 exists=false']);
    expect(await metrics.registry.getSingleMetricAsString('s3mirror_mirror_operations_total')).toMatch(
      /action="delete",result="success"} 1/,
    );
  });

  test('keep: the mirror keeps its copy; the row completes as deleted and kept, counted as keep', async () => {
    const asked: boolean[] = [];
    const { mirror, calls, metrics } = setup(gone(asked), {
      claimed: deletedRow(1e6),
      policy: policy('keep'),
    });
    await mirror.mirrorOne('b');
    expect(asked).toEqual([true]);
    expect(calls).toEqual(['claim', 'complete 7 gen 3 by me:1 exists=false kept']);
    const ops = await metrics.registry.getSingleMetricAsString('s3mirror_mirror_operations_total');
    expect(ops).toMatch(/action="keep",result="success"} 1/);
    expect(ops).not.toMatch(/action="delete"/);
  });

  test('keep: a put row whose key main no longer holds is kept too (a delete behind the proxy)', async () => {
    const asked: boolean[] = [];
    const { mirror, calls } = setup(gone(asked), { policy: policy('keep') });
    await mirror.mirrorOne('b');
    expect(asked).toEqual([true]);
    expect(calls).toEqual(['claim', 'complete 7 gen 3 by me:1 exists=false kept']);
  });

  test('delay: a delete younger than the delay is deferred, never deleted on the mirror', async () => {
    const asked: boolean[] = [];
    const { mirror, calls, metrics } = setup(gone(asked), {
      claimed: deletedRow(5),
      policy: policy('delay:1m'),
    });
    await mirror.mirrorOne('b');
    expect(asked).toEqual([true]);
    expect(calls).toEqual(['claim', 'defer 7 gen 3 by me:1 delay 60']);
    expect(await metrics.registry.getSingleMetricAsString('s3mirror_mirror_operations_total')).not.toMatch(
      /action="(delete|keep)"/,
    );
  });

  test('delay: a put row whose key main no longer holds starts its delay now', async () => {
    const asked: boolean[] = [];
    const { mirror, calls } = setup(gone(asked), { policy: policy('delay:1h') });
    await mirror.mirrorOne('b');
    expect(asked).toEqual([true]);
    expect(calls).toEqual(['claim', 'defer 7 gen 3 by me:1 delay 3600']);
  });

  test('delay: a delete as old as the delay reaches the mirror', async () => {
    const asked: boolean[] = [];
    const { mirror, calls } = setup(gone(asked), { claimed: deletedRow(60), policy: policy('delay:1m') });
    await mirror.mirrorOne('b');
    expect(asked).toEqual([false]);
    expect(calls).toEqual(['claim', 'complete 7 gen 3 by me:1 exists=false']);
  });

  test('a delete recorded under keep stays kept when a sidecar under mirror or delay copies it', async () => {
    for (const text of ['mirror', 'delay:1s']) {
      const asked: boolean[] = [];
      const { mirror, calls } = setup(gone(asked), {
        claimed: { ...deletedRow(1e6), delete_kept: true },
        policy: policy(text),
      });
      await mirror.mirrorOne('b');
      expect(asked).toEqual([true]);
      expect(calls).toEqual(['claim', 'complete 7 gen 3 by me:1 exists=false kept']);
    }
  });

  test('delay: a deleted row whose key main holds again is copied (the delete was cancelled)', async () => {
    const { mirror, calls } = setup(async () => copied, {
      claimed: deletedRow(1),
      policy: policy('delay:1h'),
    });
    await mirror.mirrorOne('b');
    expect(calls).toEqual(['claim', 'complete 7 gen 3 by me:1 exists=true']);
  });
});

test('replication status: COMPLETED only when the compare-and-set won, FAILED when parked', async () => {
  const statuses = new ReplicationStatuses();
  const done = setup(async () => copied);
  const deps = (done.mirror as unknown as { deps: RowMirrorDeps }).deps;
  deps.statuses = statuses;
  statuses.written('b', 'k', 'put');
  await done.mirror.mirrorOne('b');
  expect(statuses.get('b', 'k')).toBe('COMPLETED');

  statuses.written('b', 'k', 'put');
  deps.inventory.completeOrRelease = async () => false; // a newer write (another sidecar's) came meanwhile
  await done.mirror.mirrorOne('b');
  expect(statuses.get('b', 'k')).toBe('PENDING');

  const parked = setup(
    async () => {
      throw new Error('mirror down');
    },
    { parked: true },
  );
  (parked.mirror as unknown as { deps: RowMirrorDeps }).deps.statuses = statuses;
  await parked.mirror.mirrorOne('b');
  expect(statuses.get('b', 'k')).toBe('FAILED');
});

describe('catch-up slots: workers beyond the limit claim fresh rows only', () => {
  const failedRow: ClaimedRow = { ...row, attempts: 2, catching_up: true };
  const failedNext: ClaimedRow = { ...nextRow, attempts: 1, catching_up: true };
  /** A backlog's row no copy of which failed (the mirror hung): due longer than a fresh write ever is. */
  const waitedRow: ClaimedRow = { ...row, catching_up: true };

  test('with every slot taken the claim asks for fresh rows only, and finding none is held back, not "none" (the hint stays due)', async () => {
    const catchUp = new CatchUpSlots(1);
    const other = catchUp.tryTake()!;
    const { mirror, calls } = setup(async () => copied, { claimed: undefined, catchUp });
    expect(await mirror.mirrorOne('b')).toEqual({ kind: 'held-back' });
    expect(calls).toEqual(['claim fresh only']);
    other.release();
    calls.length = 0;
    expect(await mirror.mirrorOne('b')).toEqual({ kind: 'none' });
    expect(calls).toEqual(['claim']);
    expect(catchUp.inUse).toBe(0);
  });

  test('the completion is told whether its copy holds a catch-up slot', async () => {
    const catchUp = new CatchUpSlots(2);
    for (const claimed of [failedRow, waitedRow, row]) {
      const told: (boolean | undefined)[] = [];
      await setup(async () => copied, { claimed, catchUp }).mirror.mirrorOne('b', {
        claimNext: (holds) => {
          told.push(holds);
          return false;
        },
      });
      expect(told).toEqual([claimed.catching_up]);
    }
  });

  test('a catch-up row keeps its slot while it is copied; a fresh row gives it back before its copy', async () => {
    const catchUp = new CatchUpSlots(2);
    const during: number[] = [];
    const copy: CopyKey = async () => {
      during.push(catchUp.inUse);
      return copied;
    };
    await setup(copy, { claimed: failedRow, catchUp }).mirror.mirrorOne('b');
    await setup(copy, { claimed: waitedRow, catchUp }).mirror.mirrorOne('b');
    await setup(copy, { claimed: row, catchUp }).mirror.mirrorOne('b');
    expect(during).toEqual([1, 1, 0]);
    expect(catchUp.inUse).toBe(0);
  });

  test('a failed copy of a catch-up row gives its slot back', async () => {
    const catchUp = new CatchUpSlots(1);
    const { mirror } = setup(
      async () => {
        throw new Error('mirror down');
      },
      { claimed: failedRow, catchUp },
    );
    expect(await mirror.mirrorOne('b')).toEqual({ kind: 'settled' });
    expect(catchUp.inUse).toBe(0);
  });

  test('a completion passes the slot on with the next catch-up row; copying that row, or giving it back, frees it', async () => {
    const catchUp = new CatchUpSlots(1);
    const { mirror, calls } = setup(async () => copied, { claimed: failedRow, next: failedNext, catchUp });
    const turn = await mirror.mirrorOne('b', { claimNext: () => true });
    expect(turn.kind).toBe('next');
    expect(calls).toEqual(['claim', 'complete 7 gen 3 by me:1 exists=true, claim next for 120 s']);
    expect(catchUp.inUse).toBe(1);
    const held = (turn as { held: HeldRow }).held;
    expect(held.slot).toBeDefined();
    await mirror.giveBack('b', held);
    expect(catchUp.inUse).toBe(0);

    const again = await mirror.mirrorOne('b', { claimNext: () => true });
    expect(catchUp.inUse).toBe(1);
    expect(await mirror.mirrorOne('b', { held: (again as { held: HeldRow }).held })).toEqual({
      kind: 'settled',
    });
    expect(catchUp.inUse).toBe(0);
  });

  test('a completion passes the slot on with a next row that waited long, no copy of it failed', async () => {
    const catchUp = new CatchUpSlots(1);
    const waitedNext: ClaimedRow = { ...nextRow, catching_up: true };
    const { mirror } = setup(async () => copied, { claimed: row, next: waitedNext, catchUp });
    const turn = await mirror.mirrorOne('b', { claimNext: () => true });
    expect((turn as { held: HeldRow }).held.slot).toBeDefined();
    expect(catchUp.inUse).toBe(1);
  });

  test('the completion of a fresh row takes a free slot for its claim, and keeps none for a fresh next row', async () => {
    const catchUp = new CatchUpSlots(1);
    const { mirror, calls } = setup(async () => copied, { claimed: row, next: nextRow, catchUp });
    const turn = await mirror.mirrorOne('b', { claimNext: () => true });
    expect(calls).toEqual(['claim', 'complete 7 gen 3 by me:1 exists=true, claim next for 120 s']);
    expect((turn as { held: HeldRow }).held.slot).toBeUndefined();
    expect(catchUp.inUse).toBe(0);
  });

  test('the completion of a fresh row with every slot taken claims fresh rows only; finding none is held back, not drained', async () => {
    const catchUp = new CatchUpSlots(1);
    const other = catchUp.tryTake()!;
    const { mirror, calls } = setup(async () => copied, { claimed: row, chained: 'none', catchUp });
    expect(await mirror.mirrorOne('b', { claimNext: () => true })).toEqual({ kind: 'held-back' });
    expect(calls).toEqual([
      'claim fresh only',
      'complete 7 gen 3 by me:1 exists=true, claim next for 120 s (fresh only)',
    ]);
    other.release();
    expect(catchUp.inUse).toBe(0);
  });
});
