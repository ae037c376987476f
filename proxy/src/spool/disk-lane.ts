/**
 * Runs the spool's file operations at most `slots` at a time. Node runs file I/O on libuv's thread pool
 * (4 threads by default), which DNS lookups for new connections to main need too: a stalled disk may hold
 * at most `slots` of those threads, never all of them.
 */
export class DiskLane {
  private running = 0;
  private readonly waiting: (() => void)[] = [];

  constructor(private readonly slots: number) {}

  async run<T>(op: () => Promise<T>): Promise<T> {
    if (this.running < this.slots) this.running++;
    else await new Promise<void>((resolve) => this.waiting.push(resolve)); // the slot is handed over
    try {
      return await op();
    } finally {
      const next = this.waiting.shift();
      if (next) next();
      else this.running--;
    }
  }

  /** Operations running or waiting. */
  get busy(): number {
    return this.running + this.waiting.length;
  }
}
