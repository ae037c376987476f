import {
  baselineAt,
  decideReclaim,
  DEFAULT_RECLAIM_POLICY,
  reclaimPolicyFor,
  startUpState,
  type ReclaimSample,
} from '../../src/memory/reclaim-policy';

const MiB = 1024 * 1024;
const policy = {
  growthBytes: 16 * MiB,
  quietCpuShare: 0.01,
  collectAboveArrayBufferBytes: 16 * MiB,
};
/** A 5 s interval in which the process used `cpuMs` of CPU, having answered `requests` since start. */
const sample = (rssMiB: number, cpuMs: number, arrayBufferMiB = 0, requests = 0): ReclaimSample => ({
  rssBytes: rssMiB * MiB,
  arrayBufferBytes: arrayBufferMiB * MiB,
  cpuMicros: cpuMs * 1000,
  elapsedMicros: 5_000_000,
  requestsServed: requests,
});
const growth = (collectGarbage: boolean) => ({
  reclaim: true,
  cause: 'growth',
  collectGarbage,
  flushCode: false,
});

test('reclaims once the process is quiet and has grown by the threshold since the baseline', () => {
  const state = baselineAt(74 * MiB);
  expect(decideReclaim(policy, state, sample(90, 50))).toEqual(growth(false));
  expect(decideReclaim(policy, state, sample(140, 10))).toEqual(growth(false));
});

test('the first quiet moment after start-up reclaims with a collection that flushes code, grown or not; a busy start-up waits', () => {
  const started = startUpState(74 * MiB);
  const startUp = { reclaim: true, cause: 'start-up', collectGarbage: true, flushCode: true };
  expect(decideReclaim(policy, started, sample(74, 0))).toEqual(startUp);
  expect(decideReclaim(policy, started, sample(60, 50, 0))).toEqual(startUp);
  const busy = decideReclaim(policy, started, sample(75, 400));
  expect(busy).toEqual({ reclaim: false, state: started });
  // After it, the baseline rules: an idle proxy does not reclaim again.
  expect(decideReclaim(policy, baselineAt(71 * MiB), sample(74, 0)).reclaim).toBe(false);
});

test('code is flushed only while no request has been answered: after one, the code that ran is traffic’s too', () => {
  const started = startUpState(74 * MiB);
  expect(decideReclaim(policy, started, sample(74, 0, 0, 0))).toMatchObject({
    cause: 'start-up',
    flushCode: true,
  });
  expect(decideReclaim(policy, started, sample(90, 0, 0, 1))).toEqual({
    reclaim: true,
    cause: 'start-up',
    collectGarbage: true,
    flushCode: false,
  });
  // Past start-up, requests or not, growth never flushes.
  expect(decideReclaim(policy, baselineAt(74 * MiB), sample(140, 0, 0, 0))).toMatchObject({
    flushCode: false,
  });
});

test('not while the process works, however much it has grown', () => {
  const state = baselineAt(74 * MiB);
  expect(decideReclaim(policy, state, sample(170, 51)).reclaim).toBe(false);
  expect(decideReclaim(policy, state, sample(170, 2_000)).reclaim).toBe(false);
});

test('not when it has grown by less than the threshold: past start-up, an idle proxy never reclaims', () => {
  const state = baselineAt(74 * MiB);
  expect(decideReclaim(policy, state, sample(89.9, 0)).reclaim).toBe(false);
  expect(decideReclaim(policy, state, sample(74, 0)).reclaim).toBe(false);
});

test('growth counts from what the last reclaim left, so a reclaim that freed nothing is not repeated', () => {
  const after = baselineAt(120 * MiB);
  expect(decideReclaim(policy, after, sample(120, 0)).reclaim).toBe(false);
  expect(decideReclaim(policy, after, sample(135, 0)).reclaim).toBe(false);
  expect(decideReclaim(policy, after, sample(136, 0)).reclaim).toBe(true);
});

test('memory the process gave back by itself lowers the baseline', () => {
  const decision = decideReclaim(policy, baselineAt(120 * MiB), sample(100, 500));
  expect(decision).toEqual({ reclaim: false, state: baselineAt(100 * MiB) });
  if (decision.reclaim) throw new Error('unreachable');
  expect(decideReclaim(policy, decision.state, sample(116, 0)).reclaim).toBe(true);
});

test('after growth, garbage is collected first only when the Buffers V8 accounts reach the threshold', () => {
  const state = baselineAt(74 * MiB);
  expect(decideReclaim(policy, state, sample(140, 0, 16))).toEqual(growth(true));
  expect(decideReclaim(policy, state, { ...sample(140, 0), arrayBufferBytes: 16 * MiB - 1 })).toEqual(
    growth(false),
  );
  expect(decideReclaim(policy, state, sample(140, 0, 0))).toEqual(growth(false));
});

test('the default: 8 MiB of growth, 1 % of a core, 16 MiB of Buffers', () => {
  expect(DEFAULT_RECLAIM_POLICY).toEqual({ ...policy, growthBytes: 8 * MiB });
});

test('a larger memory spool raises the Buffers worth a collection: its live bodies are not garbage', () => {
  expect(reclaimPolicyFor(64 * MiB).collectAboveArrayBufferBytes).toBe(72 * MiB);
  expect(reclaimPolicyFor(0).collectAboveArrayBufferBytes).toBe(8 * MiB);
});
