import fs from 'node:fs';
import path from 'node:path';
import pg from 'pg';

import { startCeph, type CephCluster } from '../harness/ceph';
import { freePorts } from '../harness/free-port';
import { POD_NODE_ENV, PROXY_IMAGE_NODE_ARGS } from '../harness/proxy';
import { metricValue, parsePrometheusText } from '../harness/proxies';
import { startPostgres, type PostgresServer } from '../harness/postgres';
import type { Endpoint } from './client';
import { startNodeService, type Service } from './procs';

/** A proxy process under test and how to reach it. */
export interface ProxyUnderTest extends Service {
  url: string;
  adminUrl: string;
  /** Postgres server URL its inventory lives on. */
  postgresUrl: string;
}

/** The proxy as shipped (its bundle), through a bench entry (see shipped-proxy-main.ts). */
const PROXY_MAIN = path.resolve(__dirname, 'shipped-proxy-main.js');
const SINK_MAIN = path.resolve(__dirname, 'sink-main.js');
const PROXY_VARIANT = path.resolve(__dirname, 'proxy-variant-main.js');

/** Keys the app sends; the proxy replaces them. */
export const APP_CREDENTIALS = {
  accessKeyId: 'APPKEYNOTUSED',
  secretAccessKey: 'app-secret-the-proxy-drops',
};

export interface ProxyEnvInput {
  mainUrl: string;
  main: { accessKeyId: string; secretAccessKey: string };
  mirrorUrl: string;
  mirror: { accessKeyId: string; secretAccessKey: string };
  postgresUrl: string;
}

/** Main and mirror as a proxy reaches them: endpoints and static keys (no inventory). */
export type Upstreams = Omit<ProxyEnvInput, 'postgresUrl'>;

/** The sinks as main and mirror; they take any keys, these are what the proxies sign with. */
export function sinkUpstreams(sinks: { main: { url: string }; mirror: { url: string } }): Upstreams {
  return {
    mainUrl: sinks.main.url,
    main: { accessKeyId: 'SINKMAIN', secretAccessKey: 'sink-main-secret' },
    mirrorUrl: sinks.mirror.url,
    mirror: { accessKeyId: 'SINKMIRROR', secretAccessKey: 'sink-mirror-secret' },
  };
}

/** A Ceph cluster's main and mirror gateways, with their users' keys. */
export function cephUpstreams(cluster: CephCluster): Upstreams {
  return {
    mainUrl: cluster.mainEndpoint,
    main: cluster.main,
    mirrorUrl: cluster.mirrorEndpoint,
    mirror: cluster.mirror,
  };
}

/**
 * The environment a deployed sidecar gets: LOG_LEVEL info (the default: one access-log line per request), the
 * image's MALLOC_ARENA_MAX and NODE_OPTIONS (Dockerfile.proxy) and a pod's heap limit (POD_HEAP_FLAG).
 * STATE_DIR is added per proxy.
 */
export function proxyEnvironment(
  input: ProxyEnvInput,
  extra: Record<string, string> = {},
): Record<string, string> {
  return {
    MAIN_S3_ENDPOINT: input.mainUrl,
    MAIN_ACCESS_KEY: input.main.accessKeyId,
    MAIN_SECRET_KEY: input.main.secretAccessKey,
    MAIN_S3_REGION: 'us-east-1',
    MIRROR_S3_ENDPOINT: input.mirrorUrl,
    MIRROR_ACCESS_KEY: input.mirror.accessKeyId,
    MIRROR_SECRET_KEY: input.mirror.secretAccessKey,
    MIRROR_S3_REGION: 'us-east-1',
    POSTGRES_URL: input.postgresUrl,
    LOG_LEVEL: 'info',
    ...POD_NODE_ENV,
    ...extra,
  };
}

export async function startProxyService(opts: {
  name: string;
  env: Record<string, string>;
  logDir: string;
  /** The bench variant entry (forwarder or tracker swapped; proxy/dist's modules) instead of the shipped bundle. */
  variant?: Record<string, string>;
  /** Another build's main.js (before/after comparisons). */
  script?: string;
}): Promise<ProxyUnderTest> {
  const [port, adminPort] = (await freePorts(2)) as [number, number];
  // The webhook mounts a state volume for the journal and the upload spool; here, a directory per proxy.
  const stateDir = path.join(opts.logDir, `state-${opts.name}`);
  fs.mkdirSync(stateDir, { recursive: true });
  const service = await startNodeService({
    name: opts.name,
    script: opts.script ?? (opts.variant ? PROXY_VARIANT : PROXY_MAIN),
    env: {
      STATE_DIR: stateDir,
      ...opts.env,
      ...(opts.variant ?? {}),
      LISTEN_ADDR: `127.0.0.1:${port}`,
      ADMIN_ADDR: `127.0.0.1:${adminPort}`,
    },
    logDir: opts.logDir,
    readyUrl: `http://127.0.0.1:${adminPort}/readyz`,
    nodeArgs: [...PROXY_IMAGE_NODE_ARGS],
  });
  return {
    ...service,
    url: `http://127.0.0.1:${port}`,
    adminUrl: `http://127.0.0.1:${adminPort}`,
    postgresUrl: opts.env.POSTGRES_URL!,
  };
}

export async function startSink(name: string, logDir: string): Promise<Service & { url: string }> {
  const [port] = (await freePorts(1)) as [number];
  const service = await startNodeService({
    name,
    script: SINK_MAIN,
    env: { SINK_PORT: String(port) },
    logDir,
    readyUrl: `http://127.0.0.1:${port}/`,
  });
  return { ...service, url: `http://127.0.0.1:${port}` };
}

/**
 * Ceph RGW (main and mirror gateways), its own Postgres, and the real proxy in front of main; beside it the
 * same proxy with the tracker off (the data path alone, for the cost of a mirrored write on RGW).
 */
export interface CephEnv {
  cluster: CephCluster;
  postgres: PostgresServer;
  proxy: ProxyUnderTest;
  noBackground: ProxyUnderTest;
  direct: Endpoint;
  viaProxy: Endpoint;
  mirrorDirect: Endpoint;
}

export async function startCephEnv(logDir: string, log: (line: string) => void): Promise<CephEnv> {
  const [cluster, postgres] = await Promise.all([
    // Large objects: 1 GiB on main, its mirror copy, and garbage not yet collected.
    startCeph({ memstoreBytes: 12 * 1024 ** 3, log }),
    startPostgres({ embedded: true }),
  ]);
  const env = proxyEnvironment({ ...cephUpstreams(cluster), postgresUrl: postgres.url });
  const [proxy, noBackground] = await Promise.all([
    startProxyService({ name: 'proxy-ceph', env, logDir }),
    startProxyService({
      name: 'proxy-ceph-no-background',
      env,
      logDir,
      variant: { BENCH_TRACKER: 'off' },
    }),
  ]);
  return {
    cluster,
    postgres,
    proxy,
    noBackground,
    direct: { name: 'direct', url: cluster.mainEndpoint, ...cluster.main },
    viaProxy: { name: 'proxy', url: proxy.url, ...APP_CREDENTIALS },
    mirrorDirect: { name: 'mirror', url: cluster.mirrorEndpoint, ...cluster.mirror },
  };
}

/**
 * The sink backend: a main sink and a mirror sink (separate processes), and three proxies in front of the
 * main sink:
 * - `proxy`: the proxy as shipped (its bundle; undici Pool), with its own Postgres;
 * - `noBackground`: the same proxy with the write tracker off (no inventory, no mirroring);
 * - `nodeHttp`: like `noBackground`, but forwarding through node:http with a keep-alive Agent. The forwarder
 *   comparison is between these two, without the background work whose CPU would swamp the difference.
 * The second Postgres is for a `--baseline` proxy (a sidecar mirrors every inventory database it finds, so
 * two tracking proxies must not share one); the tracker-off proxies never connect to it.
 */
export interface SinkEnv {
  main: Service & { url: string };
  mirror: Service & { url: string };
  postgres: PostgresServer[];
  proxy: ProxyUnderTest;
  nodeHttp: ProxyUnderTest;
  noBackground: ProxyUnderTest;
}

/** `proxyScript`: another build's main.js for the `proxy` arm (before/after comparisons). */
export async function startSinkEnv(logDir: string, proxyScript?: string): Promise<SinkEnv> {
  const [main, mirror, pgA, pgB] = await Promise.all([
    startSink('sink-main', logDir),
    startSink('sink-mirror', logDir),
    startPostgres({ embedded: true }),
    startPostgres({ embedded: true }),
  ]);
  const base = (postgresUrl: string) => proxyEnvironment({ ...sinkUpstreams({ main, mirror }), postgresUrl });
  const [proxy, nodeHttp, noBackground] = await Promise.all([
    startProxyService({
      name: 'proxy-sink',
      env: base(pgA.url),
      logDir,
      ...(proxyScript ? { script: proxyScript } : {}),
    }),
    startProxyService({
      name: 'proxy-sink-node-http',
      env: base(pgB.url),
      logDir,
      variant: { BENCH_FORWARDER: 'node-http', BENCH_TRACKER: 'off' },
    }),
    startProxyService({
      name: 'proxy-sink-no-background',
      env: base(pgB.url),
      logDir,
      variant: { BENCH_TRACKER: 'off' },
    }),
  ]);
  return { main, mirror, postgres: [pgA, pgB], proxy, nodeHttp, noBackground };
}

/** Runs `fn` with a client on one bucket database of `postgresUrl` (the proxy's inventory). */
export async function withInventory<T>(
  postgresUrl: string,
  database: string,
  fn: (client: pg.Client) => Promise<T>,
): Promise<T> {
  const url = new URL(postgresUrl);
  url.pathname = `/${database}`;
  const client = new pg.Client({ connectionString: url.toString() });
  await client.connect();
  try {
    return await fn(client);
  } finally {
    await client.end();
  }
}

/** Reads one counter or gauge (summed over labels) from the proxy's /metrics. */
export async function readMetric(adminUrl: string, name: string): Promise<number> {
  return (await readMetrics(adminUrl, [name])).get(name)!;
}

/**
 * Several metrics from one scrape (each summed over its labels; NaN when absent). One scrape matters for
 * the event-loop delay gauges: prom-client resets their histogram at every scrape.
 */
export async function readMetrics(adminUrl: string, names: readonly string[]): Promise<Map<string, number>> {
  const res = await fetch(`${adminUrl}/metrics`);
  const samples = parsePrometheusText(await res.text());
  return new Map(names.map((n) => [n, samples.some((s) => s.name === n) ? metricValue(samples, n) : NaN]));
}
