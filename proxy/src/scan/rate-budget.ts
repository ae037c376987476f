/** Spaces requests out to at most `perSecond` on average (the anti-entropy scan must never compete with apps). */
export class RateBudget {
  private next = 0;

  constructor(
    private readonly perSecond: number,
    private readonly now: () => number = Date.now,
    private readonly sleep: (ms: number) => Promise<void> = (ms) => new Promise((r) => setTimeout(r, ms)),
  ) {}

  /** Resolves when one more request fits the budget. */
  async take(): Promise<void> {
    const t = this.now();
    const at = Math.max(t, this.next);
    this.next = at + 1000 / this.perSecond;
    if (at > t) await this.sleep(at - t);
  }
}
