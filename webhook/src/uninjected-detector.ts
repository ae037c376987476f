/**
 * The edge of the uninjected-pod check: every interval, lists the cluster's live pods page by page, keeps the
 * opted-in ones without the proxy (uninjected.ts), drops those in namespaces an admin opted out, sets the
 * gauge and posts one Warning Event per pod. Every replica runs it: the gauge is the same on each, and the
 * Event's name is derived from the pod uid, so a second replica (or a restarted one) gets 409 and no duplicate.
 */
import type { Config } from './config';
import { isStatus, type KubeApi } from './kube-api';
import type { Logger } from './log';
import type { WebhookMetrics } from './metrics';
import {
  countByNamespace,
  findUninjected,
  LIVE_PODS_FIELD_SELECTOR,
  namespaceOptedOut,
  sidecarMissingEvent,
  type UninjectedPod,
} from './uninjected';

/** Pods per list request: bounds the memory of one page (a pod object is a few kB). */
export const POD_PAGE_SIZE = 500;

export interface DetectorDeps {
  api: Pick<KubeApi, 'listPods' | 'getNamespace' | 'createEvent'>;
  config: Config;
  logger: Logger;
  metrics: Pick<WebhookMetrics, 'uninjectedPods' | 'uninjectedChecks' | 'uninjectedEvents'>;
  pageSize?: number;
  now?: () => number;
}

export interface CheckResult {
  ok: boolean;
  listed: number;
  pages: number;
  uninjected: UninjectedPod[];
}

export class UninjectedDetector {
  /** Uids whose Event exists (created by us or another replica); pruned to the pods still found. */
  private readonly reported = new Set<string>();
  private timer: NodeJS.Timeout | undefined;
  private stopped = false;
  private readonly now: () => number;

  constructor(private readonly d: DetectorDeps) {
    this.now = d.now ?? Date.now;
  }

  /** One full pass. Never rejects: a failed list counts as a failed check and leaves the gauge as it was. */
  async check(): Promise<CheckResult> {
    const { api, config, logger, metrics } = this.d;
    const started = this.now();
    let found: UninjectedPod[] = [];
    let listed = 0;
    let pages = 0;
    try {
      let token: string | undefined;
      do {
        const page = await api.listPods({
          limit: this.d.pageSize ?? POD_PAGE_SIZE,
          continue: token,
          fieldSelector: LIVE_PODS_FIELD_SELECTOR,
        });
        pages++;
        listed += page.items.length;
        // Only the few found are kept; each page is dropped before the next is fetched.
        found.push(...findUninjected(page.items, this.now(), config));
        token = page.continue;
      } while (token !== undefined);
      found = await this.withoutOptedOutNamespaces(found);
    } catch (err) {
      metrics.uninjectedChecks.inc({ result: 'failure' });
      logger.warn('uninjected-pod check failed', { error: errorText(err) });
      return { ok: false, listed, pages, uninjected: [] };
    }
    metrics.uninjectedChecks.inc({ result: 'success' });
    metrics.uninjectedPods.reset();
    for (const [namespace, n] of countByNamespace(found)) metrics.uninjectedPods.set({ namespace }, n);

    const current = new Set(found.map((p) => p.uid));
    for (const uid of this.reported) if (!current.has(uid)) this.reported.delete(uid);
    for (const pod of found) {
      if (this.reported.has(pod.uid)) continue;
      logger.warn('opted-in pod runs without the s3-mirror proxy', {
        namespace: pod.namespace,
        pod: pod.name,
      });
      try {
        await api.createEvent(pod.namespace, sidecarMissingEvent(pod, this.now()));
        metrics.uninjectedEvents.inc({ result: 'created' });
        this.reported.add(pod.uid);
      } catch (err) {
        if (isStatus(err, 409)) {
          metrics.uninjectedEvents.inc({ result: 'exists' });
          this.reported.add(pod.uid);
        } else {
          // Retried at the next check.
          metrics.uninjectedEvents.inc({ result: 'failure' });
          logger.warn('could not post the Event on a pod without the s3-mirror proxy', {
            namespace: pod.namespace,
            pod: pod.name,
            error: errorText(err),
          });
        }
      }
    }
    logger.debug('uninjected-pod check', {
      listed,
      pages,
      uninjected: found.length,
      durationMs: this.now() - started,
    });
    return { ok: true, listed, pages, uninjected: found };
  }

  /** Looks up only the namespaces that have such pods (usually none), once per check. */
  private async withoutOptedOutNamespaces(pods: UninjectedPod[]): Promise<UninjectedPod[]> {
    const optedOut = new Map<string, boolean>();
    for (const ns of new Set(pods.map((p) => p.namespace))) {
      const obj = await this.d.api.getNamespace(ns);
      optedOut.set(ns, namespaceOptedOut(obj?.metadata.labels));
    }
    return pods.filter((p) => optedOut.get(p.namespace) !== true);
  }

  /** Checks at once, then `UNINJECTED_CHECK_INTERVAL_SECONDS` after each check ends; no-op when that is 0. */
  start(): void {
    const seconds = this.d.config.webhook.uninjectedCheckIntervalSeconds;
    if (seconds === 0) return;
    const run = () => {
      const rearm = () => {
        if (!this.stopped) this.timer = setTimeout(run, seconds * 1000);
      };
      this.check().then(rearm, rearm);
    };
    run();
  }

  stop(): void {
    this.stopped = true;
    clearTimeout(this.timer);
  }
}

function errorText(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
