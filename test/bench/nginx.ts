import { execFileSync, spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';

import { killOnExit } from '../harness/cleanup';
import { freePort } from '../harness/free-port';
import { httpStatus, PollAborted, pollUntil } from '../harness/wait';
import { readProcStat, type ReferenceHop } from './procs';

/**
 * The bench's reference hop: Debian's nginx (package `nginx-light`) as a plain pass-through in front of the
 * same backend the proxy forwards to. Clients sign for the backend and send through nginx, which does not
 * re-sign: the difference between this arm and direct is the cost of one extra hop, done about as cheaply as
 * a general-purpose proxy can do it.
 */

/** Where Debian puts it; `nginx` on PATH otherwise. */
const NGINX_CANDIDATES = ['/usr/sbin/nginx', '/usr/local/sbin/nginx', '/usr/local/nginx/sbin/nginx'];

export interface NginxConfigInput {
  /** The directory holding the pid file, error log and temp paths (nginx's -p prefix). */
  dir: string;
  /** Loopback port nginx listens on. */
  port: number;
  /** The backend, host:port (the sink or RGW). */
  upstream: string;
  /** `user` directive ("user [group]"): only meaningful when nginx starts as root. */
  user?: string;
}

/** The whole nginx.conf of the reference hop (pure: unit-tested). */
export function nginxConfig(c: NginxConfigInput): string {
  if (!/^[\w.-]+:\d+$/.test(c.upstream))
    throw new Error(`nginx upstream must be host:port, got ${c.upstream}`);
  if (/[\s;{}'"]/.test(c.dir)) throw new Error(`nginx prefix directory needs quoting: ${c.dir}`);
  if (c.user !== undefined && !/^[\w-]+( [\w-]+)?$/.test(c.user)) throw new Error(`nginx user: ${c.user}`);
  const p = (name: string): string => path.join(c.dir, name);
  return [
    ...(c.user ? [`user ${c.user};`] : []),
    // One worker: the proxy is one Node process (one event loop, at most one core), so one nginx worker is the
    // like-for-like hop; and on a 2-core machine shared with the client and the backend, more workers would
    // only compete with them.
    'worker_processes 1;',
    `pid ${p('nginx.pid')};`,
    `error_log ${p('error.log')} warn;`,
    'events {',
    '  worker_connections 4096;',
    '}',
    'http {',
    '  access_log off;',
    // Every temp path inside the prefix (Debian's defaults are under /var/lib/nginx); with both kinds of
    // buffering off, nothing should be written there.
    `  client_body_temp_path ${p('client_body')};`,
    `  proxy_temp_path ${p('proxy')};`,
    `  fastcgi_temp_path ${p('fastcgi')};`,
    `  uwsgi_temp_path ${p('uwsgi')};`,
    `  scgi_temp_path ${p('scgi')};`,
    // The bench client keeps its connections for the whole run; nginx's default closes one every 1000 requests.
    '  keepalive_requests 1000000;',
    '  keepalive_timeout 300s;',
    '  upstream backend {',
    `    server ${c.upstream};`,
    '    keepalive 64;',
    '    keepalive_requests 1000000;',
    '    keepalive_timeout 300s;',
    '  }',
    '  server {',
    `    listen 127.0.0.1:${c.port};`,
    '    client_max_body_size 0;',
    // Keys are passed as the client sent them (no URI in proxy_pass), and may hold "//".
    '    merge_slashes off;',
    '    location / {',
    '      proxy_pass http://backend;',
    '      proxy_http_version 1.1;',
    // Keep-alive to the backend: nginx would send "Connection: close" otherwise.
    '      proxy_set_header Connection "";',
    // The client's Host is the backend's, which its SigV4 signature covers.
    '      proxy_set_header Host $http_host;',
    // Stream both ways, as the proxy does: nothing held in memory or on disk beyond one buffer.
    '      proxy_buffering off;',
    '      proxy_request_buffering off;',
    // The one buffer each way: 64 KiB, the size Node reads a socket in (defaults are 4–16 KiB).
    '      proxy_buffer_size 64k;',
    // Unused with buffering off, but nginx checks them against proxy_buffer_size (busy ≤ all but one).
    '      proxy_buffers 4 64k;',
    '      client_body_buffer_size 64k;',
    '    }',
    '  }',
    '}',
    '',
  ].join('\n');
}

/**
 * Why a run that rewrites docs/benchmarks.md cannot start, or undefined. The report replaces the one before,
 * and without nginx every table would lose the cheapest hop's column. Pure.
 */
export function docsRunRefusal(run: { docs: boolean }, nginxBinary: string | undefined): string | undefined {
  if (!run.docs || nginxBinary !== undefined) return undefined;
  return (
    'a full run rewrites docs/benchmarks.md and needs nginx for its reference arm: install it ' +
    '(Debian: apt-get install nginx-light), or pass --out DIR for a run without it'
  );
}

export function findNginx(): string | undefined {
  for (const candidate of NGINX_CANDIDATES) if (fs.existsSync(candidate)) return candidate;
  for (const dir of (process.env.PATH ?? '').split(':')) {
    if (dir && fs.existsSync(path.join(dir, 'nginx'))) return path.join(dir, 'nginx');
  }
  return undefined;
}

/** The processes whose parent is `pid` (nginx's workers), from /proc. */
function childrenOf(pid: number): number[] {
  const children: number[] = [];
  for (const entry of fs.readdirSync('/proc')) {
    if (/^\d+$/.test(entry) && readProcStat(Number(entry))?.ppid === pid) children.push(Number(entry));
  }
  return children;
}

/**
 * Starts nginx on a free loopback port in front of `backendUrl`, with its own prefix under `logDir`
 * (config, pid file, error log, temp paths). Throws when there is no nginx or it does not start: the
 * caller skips the arm.
 */
export async function startNginxHop(opts: {
  name: string;
  backendUrl: string;
  logDir: string;
}): Promise<ReferenceHop> {
  const binary = findNginx();
  if (!binary) throw new Error('nginx is not installed (Debian: apt-get install nginx-light)');
  const port = await freePort();
  const dir = path.join(opts.logDir, opts.name);
  fs.mkdirSync(dir, { recursive: true });
  // As root, workers run as `nobody` (nginx would otherwise look up its build's default user); they never
  // need the prefix (no temp files with buffering off), but may reach it anyway. nobody's group is named
  // `nogroup` on Debian: nginx needs the name.
  const root = process.getuid?.() === 0;
  if (root) fs.chmodSync(dir, 0o755);
  const user = root
    ? `nobody ${execFileSync('id', ['-gn', 'nobody'], { encoding: 'utf8' }).trim()}`
    : undefined;
  const conf = path.join(dir, 'nginx.conf');
  fs.writeFileSync(
    conf,
    nginxConfig({ dir, port, upstream: new URL(opts.backendUrl).host, ...(user ? { user } : {}) }),
  );
  const logFile = path.join(dir, 'stderr.log');
  const out = fs.openSync(logFile, 'a');
  // -e: the error log before the config is read (Debian's default is /var/log/nginx/error.log).
  const child = spawn(
    binary,
    ['-p', `${dir}/`, '-c', conf, '-e', path.join(dir, 'error.log'), '-g', 'daemon off;'],
    {
      stdio: ['ignore', out, out],
    },
  );
  fs.closeSync(out);
  killOnExit(child);
  let gone = false;
  let spawnError: Error | undefined;
  child.once('error', (err) => {
    spawnError = err;
    gone = true;
  });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  // eslint-disable-next-line @typescript-eslint/no-floating-promises -- cannot reject
  void exited.then(() => (gone = true));
  const url = `http://127.0.0.1:${port}`;
  const logs = (): string =>
    ['stderr.log', 'error.log']
      .map((f) => path.join(dir, f))
      .filter((f) => fs.existsSync(f))
      .map((f) => fs.readFileSync(f, 'utf8').slice(-2000))
      .join('\n');
  try {
    await pollUntil(
      `${opts.name} to accept connections on ${url}`,
      async () => {
        if (gone) throw new PollAborted(`${opts.name} exited: ${spawnError?.message ?? ''}\n${logs()}`);
        // Any answer will do: it comes from the backend, through nginx.
        return (await httpStatus(`${url}/`)) > 0;
      },
      { timeoutMs: 15_000 },
    );
  } catch (err) {
    child.kill('SIGKILL');
    throw err;
  }
  return {
    name: opts.name,
    url,
    pid: child.pid!,
    logFile: path.join(dir, 'error.log'),
    pids: () => [child.pid!, ...childrenOf(child.pid!)],
    alive: () => !gone,
    async stop() {
      if (gone) return;
      // SIGQUIT would wait for keep-alive connections to close; SIGTERM is nginx's fast shutdown.
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
      await exited;
      clearTimeout(timer);
    },
  };
}

/** For the report: which nginx, e.g. "nginx/1.22.1" (`nginx -v` prints to stderr). */
export function nginxVersion(binary: string): string {
  const r = spawnSync(binary, ['-v'], { encoding: 'utf8' });
  return `${r.stderr ?? ''}${r.stdout ?? ''}`.trim().replace(/^nginx version: /, '') || 'unknown';
}
