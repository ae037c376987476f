/**
 * Which start() a background loop belongs to. stop() may give up on a loop still inside a query; that loop
 * must end at its next turn, and must not come back to life when a later start() clears `stopping`.
 */
export class LoopGeneration {
  private generation = 0;
  private stoppingNow = false;

  /** A new start: loops begun now get this token. */
  begin(): LoopToken {
    this.stoppingNow = false;
    const gen = ++this.generation;
    return {
      current: () => gen === this.generation && !this.stoppingNow,
      // Its own start's loop, or the one a stop() is draining (stop bumps the generation by one).
      draining: () => this.stoppingNow && gen === this.generation - 1,
    };
  }

  /** stop() begins: every loop's `current()` turns false, for good. */
  end(): void {
    this.stoppingNow = true;
    this.generation++;
  }

  get stopping(): boolean {
    return this.stoppingNow;
  }
}

export interface LoopToken {
  /** The loop belongs to the running start and no stop() began. */
  current(): boolean;
  /** A stop() of this loop's start is under way (the flush loop drains the queue then). */
  draining(): boolean;
}
