import { peakRssCheck, type PhasePeak } from './memory-goal';
import { backlogChecks, backlogCoresNeeded } from './scenarios/backlog';
import { largeCpuCheck, type LargeCase } from './scenarios/large';
import type { DirectReplicationRun } from './scenarios/direct-replication';
import { lagOutOfReach, lagOutOfReachByCores, lagOutOfReachByDirect } from './scenarios/mirror-lag';
import { directCoreSecondsOf, smallGetCpuCheck, type SmallCase } from './scenarios/small';
import {
  MIRROR_HOP,
  writeCostCheck,
  type FloorCase,
  type WriteCostCase,
  type WriteCostRound,
} from './scenarios/write-cost';
import { checkMark, outOfReachBy, verdictOf } from './report';

describe('goals the machine puts out of reach, from figures of the same run', () => {
  describe('large transfers: ≤ 1 s of proxy CPU per GiB, every round against the node-hop round beside it', () => {
    const largeCase = (op: 'PUT' | 'GET', proxy: number[], nodeHop: number[]): LargeCase => ({
      backend: 'sink',
      op,
      size: 1024 ** 3,
      arms: {
        direct: proxy.map(() => ({ seconds: 1, mibPerSec: 1024 })),
        proxy: proxy.map((s) => ({ seconds: 1, mibPerSec: 1024, hopCpuPerGiB: s })),
        'node-hop': nodeHop.map((s) => ({ seconds: 1, mibPerSec: 1024, hopCpuPerGiB: s })),
      },
    });

    it('met when every round of every case is within', () => {
      const check = largeCpuCheck([
        largeCase('PUT', [0.9, 1], [1.2, 1.3]),
        largeCase('GET', [0.7, 0.8], [0.8, 0.9]),
      ]);
      expect(check.met).toBe(true);
      expect(check.measured).toBe('0.7 – 1 s/GiB over 4 rounds of 2 cases, 4 within; node-hop 0.8 – 1.3');
    });

    it('out of reach when node-hop missed in the same case and round as every miss of the proxy', () => {
      const check = largeCpuCheck([
        largeCase('PUT', [1.1, 0.9], [1.3, 0.95]),
        largeCase('GET', [0.7, 1.2], [0.8, 1.45]),
      ]);
      expect(check.met).toBe('out of reach');
      expect(check.measured).toMatch(
        /, 2 within; node-hop 0\.8 – 1\.45; every round above 1 s\/GiB \(2\) is out of reach for any Node hop/,
      );
    });

    it('names the rounds where node-hop stayed within: those are misses of the proxy', () => {
      // Round 2 of the PUT: the proxy above, node-hop within. The same figures in other rounds do not count.
      const check = largeCpuCheck([largeCase('PUT', [1.1, 1.05], [1.3, 0.95])]);
      expect(check.met).toBe(false);
      expect(check.measured).toMatch(
        /of the 2 rounds above 1 s\/GiB, 1 beside a node-hop round above it too \(out of reach for any Node hop\), 1 where node-hop stayed within: sink PUT 1 GiB round 2: 1\.05 \(node-hop 0\.95\)$/,
      );
    });

    it('a node-hop round that could not be measured puts nothing out of reach', () => {
      const check = largeCpuCheck([largeCase('GET', [1.2], [NaN])]);
      expect(check.met).toBe(false);
      expect(check.measured).toMatch(
        /1 where node-hop stayed within: sink GET 1 GiB round 1: 1\.2 \(node-hop n\/a\)$/,
      );
    });

    it('reports n/a without a proxy round', () => {
      expect(largeCpuCheck([]).met).toBeUndefined();
    });
  });

  it('lag at a rate: out of reach when RGW took fewer than two small PUTs per mirrored write directly', () => {
    expect(lagOutOfReach(200, 400)).toBeUndefined();
    expect(lagOutOfReach(200, 1200)).toBeUndefined();
    expect(lagOutOfReach(200, 399)).toMatch(/400 PUT\/s .* at most 399 small PUT\/s/);
    expect(lagOutOfReach(200, NaN)).toBeUndefined();
  });

  it('lag by CPU: two PUTs and a HEAD per mirrored write at what RGW cost straight, against the cores', () => {
    // 4.5 ms per PUT and 2.5 ms per GET: 200 × (9 + 2.5) ms = 2.3 cores.
    expect(lagOutOfReachByCores(200, { putCoreSeconds: 0.0045, getCoreSeconds: 0.0025 }, 2)).toMatch(
      /out of reach on 2 cores: .*400 PUTs and 200 HEADs.* 4\.5 ms.* 2\.5 ms.* keeps 2\.3 cores busy/,
    );
    expect(lagOutOfReachByCores(200, { putCoreSeconds: 0.004, getCoreSeconds: 0.002 }, 2)).toBeUndefined();
    expect(lagOutOfReachByCores(200, { putCoreSeconds: NaN, getCoreSeconds: 0.002 }, 2)).toBeUndefined();
  });

  it('lag by the direct arm: replication with no sidecar missing the goal at the same rate puts it out of reach', () => {
    const run = (p99: number, uncopied = 0, rate = 200): DirectReplicationRun => ({
      rate,
      workers: 16,
      sent: 4000,
      failed: 0,
      copied: 4000 - uncopied,
      uncopied,
      lag: { n: 4000, min: 1, p50: p99 / 2, p90: p99, p99, max: p99 },
      earlyMedianMs: 1,
      lateMedianMs: 1,
      copiesPerSec: 122.1,
      cores: { machine: 1.93, backend: 1.76, client: 0.15 },
    });
    expect(lagOutOfReachByDirect(run(15_173), 200)).toMatch(
      /out of reach here: replication with no sidecar .*at 200 PUT\/s in this run\) misses the goal itself, at 122 copies\/s$/,
    );
    expect(lagOutOfReachByDirect(run(72), 200)).toBeUndefined();
    expect(lagOutOfReachByDirect(run(72, 3), 200)).toMatch(/122 copies\/s with 3 not copied$/);
    expect(lagOutOfReachByDirect(run(15_173, 0, 100), 200)).toBeUndefined();
  });

  it('a direct arm’s CPU per request: its cheapest round, machine cores over rate', () => {
    const round = (rate: number, machineCores?: number) => ({
      rate,
      p50: 1,
      p99: 1,
      errors: 0,
      ...(machineCores !== undefined ? { machineCores } : {}),
    });
    const c: SmallCase = {
      backend: 'ceph',
      op: 'PUT',
      concurrency: 16,
      arms: { direct: [round(400, 2), round(500, 1.5), round(300)] },
    };
    expect(directCoreSecondsOf(c)).toBeCloseTo(0.003);
    expect(directCoreSecondsOf({ ...c, arms: { direct: [round(300)] } })).toBeNaN();
  });

  it('backlog: 80 % of the direct writes’ CPU and 90 % of the app’s', () => {
    expect(backlogCoresNeeded(1, 1)).toBeCloseTo(1.7);
    expect(backlogCoresNeeded(2, 0)).toBeCloseTo(1.8);
    expect(backlogCoresNeeded(0, 2)).toBeCloseTo(1.6);
  });

  describe('backlog: two goals that need more cores together than the machine has', () => {
    // 0.9 × 1.2 + 0.8 × 1.75 = 2.48 cores of 2.
    const tight = { appAloneCores: 1.2, directWriteCores: 1.75, cores: 2 };

    it('a row missed while the other is met is out of reach; the met one stays met', () => {
      const [drain, app] = backlogChecks({ drainVsDirect: 0.6, copyVsDirect: 0.65, appRatio: 0.95 }, tight);
      expect(drain!.met).toBe('out of reach');
      expect(drain!.measured).toMatch(
        /; out of reach here with the other goal met: .* need 2\.48 of 2 cores$/,
      );
      expect(app!.met).toBe(true);
      const [drain2, app2] = backlogChecks({ drainVsDirect: 0.85, copyVsDirect: 0.9, appRatio: 0.3 }, tight);
      expect(drain2!.met).toBe(true);
      expect(app2!.met).toBe('out of reach');
    });

    it('both missed: the machine explains one at most, so neither is out of reach', () => {
      const checks = backlogChecks({ drainVsDirect: 0.6, copyVsDirect: 0.65, appRatio: 0.3 }, tight);
      for (const check of checks) {
        expect(check.met).toBe(false);
        expect(check.measured).toMatch(/at least one miss is the proxy’s own$/);
      }
    });

    it('on a machine with the cores for both, a miss is the proxy’s own', () => {
      const [drain] = backlogChecks(
        { drainVsDirect: 0.6, copyVsDirect: 0.65, appRatio: 0.95 },
        { ...tight, cores: 4 },
      );
      expect(drain!.met).toBe(false);
      expect(drain!.measured).toBe('60.0 % including backoff waits, 65.0 % while copying');
    });
  });

  it('peak RSS: a scenario where node-hop itself peaked above 120 MB is out of reach; one that node-hop kept within is a miss', () => {
    const mb = (process: string, phase: string, n: number): PhasePeak => ({ process, phase, bytes: n * 1e6 });
    const peaks = [
      mb('proxy-sink', 'small', 118),
      mb('proxy-sink', 'large', 199),
      mb('proxy-ceph', 'large', 191),
      mb('proxy-ceph', 'inventory', 161),
      mb('node-hop-sink', 'small', 109),
      mb('node-hop-sink', 'large', 132),
      mb('node-hop-ceph', 'large', 119),
      mb('node-hop-ceph', 'inventory', 125),
      mb('proxy-sink-no-background', 'large', 500),
      { process: 'proxy-ceph', phase: 'scan', bytes: NaN },
    ];
    const check = peakRssCheck(peaks)!;
    expect(check.met).toBe(false);
    expect(check.measured).toBe(
      'highest 199 MB (proxy-sink in large); 1 of 4 scenario peaks within; out of reach for any Node hop in 2, ' +
        'where node-hop itself peaked above 120 MB: proxy-sink in large (node-hop 132), proxy-ceph in inventory (node-hop 125)',
    );
    expect(peakRssCheck([mb('proxy-ceph', 'small', 120), mb('node-hop-ceph', 'small', 130)])).toMatchObject({
      met: true,
      measured: 'highest 120 MB (proxy-ceph in small); 1 of 1 scenario peaks within',
    });
    expect(peakRssCheck([mb('node-hop-ceph', 'small', 130)])).toBeUndefined();
    // Every peak above 120 MB beside a node-hop peak above it too: the machine's, not the proxy's.
    const beyond = peakRssCheck([
      mb('proxy-sink', 'large', 150),
      mb('node-hop-sink', 'large', 133),
      mb('proxy-ceph', 'small', 110),
      mb('node-hop-ceph', 'small', 98),
    ])!;
    expect(beyond.met).toBe('out of reach');
    expect(checkMark(beyond.met)).toBe('out of reach here');
    // A peak above 120 MB with no node-hop beside it is the proxy's own miss.
    expect(peakRssCheck([mb('proxy-sink', 'large', 150)])!.met).toBe(false);
  });

  it('the verdict of a goal judged case by case', () => {
    expect(verdictOf(0, 0)).toBe(true);
    expect(verdictOf(2, 2)).toBe('out of reach');
    expect(verdictOf(2, 1)).toBe(false);
    expect(checkMark(false)).toBe('**not met**');
  });

  it('a missed goal with a floor’s reason: the reason appended and the verdict out of reach; nothing else changes', () => {
    const check = { goal: 'lag', measured: 'p99 3 s', met: false };
    expect(outOfReachBy(check, ': out of reach here: direct misses it')).toEqual({
      goal: 'lag',
      measured: 'p99 3 s: out of reach here: direct misses it',
      met: 'out of reach',
    });
    expect(outOfReachBy(check, undefined)).toBe(check);
    expect(outOfReachBy(check, '')).toBe(check);
    const met = { goal: 'lag', measured: 'p99 0.5 s', met: true };
    expect(outOfReachBy(met, ': out of reach here')).toBe(met);
    const undecided = { goal: 'lag', measured: 'n/a', met: undefined };
    expect(outOfReachBy(undecided, ': out of reach here')).toBe(undecided);
  });

  describe('small GET: ≤ 150 µs of proxy CPU at every concurrency, against node-hop at the same one', () => {
    // One round per arm.
    const round = (cpuUsPerRequest: number) => ({ rate: 1000, p50: 1, p99: 1, errors: 0, cpuUsPerRequest });
    const get = (concurrency: number, proxy: number, nodeHop?: number): SmallCase => ({
      backend: 'sink',
      op: 'GET',
      concurrency,
      arms: {
        direct: [round(0)],
        proxy: [round(proxy)],
        ...(nodeHop !== undefined ? { 'node-hop': [round(nodeHop)] } : {}),
      },
    });

    it('met when every concurrency is within', () => {
      const check = smallGetCpuCheck([get(16, 140, 90), get(64, 150, 80)])!;
      expect(check.met).toBe(true);
      expect(check.measured).toBe('proxy µs/req c=16 140, c=64 150; node-hop c=16 90, c=64 80');
    });

    it('out of reach when node-hop alone is above 150 wherever the proxy is', () => {
      const check = smallGetCpuCheck([get(1, 340, 230), get(16, 130, 90)])!;
      expect(check.met).toBe('out of reach');
      expect(check.measured).toMatch(/; out of reach for any Node hop at c=1 \(node-hop alone above 150\)$/);
    });

    it('not met when the proxy misses where node-hop stayed within, or was not measured', () => {
      expect(smallGetCpuCheck([get(1, 340, 230), get(16, 170, 100)])!.met).toBe(false);
      expect(smallGetCpuCheck([get(16, 170)])!.met).toBe(false);
      // node-hop above 150 only where the proxy stayed within explains nothing.
      expect(smallGetCpuCheck([get(1, 140, 160), get(16, 170, 100)])!.met).toBe(false);
    });

    it('no row without proxied GETs on the sink', () => {
      expect(smallGetCpuCheck([{ ...get(16, 170), backend: 'ceph' }])).toBeUndefined();
    });
  });

  describe('mirrored write: ≤ 1 ms of proxy CPU, against the floor under any Node sidecar in the same case', () => {
    const writeRound = (ms: number): WriteCostRound => ({
      answeringMs: ms / 2,
      afterMs: ms / 2,
      systemShare: 0.1,
      postgresMs: 0.4,
      putsPerSecond: 1000,
      failed: 0,
      mirrored: 1000,
      loopDelayP99Ms: 1,
      loopDelayMaxMs: 1,
    });
    const arm = (backend: 'sink' | 'ceph', armName: string, ms: number): WriteCostCase => ({
      backend,
      concurrency: 16,
      arm: armName,
      rounds: [writeRound(ms)],
    });
    // The copy's parts: a HEAD and a PUT of 0.2 ms each, the copy function 0.5, a statement 0.1.
    const floor = (backend: 'sink' | 'ceph'): FloorCase => ({
      backend,
      concurrency: 16,
      rounds: [{ headMs: 0.2, putMs: 0.2, copyMs: 0.5, settleMs: 0.1 }],
    });
    const hop =
      (ms: Partial<Record<'sink' | 'ceph', number>>) =>
      (backend: 'sink' | 'ceph', concurrency: number): number | undefined =>
        concurrency === 16 ? ms[backend] : undefined;

    it('out of reach where node-hop’s PUT, a HEAD, a PUT and two statements already pass 1 ms; met elsewhere', () => {
      const check = writeCostCheck(
        [
          arm('sink', 'proxy', 0.6),
          arm('sink', 'no-background', 0.2),
          arm('ceph', 'proxy', 1.5),
          arm('ceph', 'no-background', 0.5),
        ],
        [floor('sink'), floor('ceph')],
        hop({ sink: 0.1, ceph: 0.45 }),
      )!;
      expect(check.met).toBe('out of reach');
      // ceph: 0.45 + 0.2 + 0.2 + 2 × 0.1 = 1.05.
      expect(check.measured).toMatch(
        /^sink c=16 0\.6 ms .*ceph c=16 1\.5 ms .*floor 1\.1; any Node sidecar 1\.05 \(node-hop's PUT, a signed HEAD and PUT, two statements\): out of reach here\)$/,
      );
    });

    it('not met when the miss is above the proxy’s own floor but not above any Node sidecar’s', () => {
      // The data path (0.5) and the copy function (0.5) pass 1 ms; node-hop (0.3) with the copy's parts do not.
      const check = writeCostCheck(
        [arm('ceph', 'proxy', 1.5), arm('ceph', 'no-background', 0.5)],
        [floor('ceph')],
        hop({ ceph: 0.3 }),
      )!;
      expect(check.met).toBe(false);
      expect(check.measured).toMatch(/floor 1\.1; any Node sidecar 0\.9 \(/);
      expect(check.measured).not.toMatch(/out of reach/);
    });

    it('out of reach where the mirroring hop, in the same case and loop, passes 1 ms', () => {
      // The parts timed apart stay under 1 ms (0.3 + 0.2 + 0.2 + 2 × 0.1 = 0.9); the whole hop does not.
      const check = writeCostCheck(
        [
          arm('ceph', 'proxy', 1.5),
          arm('ceph', 'no-background', 0.5),
          arm('ceph', MIRROR_HOP, 1.2),
          arm('sink', MIRROR_HOP, 0.4),
        ],
        [floor('ceph')],
        hop({ ceph: 0.3 }),
      )!;
      expect(check.met).toBe('out of reach');
      expect(check.measured).toMatch(
        /any Node sidecar 0\.9 \(.*\); the mirroring hop 1\.2 at 1,000 PUT\/s \(the proxy 1,000\): out of reach here\)$/,
      );
    });

    it('not met where the mirroring hop stays within 1 ms, or runs only on another backend', () => {
      const proxied = [arm('ceph', 'proxy', 1.5), arm('ceph', 'no-background', 0.5)];
      const within = writeCostCheck(
        [...proxied, arm('ceph', MIRROR_HOP, 0.95)],
        [floor('ceph')],
        hop({ ceph: 0.3 }),
      )!;
      expect(within.met).toBe(false);
      expect(within.measured).toMatch(/the mirroring hop 0\.95 at 1,000 PUT\/s \(the proxy 1,000\)\)$/);
      expect(writeCostCheck([...proxied, arm('sink', MIRROR_HOP, 2)], [floor('ceph')])!.met).toBe(false);
    });

    it('not met without node-hop’s figures or a floor: nothing shows the miss is the machine’s', () => {
      const proxied = [arm('ceph', 'proxy', 1.5), arm('ceph', 'no-background', 0.5)];
      expect(writeCostCheck(proxied, [floor('ceph')])!.met).toBe(false);
      expect(writeCostCheck(proxied, [floor('ceph')], hop({ sink: 2 }))!.met).toBe(false);
      expect(writeCostCheck([arm('ceph', 'proxy', 1.5)], [], hop({ ceph: 2 }))!.met).toBe(false);
      expect(writeCostCheck([arm('ceph', 'no-background', 0.5)], [])).toBeUndefined();
    });
  });
});
