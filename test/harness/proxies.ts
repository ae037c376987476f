/**
 * Several real proxy processes at once (they share the harness's RGW and Postgres), and a reader for the
 * Prometheus text on their admin port.
 */
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';

import { spawnSync } from 'node:child_process';

import { proxyEnv, startProxyProcess, type ProxyInstance } from './proxy';
import type { TestServices } from './services';

/** Starts `n` proxies in parallel; `overrides(i)` adds per-instance environment (e.g. its own STATE_DIR). */
export async function startProxies(
  services: TestServices,
  n: number,
  overrides: (index: number) => Record<string, string> = () => ({}),
): Promise<ProxyInstance[]> {
  const started = await Promise.allSettled(
    Array.from({ length: n }, (_, i) => startProxyProcess(proxyEnv(services, overrides(i)))),
  );
  const ok = started.flatMap((s) => (s.status === 'fulfilled' ? [s.value] : []));
  const failed = started.find((s): s is PromiseRejectedResult => s.status === 'rejected');
  if (failed) {
    await Promise.allSettled(ok.map((p) => p.stop()));
    throw failed.reason;
  }
  return ok;
}

/** A fresh private state directory (one per proxy: two live proxies must never share one). */
export function tempStateDir(prefix = 's3m-state-'): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), prefix));
}

/** One sample of a Prometheus text exposition. */
export interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

/** Parses the text format (no HELP/TYPE needed); label values are unescaped. */
export function parsePrometheusText(text: string): Sample[] {
  const samples: Sample[] = [];
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)/.exec(line);
    if (!m) continue;
    const labels: Record<string, string> = {};
    for (const l of (m[2] ?? '').matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)) {
      labels[l[1]!] = l[2]!.replace(/\\n/g, '\n').replace(/\\(["\\])/g, '$1');
    }
    samples.push({ name: m[1]!, labels, value: Number(m[3]) });
  }
  return samples;
}

export function getText(url: string): Promise<string> {
  return new Promise((resolve, reject) => {
    http
      .get(url, { agent: false }, (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (c: string) => (body += c));
        res.on('end', () =>
          res.statusCode === 200 ? resolve(body) : reject(new Error(`GET ${url}: ${res.statusCode}`)),
        );
      })
      .on('error', reject);
  });
}

/** Scrapes a proxy's /metrics. */
export async function scrapeMetrics(proxy: Pick<ProxyInstance, 'adminUrl'>): Promise<Sample[]> {
  return parsePrometheusText(await getText(`${proxy.adminUrl}/metrics`));
}

/** Sum of every sample of `name` whose labels include `match`. */
export function metricValue(samples: Sample[], name: string, match: Record<string, string> = {}): number {
  return samples
    .filter((s) => s.name === name && Object.entries(match).every(([k, v]) => s.labels[k] === v))
    .reduce((sum, s) => sum + s.value, 0);
}

/** A command prefix that runs `setup` (shell) in a private mount namespace, then execs the command. */
export function inPrivateMountNamespace(setup: string): string[] {
  return ['unshare', '--mount', '--propagation', 'private', 'sh', '-c', `${setup} && exec "$0" "$@"`];
}

/**
 * The shell step that makes `/` read-only in a private mount namespace (like a container's
 * readOnlyRootFilesystem), keeping `writable` (if any) writable as its own bind mount, then execs node.
 * Only the namespace sees the change. `remount,bind,ro` sets the flag of the mount, never the filesystem's.
 */
export function readOnlyRootWrapper(writable: string | undefined): string[] {
  if (writable !== undefined && !/^\/[\w./-]+$/.test(writable)) throw new Error(`unsafe path ${writable}`);
  const keep = writable ? `mount --bind '${writable}' '${writable}' && ` : '';
  return inPrivateMountNamespace(`${keep}mount -o remount,bind,ro /`);
}

/** True when this machine lets the tests make `/` read-only for a child (root with CAP_SYS_ADMIN). */
export function canRunOnReadOnlyRoot(): boolean {
  const probe = spawnSync(
    readOnlyRootWrapper(undefined)[0]!,
    [...readOnlyRootWrapper(undefined).slice(1), 'sh', '-c', '! touch /s3m-ro-probe 2>/dev/null'],
    { stdio: 'ignore', timeout: 10_000 },
  );
  return probe.status === 0;
}

/**
 * Starts the built proxy with a read-only root filesystem (only `env.STATE_DIR`, if set, stays writable),
 * on free ports, and waits for /readyz.
 */
export async function startProxyOnReadOnlyRoot(env: Record<string, string>): Promise<ProxyInstance> {
  const writable = env.STATE_DIR?.startsWith('/') ? env.STATE_DIR : undefined;
  return startProxyProcess(env, { wrapper: readOnlyRootWrapper(writable) });
}
