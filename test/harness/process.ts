import { spawn } from 'node:child_process';

import { killOnExit } from './cleanup';
import { recordCapture } from './secret-scan';
import { httpStatus, PollAborted, pollUntil } from './wait';

/**
 * A node script run as a child process with its whole output kept in memory, so tests can wait for
 * readiness and grep the logs (for example to prove that no secret was logged).
 */
export interface NodeProcess {
  pid: number;
  /** Resolves when the process exits (never rejects). */
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** Everything written to stdout and stderr so far, interleaved in arrival order. */
  output(): string;
  stdout(): string;
  stderr(): string;
  /** Polls `url` until it answers 200; fails early (with the output) if the process exits. */
  waitForHttp(url: string, opts?: { timeoutMs?: number }): Promise<void>;
  /** Sends a signal (default SIGTERM); no-op once exited. */
  kill(signal?: NodeJS.Signals): void;
  /** Sends SIGTERM, then SIGKILL after `graceMs`, and waits for the exit. */
  stop(graceMs?: number): Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

export interface SpawnNodeOptions {
  /** Environment of the child; `process.env` is NOT inherited unless you spread it in. PATH is added. */
  env: Record<string, string | undefined>;
  args?: string[];
  cwd?: string;
  /** Extra node flags, e.g. ['--enable-source-maps']. */
  nodeArgs?: string[];
  /** Also echo the child's output to this process's stderr (debugging). */
  echo?: boolean;
  /**
   * Start node through this command (e.g. `unshare … sh -c '… exec "$0" "$@"'`), which gets node's path and
   * arguments appended. It must exec node, so that the pid and signals are node's.
   */
  wrapper?: string[];
}

export function spawnNode(script: string, opts: SpawnNodeOptions): NodeProcess {
  const env: Record<string, string> = { PATH: process.env.PATH ?? '/usr/bin:/bin' };
  for (const [k, v] of Object.entries(opts.env)) if (v !== undefined) env[k] = v;
  const nodeArgv = [process.execPath, ...(opts.nodeArgs ?? []), script, ...(opts.args ?? [])];
  const [command, ...argv] = [...(opts.wrapper ?? []), ...nodeArgv] as [string, ...string[]];
  const child = spawn(command, argv, {
    env,
    cwd: opts.cwd,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  killOnExit(child);
  const all: string[] = [];
  const out: string[] = [];
  const err: string[] = [];
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
    all.push(chunk);
    out.push(chunk);
    if (opts.echo) process.stderr.write(chunk);
  });
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => {
    all.push(chunk);
    err.push(chunk);
    if (opts.echo) process.stderr.write(chunk);
  });
  let exitInfo: { code: number | null; signal: NodeJS.Signals | null } | undefined;
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
    child.once('error', (e) => {
      all.push(`[spawn error] ${e.message}\n`);
      exitInfo = { code: null, signal: null };
      resolve(exitInfo);
    });
    child.once('close', (code, signal) => {
      exitInfo = { code, signal };
      // Kept for the suite-wide secret scan in the global teardown.
      recordCapture(script, child.pid ?? -1, env, all.join(''));
      resolve(exitInfo);
    });
  });

  const kill = (signal: NodeJS.Signals = 'SIGTERM'): void => {
    if (exitInfo === undefined && child.exitCode === null && child.signalCode === null) child.kill(signal);
  };

  return {
    pid: child.pid ?? -1,
    exited,
    output: () => all.join(''),
    stdout: () => out.join(''),
    stderr: () => err.join(''),
    async waitForHttp(url, waitOpts = {}) {
      await pollUntil(
        `${script} to answer 200 on ${url}`,
        async () => {
          if (exitInfo !== undefined) {
            throw new PollAborted(`process exited (code ${exitInfo.code}, signal ${exitInfo.signal})`);
          }
          return (await httpStatus(url)) === 200;
        },
        {
          timeoutMs: waitOpts.timeoutMs ?? 60_000,
          describe: () => `--- output of ${script} ---\n${all.join('').slice(-8000)}`,
        },
      );
    },
    kill,
    async stop(graceMs = 10_000) {
      kill('SIGTERM');
      const timer = setTimeout(() => kill('SIGKILL'), graceMs);
      const result = await exited;
      clearTimeout(timer);
      return result;
    },
  };
}
