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
});
