import type { RestWindow } from './idle-sampling';
import { idleRssCheck } from './scenarios/idle';

const at = (rssMB: number): RestWindow => ({
  cpuMsPerSecond: 1.5,
  rssMedianMB: rssMB,
  rssMaxMB: rssMB,
  anonMedianMB: rssMB / 4,
  fileMedianMB: (rssMB * 3) / 4,
});
const floors = { bare: at(42.2), libraries: at(56.6) };

describe('the idle goal (≤ 60 MB at rest), against the cheapest Node pass-through in the same run', () => {
  it('met when the proxy rests within it', () => {
    const check = idleRssCheck({ ...floors, proxy: at(59.9), nodeHop: at(58) });
    expect(check.met).toBe(true);
    expect(check.measured).not.toMatch(/out of reach/);
  });

  it('missed, and not out of reach, when node-hop rests within it', () => {
    const check = idleRssCheck({ ...floors, proxy: at(69.3), nodeHop: at(60) });
    expect(check.met).toBe(false);
    expect(check.measured).toMatch(/^69\.3 MB .*node-hop 60 MB/);
    expect(check.measured).not.toMatch(/out of reach/);
  });

  it('out of reach for any Node sidecar when node-hop itself rests above it', () => {
    const check = idleRssCheck({ ...floors, proxy: at(69.3), nodeHop: at(62.3) });
    expect(check.met).toBe('out of reach');
    expect(check.measured).toMatch(/node-hop 62\.3 MB.*: out of reach for any Node sidecar/);
  });

  it('undecided when the proxy could not be sampled', () => {
    expect(idleRssCheck({ ...floors, proxy: at(NaN), nodeHop: at(62.3) }).met).toBeUndefined();
  });
});
