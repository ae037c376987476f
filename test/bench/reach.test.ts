import { peakRssCheck, type PhasePeak } from './memory-goal';
import { backlogCoresNeeded } from './scenarios/backlog';
import { lagOutOfReach } from './scenarios/mirror-lag';

describe('goals the machine puts out of reach, from figures of the same run', () => {
  it('lag at a rate: out of reach when RGW took fewer than two small PUTs per mirrored write directly', () => {
    expect(lagOutOfReach(200, 400)).toBeUndefined();
    expect(lagOutOfReach(200, 1200)).toBeUndefined();
    expect(lagOutOfReach(200, 399)).toMatch(/400 PUT\/s .* at most 399 small PUT\/s/);
    expect(lagOutOfReach(200, NaN)).toBeUndefined();
  });

  it('backlog: 80 % of the direct writes’ CPU and 90 % of the app’s', () => {
    expect(backlogCoresNeeded(1, 1)).toBeCloseTo(1.7);
    expect(backlogCoresNeeded(2, 0)).toBeCloseTo(1.8);
    expect(backlogCoresNeeded(0, 2)).toBeCloseTo(1.6);
  });

  it('peak RSS: a scenario where node-hop itself peaked above 120 MB is out of reach; the verdict stays the worst peak', () => {
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
  });
});
