/**
 * Proxy builds side by side for the bench's A/B tools (idle-probe.ts, write-cost.ts, get-cost.ts): an arm is
 * a main.js (default: the shipped bundle, proxy/dist/bundle/main.js, through the bench entry), extra node flags and environment.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

import { startCeph } from '../harness/ceph';
import { startPostgres } from '../harness/postgres';
import { BenchClient } from './client';
import {
  APP_CREDENTIALS,
  proxyEnvironment,
  startProxyService,
  startSink,
  cephUpstreams,
  sinkUpstreams,
  type ProxyUnderTest,
  type Upstreams,
} from './env';

export interface ProxyArm {
  name: string;
  script: string;
  nodeArgs: string[];
  env: Record<string, string>;
}

export const SHIPPED_ARM: ProxyArm = {
  name: 'shipped',
  script: path.resolve(__dirname, 'shipped-proxy-main.js'),
  nodeArgs: [],
  env: {},
};

/** `NAME=path/to/main.js[;--node-flag ...]`: flags after `;` join the arm's NODE_OPTIONS. */
export function parseArm(value: string): ProxyArm {
  const [name, rest = ''] = value.split(/=(.*)/s, 2) as [string, string | undefined];
  const [script = '', flags = ''] = rest.split(';', 2);
  return { name, script: path.resolve(script), nodeArgs: flags.split(' ').filter(Boolean), env: {} };
}

/** The arm's proxy in front of `upstreams` (sinks by default in the tools) with the inventory at `postgresUrl`. */
export function startProxyArm(opts: {
  arm: ProxyArm;
  name?: string;
  upstreams: Upstreams;
  postgresUrl: string;
  /** Environment for every arm; the arm's own wins. */
  env?: Record<string, string>;
  /** Node flags for every arm, before the arm's own. */
  nodeArgs?: string[];
  logDir: string;
}): Promise<ProxyUnderTest> {
  const { arm } = opts;
  const env = proxyEnvironment(
    { ...opts.upstreams, postgresUrl: opts.postgresUrl },
    { ...opts.env, ...arm.env },
  );
  const flags = [...(opts.nodeArgs ?? []), ...arm.nodeArgs];
  if (flags.length) env.NODE_OPTIONS = `${env.NODE_OPTIONS ?? ''} ${flags.join(' ')}`;
  return startProxyService({ name: opts.name ?? arm.name, env, logDir: opts.logDir, script: arm.script });
}

/**
 * The A/B tools' command lines: `handle(flag, value)` for each flag (`value()` takes the next argument),
 * true when it knew the flag; `--arm` and `--env [ARM:]K=V` are handled here for every tool.
 */
export function parseArmFlags(
  argv: readonly string[],
  into: { arms: ProxyArm[]; env: Record<string, string> },
  handle: (flag: string, value: () => string) => boolean,
): void {
  for (let i = 0; i < argv.length; i++) {
    const flag = argv[i]!;
    const value = (): string => {
      const v = argv[++i];
      if (v === undefined) throw new Error(`${flag} needs a value`);
      return v;
    };
    if (flag === '--arm') into.arms.push(parseArm(value()));
    else if (flag === '--env') {
      // K=V for every arm, or ARM:K=V for one (an arm named before).
      const [target, k, v] = /^(?:([^:=]+):)?([^=]+)=(.*)$/.exec(value())?.slice(1) ?? [];
      if (!k) throw new Error('--env needs K=V or ARM:K=V');
      const arm = target === undefined ? undefined : into.arms.find((a) => a.name === target);
      if (target !== undefined && !arm) throw new Error(`--env ${target}: no arm of that name (yet)`);
      (arm ? arm.env : into.env)[k] = v ?? '';
    } else if (!handle(flag, value)) throw new Error(`unknown argument ${flag}`);
  }
  if (into.arms.length === 0) into.arms.push({ ...SHIPPED_ARM, env: {} });
}

/** Each arm's proxy, with an app client, in front of one shared backend (sinks or Ceph RGW) as main and mirror. */
export interface ArmsBench {
  proxies: ProxyUnderTest[];
  clients: BenchClient[];
  /** The backend the arms are in front of, for references started beside them. */
  upstreams: Upstreams;
  logDir: string;
  stop(): Promise<void>;
}

/** Where the tools' arms send their requests: the sinks (the proxy's own cost) or Ceph RGW (realistic). */
export type ToolBackend = 'sink' | 'ceph';

/**
 * The backend (sinks, or a Ceph cluster's main and mirror gateways), an embedded Postgres per arm and the
 * arms' proxies; logs under a temporary directory named for `tool`.
 */
export async function startArmsBench(opts: {
  tool: string;
  arms: readonly ProxyArm[];
  env: Record<string, string>;
  backend?: ToolBackend;
}): Promise<ArmsBench> {
  const logDir = fs.mkdtempSync(path.join(os.tmpdir(), `s3m-${opts.tool}-`));
  const backend = opts.backend ?? 'sink';
  console.log(`node ${process.version}; ${backend} backend; logs in ${logDir}`);
  const upstream = await startUpstreams(backend, logDir);
  const postgres = await Promise.all(opts.arms.map(() => startPostgres({ embedded: true })));
  const proxies = await Promise.all(
    opts.arms.map((arm, i) =>
      startProxyArm({
        arm,
        upstreams: upstream.upstreams,
        postgresUrl: postgres[i]!.url,
        env: opts.env,
        logDir,
      }),
    ),
  );
  const clients = proxies.map((p) => new BenchClient({ name: p.name, url: p.url, ...APP_CREDENTIALS }));
  return {
    proxies,
    clients,
    upstreams: upstream.upstreams,
    logDir,
    async stop() {
      for (const c of clients) c.close();
      await Promise.all(proxies.map((p) => p.stop()));
      await Promise.all([upstream.stop(), ...postgres.map((p) => p.destroy())]);
    },
  };
}

async function startUpstreams(
  backend: ToolBackend,
  logDir: string,
): Promise<{ upstreams: Upstreams; stop(): Promise<void> }> {
  if (backend === 'ceph') {
    const cluster = await startCeph({ log: (line) => console.log(`[ceph] ${line}`) });
    return { upstreams: cephUpstreams(cluster), stop: () => cluster.stop() };
  }
  const [main, mirror] = await Promise.all([
    startSink('sink-main', logDir),
    startSink('sink-mirror', logDir),
  ]);
  return {
    upstreams: sinkUpstreams({ main, mirror }),
    stop: async () => {
      await Promise.all([main.stop(), mirror.stop()]);
    },
  };
}

/** `--backend sink|ceph`, for the tools that take it. */
export function parseBackend(value: string): ToolBackend {
  if (value === 'sink' || value === 'ceph') return value;
  throw new Error(`--backend must be sink or ceph, not ${value}`);
}
