/**
 * The CI version of `npm run soak` (issue 7): a few minutes of mixed load through two proxy processes that
 * share Postgres, with every fault injected once under load (SIGKILL of a proxy, mirror gateway down,
 * Postgres down, main answering 500/503, main slow, a full journal), each followed by a three-way check of
 * main, mirror and inventory. The long run is `npm run soak -- --minutes 30 --faults` (docs/soak.md).
 */
import { controls, loadServices } from '../harness/services';
import { ALL_FAULTS } from '../soak/faults';
import { renderReport } from '../soak/report';
import { runSoak, type SoakReport } from '../soak/soak';

let report: SoakReport;

beforeAll(async () => {
  const services = loadServices();
  report = await runSoak(
    { services, controls: controls(services) },
    {
      minutes: 1,
      faults: ALL_FAULTS,
      proxies: 2,
      workers: 3,
      keysPerBucket: 30,
      buckets: 2,
      faultSeconds: 5,
      settleSeconds: 3,
      sampleEveryMs: 2000,
      convergeTimeoutMs: 240_000,
    },
  );
  process.stderr.write(renderReport(report));
}, 900_000);

test('the workload ran every kind of operation through both proxies', () => {
  for (const kind of ['put', 'put-stream', 'get', 'copy', 'delete', 'delete-objects', 'multipart']) {
    expect({ kind, ran: (report.stats.ops[kind] ?? 0) > 0 }).toEqual({ kind, ran: true });
  }
  expect(new Set(report.slopes.map((s) => s.slot))).toEqual(new Set([0, 1]));
});

test('no app operation failed and every read was intact', () => {
  expect(report.stats.errorSamples).toEqual([]);
  expect(report.stats.errors).toBe(0);
  expect(report.stats.corrupt).toBe(0);
});

test('each fault really happened, and main, mirror and inventory were equal after it', () => {
  const byName = Object.fromEntries(report.faults.map((f) => [f.fault, f]));
  expect(Object.keys(byName).sort()).toEqual([...ALL_FAULTS].sort());
  for (const f of report.faults)
    expect({ fault: f.fault, diffs: f.diffs }).toEqual({ fault: f.fault, diffs: [] });
  // The faults had effects the proxies and the app saw (so the checks above were not vacuous).
  expect(byName['mirror-down']!.mirrorFailures).toBeGreaterThan(0);
  expect(byName['main-5xx']!.retriedOps).toBeGreaterThan(0);
  expect(byName['postgres-down']!.inventoryWriteFailures).toBeGreaterThan(0);
});

test('no proxy exited unless the soak killed it', () => {
  expect(report.unexpectedExits).toEqual([]);
});

test('at the end main, mirror and inventory are equal', () => {
  expect(report.finalDiffs).toEqual([]);
  expect(report.finalEqual).toBe(true);
});
