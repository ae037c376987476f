/** The proxy's state directory: where it is, who owns it, and the stable id of this instance. */
import { randomUUID } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

import type { StateDirSetting } from '../config';

export const JOURNAL_SUBDIR = 'journal';
const INSTANCE_ID_FILE = 'instance-id';
const LOCK_FILE = 'lock';

/** The image's state directory (the webhook mounts an emptyDir there). */
export const IMAGE_STATE_DIR = '/var/lib/s3-mirror';

export class StateDirError extends Error {
  readonly variable = 'STATE_DIR';
}

/** Where the journal and spool go, and why there. `undefined` dir: the operator turned the journal off. */
export type StateDirChoice =
  { dir: string; source: 'STATE_DIR' | 'default' } | { dir: undefined; source: 'off' };

export interface StateDirProbe {
  /** Whether `dir` exists and this process may create files in it. */
  writable(dir: string): boolean;
  tmpdir: string;
}

const realProbe: StateDirProbe = {
  writable(dir) {
    try {
      fs.accessSync(dir, fs.constants.W_OK | fs.constants.X_OK);
      return fs.statSync(dir).isDirectory();
    } catch {
      return false;
    }
  },
  tmpdir: os.tmpdir(),
};

/**
 * The state directory for a setting. Default: the image's directory when it is writable (in a pod, the
 * webhook's emptyDir), else one per listening port under the system's temporary directory, so a plain
 * `node proxy/dist/bundle/main.js` is durable too, and a restart on the same port replays what a kill left.
 */
export function chooseStateDir(
  setting: StateDirSetting,
  listenPort: number,
  probe: StateDirProbe = realProbe,
): StateDirChoice {
  if (setting.kind === 'off') return { dir: undefined, source: 'off' };
  if (setting.kind === 'path') return { dir: setting.path, source: 'STATE_DIR' };
  if (probe.writable(IMAGE_STATE_DIR)) return { dir: IMAGE_STATE_DIR, source: 'default' };
  return { dir: path.join(probe.tmpdir, `k8s-s3-mirror-${listenPort}`), source: 'default' };
}

/** Lock files this process holds (a pid check cannot tell two trackers of one process apart). */
const lockedHere = new Set<string>();

/** Tells a lock's holder apart from an unrelated process that was later given the same pid. */
export interface ProcessTable {
  alive(pid: number): boolean;
  /** When `pid` started (opaque; Linux: clock ticks since boot), or undefined where that is unknown. */
  startTime(pid: number): string | undefined;
}

const realProcesses: ProcessTable = {
  alive(pid) {
    try {
      process.kill(pid, 0);
      return true;
    } catch (err) {
      return (err as NodeJS.ErrnoException).code === 'EPERM';
    }
  },
  startTime(pid) {
    try {
      // /proc/<pid>/stat: "pid (comm) state …"; comm may hold spaces, so count fields after its ')'.
      const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
      return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19];
    } catch {
      return undefined;
    }
  },
};

/** The lock file's text: the holder's pid and, where known, its start time. */
function lockText(processes: ProcessTable): string {
  const started = processes.startTime(process.pid);
  return started === undefined ? `${process.pid}\n` : `${process.pid} ${started}\n`;
}

/** Whether the lock's holder still runs: its pid is alive and, when the lock says, started when it did. */
function holderRuns(pid: number, started: string | undefined, processes: ProcessTable): boolean {
  if (!processes.alive(pid)) return false;
  if (started === undefined) return true;
  const now = processes.startTime(pid);
  return now === undefined || now === started;
}

/**
 * Takes the directory for this process: two proxies appending to one journal would replay each other's
 * writes and remove each other's files. A lock left by a dead process (or by an earlier start with this
 * very pid: PID 1 in a restarted container, or by a process whose pid now names another one) is taken
 * over. Returns the release function.
 */
export function lockStateDir(stateDir: string, processes: ProcessTable = realProcesses): () => void {
  fs.mkdirSync(stateDir, { recursive: true, mode: 0o700 });
  const file = path.join(stateDir, LOCK_FILE);
  if (lockedHere.has(file))
    throw new StateDirError(`${stateDir} is in use by another tracker of this process`);
  const text = lockText(processes);
  for (let attempt = 0; attempt < 3; attempt++) {
    try {
      fs.writeFileSync(file, text, { flag: 'wx', mode: 0o600 });
      lockedHere.add(file);
      return () => {
        lockedHere.delete(file);
        try {
          if (fs.readFileSync(file, 'utf8') === text) fs.rmSync(file);
        } catch {
          // already gone
        }
      };
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    }
    const [pidText, started] = fs.readFileSync(file, 'utf8').trim().split(' ');
    const holder = Number(pidText);
    if (
      Number.isInteger(holder) &&
      holder > 0 &&
      holder !== process.pid &&
      holderRuns(holder, started, processes)
    ) {
      throw new StateDirError(`${stateDir} is in use by process ${holder} (one proxy per state directory)`);
    }
    fs.rmSync(file, { force: true });
  }
  throw new StateDirError(`could not lock ${stateDir}`);
}

/**
 * A stable id for this state directory, created once. The proxy's lease owner is `<id>:<random per start>`,
 * so a restarted proxy (same STATE_DIR, e.g. a pod's emptyDir after a container restart) knows that leases
 * carrying its id but another start's suffix belong to its dead predecessor and may be taken at once.
 */
export function stableInstanceId(stateDir: string): string {
  const file = path.join(stateDir, INSTANCE_ID_FILE);
  try {
    const id = fs.readFileSync(file, 'utf8').trim();
    if (/^[0-9a-f-]{36}$/.test(id)) return id;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
  fs.mkdirSync(stateDir, { recursive: true, mode: 0o700 });
  const id = randomUUID();
  const tmp = `${file}.${process.pid}.tmp`;
  fs.writeFileSync(tmp, `${id}\n`, { mode: 0o600 });
  fs.renameSync(tmp, file);
  return id;
}
