import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

import { Client, type QueryResultRow } from 'pg';

import { killOnExit, startWatchdog } from './cleanup';
import { freePort } from './free-port';
import { PollAborted, pollUntil } from './wait';

/**
 * Debian's `pgbouncer` (test/setup.sh installs it) as a child process on a free loopback port in front of
 * a Postgres server: one wildcard database entry (`* = host=… port=…`, so any database name passes,
 * created ones included), the Postgres URL's user and password in an auth file (clients authenticate
 * with SCRAM, the bouncer logs in to Postgres with the same password), the config in a temp dir. As root
 * it runs as `nobody` (pgbouncer refuses to run as root).
 */
export interface PgBouncer {
  /** The Postgres URL with host and port replaced by the bouncer's: same user, password and database. */
  url: string;
  port: number;
  poolMode: PoolMode;
  /** Everything pgbouncer logged so far (stderr). */
  output(): string;
  /** A statement on the admin console (database `pgbouncer`), e.g. `SHOW POOLS`. */
  admin<R extends QueryResultRow = Record<string, string>>(command: string): Promise<R[]>;
  /** Stops it (SIGINT: immediate shutdown) and removes the temp dir. Idempotent. */
  stop(): Promise<void>;
}

export type PoolMode = 'session' | 'transaction' | 'statement';

export interface StartPgBouncerOptions {
  poolMode?: PoolMode;
  /** More `[pgbouncer]` settings (they win over the defaults here). */
  settings?: Record<string, string | number>;
}

const UNPRIVILEGED_USER = 'nobody';

export async function startPgBouncer(
  postgresUrl: string,
  opts: StartPgBouncerOptions = {},
): Promise<PgBouncer> {
  const target = new URL(postgresUrl);
  const user = decodeURIComponent(target.username);
  const password = decodeURIComponent(target.password);
  if (/["\s]/.test(user + password)) throw new Error('pgbouncer auth file: user or password needs quoting');
  const poolMode = opts.poolMode ?? 'transaction';
  const port = await freePort();
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 's3m-pgbouncer-'));
  const pidFile = path.join(dir, 'pgbouncer.pid');
  const authFile = path.join(dir, 'userlist.txt');
  const configFile = path.join(dir, 'pgbouncer.ini');
  const settings: Record<string, string | number> = {
    listen_addr: '127.0.0.1',
    listen_port: port,
    unix_socket_dir: '',
    pidfile: pidFile,
    auth_type: 'scram-sha-256',
    auth_file: authFile,
    admin_users: user,
    pool_mode: poolMode,
    max_client_conn: 500,
    default_pool_size: 20,
    ...opts.settings,
  };
  fs.writeFileSync(authFile, `"${user}" "${password}"\n`, { mode: 0o600 });
  fs.writeFileSync(
    configFile,
    [
      '[databases]',
      `* = host=${target.hostname} port=${target.port || 5432}`,
      '',
      '[pgbouncer]',
      ...Object.entries(settings).map(([k, v]) => `${k} = ${v}`),
      '',
    ].join('\n'),
    { mode: 0o600 },
  );
  const asRoot = process.getuid?.() === 0;
  if (asRoot) {
    // The user pgbouncer switches to must read its config and write its pid file.
    const { uid, gid } = unprivilegedIds();
    for (const f of [dir, authFile, configFile]) fs.chownSync(f, uid, gid);
  }
  const watchdog = startWatchdog(pidFile, dir, 'KILL');
  const child = spawn('pgbouncer', [...(asRoot ? ['-u', UNPRIVILEGED_USER] : []), configFile], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  killOnExit(child);
  const log: string[] = [];
  child.stdout.setEncoding('utf8').on('data', (c: string) => log.push(c));
  child.stderr.setEncoding('utf8').on('data', (c: string) => log.push(c));
  let exited: string | undefined;
  const exit = new Promise<void>((resolve) => {
    child.once('error', (e) => {
      exited = `spawn error: ${e.message}`;
      resolve();
    });
    child.once('close', (code, signal) => {
      exited = `exited (code ${code}, signal ${signal})`;
      resolve();
    });
  });

  const url = new URL(postgresUrl);
  url.hostname = '127.0.0.1';
  url.port = String(port);
  const admin = async <R extends QueryResultRow>(command: string): Promise<R[]> => {
    const u = new URL(url);
    u.pathname = '/pgbouncer';
    const c = new Client({ connectionString: u.toString() });
    c.on('error', () => undefined);
    try {
      await c.connect();
      return (await c.query<R>(command)).rows;
    } finally {
      await c.end().catch(() => undefined);
    }
  };
  let stopped = false;
  const stop = async (): Promise<void> => {
    if (stopped) return;
    stopped = true;
    if (exited === undefined) child.kill('SIGINT');
    const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
    await exit;
    clearTimeout(timer);
    watchdog.disarm();
    fs.rmSync(dir, { recursive: true, force: true });
  };
  try {
    await pollUntil(
      `pgbouncer on 127.0.0.1:${port}`,
      async () => {
        if (exited !== undefined) throw new PollAborted(`pgbouncer ${exited}`);
        await admin('SHOW VERSION');
        return true;
      },
      { timeoutMs: 30_000, describe: () => log.join('').slice(-4000) },
    );
  } catch (err) {
    await stop();
    throw err;
  }
  return { url: url.toString(), port, poolMode, output: () => log.join(''), admin, stop };
}

function unprivilegedIds(): { uid: number; gid: number } {
  const line = fs
    .readFileSync('/etc/passwd', 'utf8')
    .split('\n')
    .find((l) => l.startsWith(`${UNPRIVILEGED_USER}:`));
  const [, , uid, gid] = line?.split(':') ?? [];
  if (uid === undefined || gid === undefined) throw new Error(`no user ${UNPRIVILEGED_USER} in /etc/passwd`);
  return { uid: Number(uid), gid: Number(gid) };
}
