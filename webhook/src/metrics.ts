import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

/** Every metric name the webhook exports. Deploy manifests (alerts, dashboard) are checked against this list. */
export const METRIC_NAMES = {
  /** Labels: result (injected, updated, skipped, error), reason (skip reason, or error kind). */
  admissionRequests: 's3mirror_webhook_admission_requests_total',
  /** Labels: namespace. */
  injections: 's3mirror_webhook_injections_total',
  /** Labels: result. */
  admissionDuration: 's3mirror_webhook_admission_duration_seconds',
  /** Admission warnings returned. */
  warnings: 's3mirror_webhook_warnings_total',
  /** Credentials Secret lookups. Labels: result (found, missing, error). */
  secretChecks: 's3mirror_webhook_secret_checks_total',
  /** Unix time when the serving certificate expires. */
  certificateExpiry: 's3mirror_webhook_certificate_expiry_timestamp_seconds',
  /** Certificate loads. Labels: source (files, secret), result (success, failure). */
  certificateLoads: 's3mirror_webhook_certificate_loads_total',
  /** Writes done by the self-managed certificate manager. Labels: kind (secret, ca_bundle), result. */
  certificateWrites: 's3mirror_webhook_certificate_writes_total',
  /** 1 while a serving certificate is loaded. */
  ready: 's3mirror_webhook_ready',
  /** Opted-in pods running without the proxy container, at the last check. Labels: namespace (the pod's). */
  uninjectedPods: 's3mirror_webhook_uninjected_pods',
  /** Checks for such pods. Labels: result (success, failure). */
  uninjectedChecks: 's3mirror_webhook_uninjected_checks_total',
  /** Events posted on such pods. Labels: result (created, exists, failure). */
  uninjectedEvents: 's3mirror_webhook_uninjected_events_total',
} as const;

/**
 * Prefix of prom-client's default metrics, which already start with `process_` or `nodejs_`: so they become
 * `s3mirror_webhook_process_resident_memory_bytes`, `s3mirror_webhook_nodejs_heap_size_used_bytes`, ...
 */
export const DEFAULT_METRICS_PREFIX = 's3mirror_webhook_';

export type WebhookMetrics = ReturnType<typeof createMetrics>;

export function createMetrics() {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: DEFAULT_METRICS_PREFIX });
  const registers = [registry];
  return {
    registry,
    admissionRequests: new Counter({
      name: METRIC_NAMES.admissionRequests,
      help: 'Admission requests by result and reason',
      labelNames: ['result', 'reason'] as const,
      registers,
    }),
    injections: new Counter({
      name: METRIC_NAMES.injections,
      help: 'Pods that got the proxy sidecar, by namespace',
      labelNames: ['namespace'] as const,
      registers,
    }),
    admissionDuration: new Histogram({
      name: METRIC_NAMES.admissionDuration,
      help: 'Time to answer an admission request',
      labelNames: ['result'] as const,
      buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
      registers,
    }),
    warnings: new Counter({ name: METRIC_NAMES.warnings, help: 'Admission warnings returned', registers }),
    secretChecks: new Counter({
      name: METRIC_NAMES.secretChecks,
      help: 'Credentials Secret lookups by result',
      labelNames: ['result'] as const,
      registers,
    }),
    certificateExpiry: new Gauge({
      name: METRIC_NAMES.certificateExpiry,
      help: 'Unix time when the serving certificate expires',
      registers,
    }),
    certificateLoads: new Counter({
      name: METRIC_NAMES.certificateLoads,
      help: 'Serving certificate loads by source and result',
      labelNames: ['source', 'result'] as const,
      registers,
    }),
    certificateWrites: new Counter({
      name: METRIC_NAMES.certificateWrites,
      help: 'Self-managed certificate writes (Secret, caBundle) by result',
      labelNames: ['kind', 'result'] as const,
      registers,
    }),
    ready: new Gauge({
      name: METRIC_NAMES.ready,
      help: '1 while a serving certificate is loaded',
      registers,
    }),
    // Only namespaces that have such pods get a series: bounded by the cluster's namespaces, usually none.
    uninjectedPods: new Gauge({
      name: METRIC_NAMES.uninjectedPods,
      help: 'Opted-in pods running without the s3-mirror proxy container, at the last check',
      labelNames: ['namespace'] as const,
      registers,
    }),
    uninjectedChecks: new Counter({
      name: METRIC_NAMES.uninjectedChecks,
      help: 'Checks for opted-in pods without the proxy, by result',
      labelNames: ['result'] as const,
      registers,
    }),
    uninjectedEvents: new Counter({
      name: METRIC_NAMES.uninjectedEvents,
      help: 'Warning Events posted on opted-in pods without the proxy, by result',
      labelNames: ['result'] as const,
      registers,
    }),
  };
}
