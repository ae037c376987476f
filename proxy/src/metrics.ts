import { Counter, Gauge, Histogram, Registry, collectProcessMetrics } from './prometheus';

/** Every metric name the proxy exports. Deploy manifests (alerts, dashboard) are checked against this list. */
export const METRIC_NAMES = {
  requests: 's3mirror_proxy_requests_total',
  upstreamDuration: 's3mirror_proxy_upstream_duration_seconds',
  requestBytes: 's3mirror_proxy_request_bytes_total',
  responseBytes: 's3mirror_proxy_response_bytes_total',
  inFlight: 's3mirror_proxy_in_flight_requests',
  rejected: 's3mirror_proxy_rejected_requests_total',
  failoverReads: 's3mirror_proxy_failover_reads_total',
  mirrorOperations: 's3mirror_mirror_operations_total',
  mirrorPending: 's3mirror_mirror_pending',
  mirrorLag: 's3mirror_mirror_lag_seconds',
  mirrorBytes: 's3mirror_mirror_bytes_total',
  mirrorGaveWay: 's3mirror_mirror_gave_way_seconds_total',
  mirrorDuration: 's3mirror_mirror_duration_seconds',
  mirrorCopies: 's3mirror_mirror_copies_total',
  mirrorSourceBytes: 's3mirror_mirror_source_bytes_total',
  spoolBytes: 's3mirror_mirror_spool_bytes',
  spoolMemoryBytes: 's3mirror_mirror_spool_memory_bytes',
  spoolFiles: 's3mirror_mirror_spool_files',
  spoolAbandoned: 's3mirror_mirror_spool_abandoned_total',
  inventoryWriteFailures: 's3mirror_inventory_write_failures_total',
  inventoryWrites: 's3mirror_inventory_writes_total',
  inventoryMemoryQueue: 's3mirror_inventory_memory_queue',
  inventoryEventsDropped: 's3mirror_inventory_events_dropped_total',
  journalBytes: 's3mirror_inventory_journal_bytes',
  journalEnabled: 's3mirror_inventory_journal_enabled',
  scanObjects: 's3mirror_scan_objects_total',
  scanDifferences: 's3mirror_scan_differences_total',
  scanLastComplete: 's3mirror_scan_last_complete_timestamp_seconds',
  scanIntervalSeconds: 's3mirror_scan_interval_seconds',
  scanNextDue: 's3mirror_scan_next_due_timestamp_seconds',
  mirrorParked: 's3mirror_mirror_parked',
  mirrorParkedTotal: 's3mirror_mirror_parked_total',
  journalUnjournaled: 's3mirror_inventory_journal_unjournaled_total',
  journalReplayed: 's3mirror_inventory_journal_replayed_total',
  journalDamagedLines: 's3mirror_inventory_journal_damaged_lines_total',
  credentialsRefreshFailures: 's3mirror_credentials_refresh_failures_total',
  credentialsExpiry: 's3mirror_credentials_expiration_timestamp_seconds',
  memoryReclaims: 's3mirror_proxy_memory_reclaims_total',
  memoryReclaimedBytes: 's3mirror_proxy_memory_reclaimed_bytes_total',
  bodyScavenges: 's3mirror_proxy_body_scavenges_total',
  bodyFullCollections: 's3mirror_proxy_body_full_collections_total',
} as const;

export type ProxyMetrics = ReturnType<typeof createMetrics>;

/**
 * How often the event-loop delay histogram samples (prom-client's default: 10 ms). Each sample is a libuv
 * timer wake-up: at 10 ms they were most of an idle proxy's CPU (about 8 of 9 ms per second, test/bench
 * idle-probe). Its values are the time between samples, so at rest they read about this interval.
 */
export const EVENT_LOOP_SAMPLE_MS = 100;

export function createMetrics() {
  const registry = new Registry();
  collectProcessMetrics(registry, {
    prefix: 's3mirror_proxy_',
    eventLoopMonitoringPrecision: EVENT_LOOP_SAMPLE_MS,
  });
  const registers = [registry];
  return {
    registry,
    requests: new Counter({
      name: METRIC_NAMES.requests,
      help: 'S3 requests handled, by operation and HTTP status',
      labelNames: ['operation', 'status'] as const,
      registers,
    }),
    upstreamDuration: new Histogram({
      name: METRIC_NAMES.upstreamDuration,
      help: 'Time from forwarding a request to main S3 until its response headers arrive',
      labelNames: ['operation'] as const,
      buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
      registers,
    }),
    requestBytes: new Counter({
      name: METRIC_NAMES.requestBytes,
      help: 'Request body bytes forwarded to main S3',
      registers,
    }),
    responseBytes: new Counter({
      name: METRIC_NAMES.responseBytes,
      help: 'Response body bytes returned to apps',
      registers,
    }),
    inFlight: new Gauge({ name: METRIC_NAMES.inFlight, help: 'Requests in flight', registers }),
    rejected: new Counter({
      name: METRIC_NAMES.rejected,
      help: 'Requests the proxy answered itself without forwarding, by S3 error code',
      labelNames: ['code'] as const,
      registers,
    }),
    failoverReads: new Counter({
      name: METRIC_NAMES.failoverReads,
      help: 'GET/HEAD requests main failed that were served from the mirror (result="served") or not (the reason)',
      labelNames: ['result'] as const,
      registers,
    }),
    mirrorOperations: new Counter({
      name: METRIC_NAMES.mirrorOperations,
      help: 'Mirror operations by action (copy, delete, keep: a delete the delete policy kept off the mirror) and result (success, failure)',
      labelNames: ['action', 'result'] as const,
      registers,
    }),
    mirrorPending: new Gauge({
      name: METRIC_NAMES.mirrorPending,
      help: 'Inventory rows waiting to be mirrored (is_backed_up = false), as last seen by this sidecar',
      registers,
    }),
    mirrorLag: new Gauge({
      name: METRIC_NAMES.mirrorLag,
      help: 'Age in seconds of the oldest write not yet mirrored (replication lag)',
      registers,
    }),
    mirrorBytes: new Counter({
      name: METRIC_NAMES.mirrorBytes,
      help: 'Bytes copied to the mirror',
      registers,
    }),
    mirrorGaveWay: new Counter({
      name: METRIC_NAMES.mirrorGaveWay,
      help: 'Seconds catch-up copies held their bodies back while the app was busy (MIRROR_CATCHUP_BYTES_PER_SECOND)',
      registers,
    }),
    mirrorDuration: new Histogram({
      name: METRIC_NAMES.mirrorDuration,
      help: 'Time to mirror one object state',
      labelNames: ['action'] as const,
      buckets: [0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300],
      registers,
    }),
    mirrorCopies: new Counter({
      name: METRIC_NAMES.mirrorCopies,
      help: 'Successful mirror copies by where the bytes were read: spool (the upload kept on local disk) or main',
      labelNames: ['source'] as const,
      registers,
    }),
    mirrorSourceBytes: new Counter({
      name: METRIC_NAMES.mirrorSourceBytes,
      help: 'Bytes of successful mirror copies by where they were read: spool or main (a second read of main)',
      labelNames: ['source'] as const,
      registers,
    }),
    spoolBytes: new Gauge({
      name: METRIC_NAMES.spoolBytes,
      help: 'Disk space held by the upload spool (STATE_DIR/spool, block-rounded), bounded by SPOOL_MAX_BYTES',
      registers,
    }),
    spoolMemoryBytes: new Gauge({
      name: METRIC_NAMES.spoolMemoryBytes,
      help: 'Memory held by small upload bodies the spool keeps in memory instead of on disk (SPOOL_MEMORY_BYTES)',
      registers,
    }),
    spoolFiles: new Gauge({
      name: METRIC_NAMES.spoolFiles,
      help: 'Uploads in the spool, on disk or in memory (being written, or complete and waiting for their mirror copy)',
      registers,
    }),
    spoolAbandoned: new Counter({
      name: METRIC_NAMES.spoolAbandoned,
      help: 'Uploads not spooled or spool files dropped unused, by reason; their copies read from main',
      labelNames: ['reason'] as const,
      registers,
    }),
    inventoryWriteFailures: new Counter({
      name: METRIC_NAMES.inventoryWriteFailures,
      help: 'Failed attempts to write inventory rows to Postgres',
      registers,
    }),
    inventoryWrites: new Counter({
      name: METRIC_NAMES.inventoryWrites,
      help: 'Inventory rows written, by kind (put, delete)',
      labelNames: ['kind'] as const,
      registers,
    }),
    inventoryMemoryQueue: new Gauge({
      name: METRIC_NAMES.inventoryMemoryQueue,
      help: 'Acknowledged writes held in memory until Postgres records them',
      registers,
    }),
    inventoryEventsDropped: new Counter({
      name: METRIC_NAMES.inventoryEventsDropped,
      help: 'Acknowledged writes forgotten before Postgres recorded them (memory and journal full); run resync',
      registers,
    }),
    scanObjects: new Counter({
      name: METRIC_NAMES.scanObjects,
      help: "Objects of main's listings compared with the mirror and the inventory by the anti-entropy scan",
      registers,
    }),
    scanDifferences: new Counter({
      name: METRIC_NAMES.scanDifferences,
      help: 'Differences the anti-entropy scan found and re-queued, by kind (a write was lost upstream, or parked)',
      labelNames: ['kind'] as const,
      registers,
    }),
    scanLastComplete: new Gauge({
      name: METRIC_NAMES.scanLastComplete,
      help: 'Unix time of the last complete anti-entropy pass over the bucket (by any sidecar)',
      labelNames: ['bucket'] as const,
      registers,
    }),
    scanNextDue: new Gauge({
      name: METRIC_NAMES.scanNextDue,
      help: 'Unix time when the next anti-entropy pass over the bucket is due (last complete pass + SCAN_INTERVAL_SECONDS)',
      labelNames: ['bucket'] as const,
      registers,
    }),
    scanIntervalSeconds: new Gauge({
      name: METRIC_NAMES.scanIntervalSeconds,
      help: 'SCAN_INTERVAL_SECONDS: time between anti-entropy passes over a bucket (0: the scan is off)',
      registers,
    }),
    mirrorParked: new Gauge({
      name: METRIC_NAMES.mirrorParked,
      help: 'Inventory rows parked after MIRROR_MAX_ATTEMPTS failed copies; the anti-entropy scan retries them',
      registers,
    }),
    mirrorParkedTotal: new Counter({
      name: METRIC_NAMES.mirrorParkedTotal,
      help: 'Rows this sidecar parked after MIRROR_MAX_ATTEMPTS failed copies, by reason (the last error name)',
      labelNames: ['reason'] as const,
      registers,
    }),
    journalEnabled: new Gauge({
      name: METRIC_NAMES.journalEnabled,
      help: '1 when acknowledged writes are journaled on disk before the answer (STATE_DIR); 0 with STATE_DIR=off',
      registers,
    }),
    journalBytes: new Gauge({
      name: METRIC_NAMES.journalBytes,
      help: 'Bytes of the write-ahead journal on disk (STATE_DIR), bounded by JOURNAL_MAX_BYTES',
      registers,
    }),
    journalUnjournaled: new Counter({
      name: METRIC_NAMES.journalUnjournaled,
      help: 'Acknowledged writes the journal could not take, by reason (full, error); held in memory only',
      labelNames: ['reason'] as const,
      registers,
    }),
    journalReplayed: new Counter({
      name: METRIC_NAMES.journalReplayed,
      help: 'Journal entries read back from disk (after a restart, or after the memory queue was full)',
      registers,
    }),
    journalDamagedLines: new Counter({
      name: METRIC_NAMES.journalDamagedLines,
      help: 'Torn or damaged journal lines skipped while reading back',
      registers,
    }),
    credentialsRefreshFailures: new Counter({
      name: METRIC_NAMES.credentialsRefreshFailures,
      help: 'Failed fetches of temporary credentials (retried with backoff), by side (main, mirror)',
      labelNames: ['side'] as const,
      registers,
    }),
    credentialsExpiry: new Gauge({
      name: METRIC_NAMES.credentialsExpiry,
      help: 'When the credentials in hand expire (Unix seconds), by side; absent for static keys',
      labelNames: ['side'] as const,
      registers,
    }),
    memoryReclaims: new Counter({
      name: METRIC_NAMES.memoryReclaims,
      help: 'Times the quiet proxy gave memory back after growing (malloc_trim, after a full garbage collection when dead Buffers were worth one)',
      registers,
    }),
    memoryReclaimedBytes: new Counter({
      name: METRIC_NAMES.memoryReclaimedBytes,
      help: 'Resident memory given back by those reclaims (RSS before minus after)',
      registers,
    }),
    bodyScavenges: new Counter({
      name: METRIC_NAMES.bodyScavenges,
      help: 'Young-generation garbage collections started while bodies streamed, each when Buffer memory stood 16 MiB above its lowest since the last',
      registers,
    }),
    bodyFullCollections: new Counter({
      name: METRIC_NAMES.bodyFullCollections,
      help: 'Full garbage collections started while bodies streamed, each when the lowest Buffer memory between young-generation ones had risen 16 MiB since the last full one (dead Buffers in the old generation)',
      registers,
    }),
  };
}
