/**
 * Faults the soak injects during load. Each one is applied, held, and undone here; the soak measures what it
 * cost. Faults of main (5xx, slowness) are injected at an HTTP forwarder between the proxies and main, never
 * in product code.
 */
import type { HttpFaultProxy } from '../harness/http-fault-proxy';
import type { ServiceControls } from '../harness/services';

export type FaultName =
  | 'proxy-sigkill'
  | 'mirror-down'
  | 'postgres-down'
  | 'main-5xx'
  | 'main-slow'
  | 'journal-full'
  | 'spool-full';

export const ALL_FAULTS: FaultName[] = [
  'proxy-sigkill',
  'mirror-down',
  'postgres-down',
  'main-5xx',
  'main-slow',
  'journal-full',
  'spool-full',
];

export interface FaultContext {
  controls: Pick<
    ServiceControls,
    'stopMirrorGateway' | 'startMirrorGateway' | 'stopPostgres' | 'startPostgres'
  >;
  mainFaults: HttpFaultProxy;
  /** SIGKILLs the proxy in `slot` and starts it again with the same environment (ports, STATE_DIR). */
  killAndRestart(slot: number, downMs: number): Promise<void>;
  /** Stops the proxy in `slot` gracefully and starts it again with `env` added to its environment. */
  restartWith(slot: number, env: Record<string, string>): Promise<void>;
  sleep(ms: number): Promise<void>;
  log(line: string): void;
}

export const describeFault: Record<FaultName, string> = {
  'proxy-sigkill': 'SIGKILL of proxy 2 under load, restarted with the same STATE_DIR',
  'mirror-down': 'mirror gateway stopped, then started',
  'postgres-down': 'Postgres stopped, then started',
  'main-5xx': 'main answers 20% of requests with 500 or 503',
  'main-slow': 'main answers every request 1.5 s late',
  'journal-full':
    'proxy 2 with a 4 KiB journal (JOURNAL_MAX_BYTES) while Postgres is down: the journal fills',
  'spool-full': 'proxy 2 with a 4 KiB upload spool (SPOOL_MAX_BYTES): copies must read main',
};

/** Applies `fault` for `holdMs` and undoes it. */
export async function injectFault(fault: FaultName, holdMs: number, ctx: FaultContext): Promise<void> {
  switch (fault) {
    case 'proxy-sigkill':
      await ctx.killAndRestart(1, Math.min(holdMs, 3000));
      return;
    case 'mirror-down':
      await ctx.controls.stopMirrorGateway();
      try {
        await ctx.sleep(holdMs);
      } finally {
        await ctx.controls.startMirrorGateway();
      }
      return;
    case 'postgres-down':
      await ctx.controls.stopPostgres();
      try {
        await ctx.sleep(holdMs);
      } finally {
        await ctx.controls.startPostgres();
      }
      return;
    case 'main-5xx':
      ctx.mainFaults.setFaults({ errorRate: 0.2, statuses: [500, 503] });
      try {
        await ctx.sleep(holdMs);
      } finally {
        ctx.mainFaults.clearFaults();
      }
      return;
    case 'main-slow':
      ctx.mainFaults.setFaults({ delayMs: 1500 });
      try {
        await ctx.sleep(holdMs);
      } finally {
        ctx.mainFaults.clearFaults();
      }
      return;
    case 'journal-full':
      await ctx.restartWith(1, { JOURNAL_MAX_BYTES: '4096' });
      try {
        await ctx.controls.stopPostgres();
        try {
          await ctx.sleep(holdMs);
        } finally {
          await ctx.controls.startPostgres();
        }
      } finally {
        ctx.log('journal-full: Postgres back; proxy 2 keeps the small journal until the next restart');
      }
      return;
    case 'spool-full':
      // A full spool volume (ENOSPC) is proxy-spool.test.ts's; here the budget runs out under load.
      await ctx.restartWith(1, { SPOOL_MAX_BYTES: '4096' });
      await ctx.sleep(holdMs);
      ctx.log('spool-full: proxy 2 keeps the small spool until the next restart');
      return;
  }
}
