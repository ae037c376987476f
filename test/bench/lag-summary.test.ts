import { summarizeLags } from './scenarios/lag-summary';

describe('lag of acknowledged writes, in send order', () => {
  it('counts from the ack to the copy, and a copy that landed before the ack was seen as 0', () => {
    const s = summarizeLags(
      [
        { ackedAt: 1000, copiedAt: 1010 },
        { ackedAt: 1000, copiedAt: 995 },
        { ackedAt: 1000, copiedAt: 1030 },
      ],
      5000,
    );
    expect(s.copied).toBe(3);
    expect(s.uncopied).toBe(0);
    expect(s.lag.min).toBe(0);
    expect(s.lag.max).toBe(30);
  });

  it('leaves writes never copied out of the distribution, but not out of the late median', () => {
    const writes = Array.from({ length: 10 }, (_, i) => ({
      ackedAt: 1000 + i,
      copiedAt: i < 8 ? 1000 + i + 5 : undefined,
    }));
    const s = summarizeLags(writes, 9000);
    expect(s.copied).toBe(8);
    expect(s.uncopied).toBe(2);
    expect(s.lag.max).toBe(5);
    expect(s.earlyMedianMs).toBe(5);
    // The last fifth: the two writes still waiting at 9000.
    expect(s.lateMedianMs).toBeGreaterThan(7990);
  });
});
