import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';

/**
 * Best-effort cleanup of daemons when the Node process goes away without a proper stop().
 *
 * Two layers:
 * - `killOnExit(child)`: SIGKILL on the synchronous `exit` event (normal exits, process.exit()).
 * - `startWatchdog(...)`: a tiny detached shell that waits for EOF on a pipe from this process. The pipe
 *   closes however this process dies (even SIGKILL), and the shell then kills every pid found in the
 *   given pid files and removes the temp dir.
 */
const live = new Set<ChildProcess>();
let hooked = false;

export function killOnExit(child: ChildProcess): void {
  live.add(child);
  child.once('exit', () => live.delete(child));
  if (!hooked) {
    hooked = true;
    process.once('exit', () => {
      for (const c of live) {
        try {
          c.kill('SIGKILL');
        } catch {
          // already gone
        }
      }
    });
  }
}

export interface Watchdog {
  /** Stops the watchdog without letting it act (call after a clean stop). */
  disarm(): void;
}

/** `pidGlob`: a shell glob of pid files (one pid on the first line of each). */
export function startWatchdog(pidGlob: string, removeDir: string, signal = 'KILL'): Watchdog {
  if (/['\n]/.test(pidGlob + removeDir) || !/^[A-Z]+$/.test(signal))
    throw new Error('unsafe watchdog argument');
  const script =
    `cat >/dev/null; for f in ${pidGlob}; do [ -f "$f" ] && kill -${signal} "$(head -n1 "$f")" 2>/dev/null; done; ` +
    `sleep 0.2; rm -rf '${removeDir}'`;
  const dog = spawn('sh', ['-c', script], { detached: true, stdio: ['pipe', 'ignore', 'ignore'] });
  dog.unref();
  (dog.stdin as unknown as { unref?: () => void }).unref?.();
  dog.on('error', () => undefined);
  dog.stdin?.on('error', () => undefined);
  return {
    disarm() {
      try {
        dog.kill('SIGKILL');
      } catch {
        // gone
      }
    },
  };
}

/** Last `lines` lines of a file, or a note that it is missing. */
export function tail(file: string, lines = 30): string {
  try {
    const text = fs.readFileSync(file, 'utf8');
    return text
      .split('\n')
      .slice(-lines - 1)
      .join('\n');
  } catch {
    return `(no ${file})`;
  }
}
