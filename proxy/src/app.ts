import type { AddressInfo } from 'node:net';
import http, { createServer, type ServerResponse } from 'node:http';
import type { Dispatcher } from 'undici';
import { Pool } from './http/undici-pool';
import type { ProxyConfig } from './config';
import type { CredentialHealth } from './credentials';
import type { WriteSink } from './events';
import type { Logger } from './log';
import type { UploadSpoolPort } from './spool';
import type { ProxyMetrics } from './metrics';
import { createAdminHandler } from './http/admin-server';
import { createDataServer } from './http/data-server';
import { OpenResponses } from './http/open-responses';
import type { FailoverInventory } from './http/failover-read';
import { createS3Handler } from './http/s3-handler';
import type { AppActivity } from './mirror/app-priority';
import { mirrorBucketNamer } from './mirror/bucket-name';
import { signedS3Http } from './mirror/s3-http';
import { RequestSigner } from './sigv4/signer';
import { formatDeletePolicy } from './mirror/delete-policy';

/** The background side: inventory and mirroring. */
export interface WriteTrackerLike {
  sink: WriteSink;
  start(): Promise<void>;
  stop(): Promise<void>;
  status?(): object;
  /** The upload spool, when the tracker keeps one. */
  uploads?: UploadSpoolPort;
  /** The inventory as a read failover asks it; absent: no failover. */
  failoverInventory?: FailoverInventory;
  /** The replication status of a key this sidecar wrote (x-amz-replication-status). */
  replicationStatus?(bucket: string, key: string): string | undefined;
  /** Told of every app request (catch-up copies give way to the app). */
  appActivity?: AppActivity;
}

export interface RunningProxy {
  dataAddress: AddressInfo;
  adminAddress: AddressInfo;
  /** Stops accepting, waits for in-flight requests (bounded), then stops the background work. */
  shutdown(): Promise<void>;
  /** Requests the data server has received since start (the memory reclaim keeps code once there are any). */
  requestsServed(): number;
}

function listen(server: http.Server, host: string, port: number): Promise<AddressInfo> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve(server.address() as AddressInfo);
    });
  });
}

export interface StartOptions {
  /** Forwarding to main; undici's Pool unless a caller (the benchmark) compares another client. */
  upstream?: Dispatcher;
  /** Bound on holding a tracked write's answer before relaying its status (tests shorten the 10 s). */
  heldBodyMaxMs?: number;
}

export async function startProxy(
  config: ProxyConfig,
  logger: Logger,
  metrics: ProxyMetrics,
  tracker: WriteTrackerLike,
  options: StartOptions = {},
): Promise<RunningProxy> {
  let accepting = false;
  // Keep-alive pool to main: connection set-up is the largest fixed cost of a small request.
  const upstream =
    options.upstream ??
    new Pool(config.main.url.origin, {
      connections: 256,
      keepAliveTimeout: 30_000,
      headersTimeout: 300_000,
      bodyTimeout: 300_000,
    });
  // Its own pool: the copies' requests to the mirror must not queue a failover read behind them.
  const mirrorReads =
    config.failoverReads !== false && tracker.failoverInventory
      ? signedS3Http(config.mirror, { logger })
      : undefined;
  const handler = createS3Handler({
    config,
    signer: new RequestSigner(config.main),
    upstream,
    sink: tracker.sink,
    logger,
    metrics,
    ...(tracker.uploads ? { uploads: tracker.uploads } : {}),
    ...(tracker.appActivity ? { activity: tracker.appActivity } : {}),
    heldBodyMaxMs: options.heldBodyMaxMs,
    ...(tracker.replicationStatus
      ? { replicationStatus: (bucket: string, key: string) => tracker.replicationStatus!(bucket, key) }
      : {}),
    ...(mirrorReads && tracker.failoverInventory
      ? {
          failover: {
            inventory: tracker.failoverInventory,
            mirror: mirrorReads,
            mirrorBucket: mirrorBucketNamer(config.mirrorBucketTemplate),
          },
        }
      : {}),
  });
  // While draining, every answer not yet started tells the client not to reuse the connection.
  const openResponses = new OpenResponses<ServerResponse>();
  let requestsServed = 0;
  const drainConnection = (res: ServerResponse): void => {
    if (!res.headersSent) res.setHeader('connection', 'close');
  };
  const dataServer = createDataServer(
    config,
    (req, res) => {
      requestsServed++;
      if (!accepting) drainConnection(res);
      const slot = openResponses.add(res);
      res.once('close', () => openResponses.remove(slot, res));
      return handler(req, res);
    },
    logger,
  );
  const credentials = (): { main: CredentialHealth; mirror: CredentialHealth } => ({
    main: config.main.credentials.health(),
    mirror: config.mirror.credentials.health(),
  });
  const adminHttp = createServer(
    createAdminHandler(metrics.registry, {
      // Readiness counts for the whole pod (the proxy is a native sidecar): only main's credentials gate it,
      // since without them every request of the app fails. Expired mirror credentials fail the copies alone
      // (retried, later parked and picked up by the scan) while writes still reach main, so the pod stays in
      // its Service; /readyz's details (credentials.mirror), the expiry gauge and the failure counter say so.
      ready: () => accepting && config.main.credentials.health().ok,
      details: () => ({ credentials: credentials(), ...(tracker.status?.() ?? {}) }),
    }),
  );

  await tracker.start();
  const adminAddress = await listen(adminHttp, config.admin.host, config.admin.port);
  const dataAddress = await listen(dataServer, config.listen.host, config.listen.port);
  accepting = true;
  logger.info('proxy listening', {
    data: `${dataAddress.address}:${dataAddress.port}`,
    admin: `${adminAddress.address}:${adminAddress.port}`,
    main: config.main.url.origin,
    mirror: config.mirror.url.origin,
    mirrorBucketTemplate: config.mirrorBucketTemplate,
    deletePolicy: formatDeletePolicy(config.deletePolicy),
  });

  return {
    dataAddress,
    adminAddress,
    requestsServed: () => requestsServed,
    async shutdown() {
      accepting = false;
      openResponses.forEach(drainConnection);
      const closed = new Promise<void>((resolve) => dataServer.close(() => resolve()));
      // Connections busy now go idle when their response ends: close them then, not after keepAliveTimeout.
      dataServer.closeIdleConnections();
      const idleSweep = setInterval(() => dataServer.closeIdleConnections(), 100);
      const timer = setTimeout(() => dataServer.closeAllConnections(), config.shutdownGraceMs);
      await closed;
      clearInterval(idleSweep);
      clearTimeout(timer);
      await tracker.stop();
      await upstream.close();
      await mirrorReads?.destroy();
      config.main.credentials.stop();
      config.mirror.credentials.stop();
      const adminClosed = new Promise<void>((resolve) => adminHttp.close(() => resolve()));
      // A scraper's keep-alive socket would otherwise hold the exit for keepAliveTimeout (5 s).
      adminHttp.closeAllConnections();
      await adminClosed;
    },
  };
}
