/**
 * Pure core of the uninjected-pod check: with `failurePolicy: Ignore`, a pod created while no webhook replica
 * answered starts without the proxy, and nothing else says so. These functions pick such pods out of a page of
 * a pod list, using the mutator's own opt-in decision, and build the Event that tells the pod's owner.
 */
import { LABELS, NAMESPACE_INJECTION_DISABLED, PROXY_CONTAINER_NAME, ANNOTATIONS } from './annotations';
import type { Config } from './config';
import type { EventObject } from './kube-api';
import { decideOptIn, isProxy } from './patch-builder';
import { podShapeProblem, type Pod } from './pod';

/** Event reason, as `kubectl describe pod` and `kubectl get events` show it. */
export const SIDECAR_MISSING_REASON = 'S3MirrorSidecarMissing';
/** Event source component. */
export const EVENT_COMPONENT = 's3-mirror-webhook';

/**
 * Pods younger than this are left for the next check. Admission is over before a pod is stored, so a young pod
 * without the proxy will not get it later; the grace only spares Events on pods that live a few seconds (a
 * Job pod that fails at once, a ReplicaSet scaled straight down), for at most one check's delay.
 */
export const UNINJECTED_GRACE_SECONDS = 10;

/** Phases of pods that are done: their containers no longer run, so there is nothing left to mirror. */
const FINISHED_PHASES: readonly string[] = ['Succeeded', 'Failed'];

/** The list is asked for live pods only (the API filters; `findUninjected` checks again). */
export const LIVE_PODS_FIELD_SELECTOR = FINISHED_PHASES.map((p) => `status.phase!=${p}`).join(',');

/** A pod that opted in and runs without the proxy. */
export interface UninjectedPod {
  namespace: string;
  name: string;
  uid: string;
}

interface ListedPod extends Pod {
  metadata: Pod['metadata'] & {
    uid?: string;
    creationTimestamp?: string;
    deletionTimestamp?: string;
  };
  status?: { phase?: string };
}

function hasProxy(pod: Pod): boolean {
  return [...(pod.spec.initContainers ?? []), ...pod.spec.containers].some(isProxy);
}

/**
 * Pods of a list page that opted in (the mutator's `decideOptIn`, with the pod's own namespace) but have no
 * container named `PROXY_CONTAINER_NAME`, are not finished or being deleted, and are at least `graceSeconds`
 * old. Objects that are not pods of the expected shape are skipped.
 */
export function findUninjected(
  pods: readonly unknown[],
  now: number,
  config: Config,
  graceSeconds: number = UNINJECTED_GRACE_SECONDS,
): UninjectedPod[] {
  const out: UninjectedPod[] = [];
  for (const raw of pods) {
    if (podShapeProblem(raw) !== undefined) continue;
    const pod = raw as ListedPod;
    const meta = pod.metadata ?? {};
    const namespace = meta.namespace ?? '';
    if (namespace === '' || !meta.name || !meta.uid) continue;
    if (FINISHED_PHASES.includes(pod.status?.phase ?? '') || meta.deletionTimestamp) continue;
    const created = Date.parse(meta.creationTimestamp ?? '');
    if (Number.isFinite(created) && now - created < graceSeconds * 1000) continue;
    if (!decideOptIn(pod, namespace, config).inject || hasProxy(pod)) continue;
    out.push({ namespace, name: meta.name, uid: meta.uid });
  }
  return out;
}

/**
 * The admin opt-out of a whole namespace (the MutatingWebhookConfiguration's namespaceSelector): such pods
 * never reach the webhook, on purpose.
 */
export function namespaceOptedOut(labels: Readonly<Record<string, string>> | null | undefined): boolean {
  return labels?.[LABELS.namespaceInjection] === NAMESPACE_INJECTION_DISABLED;
}

/** Pods per namespace, for the gauge. */
export function countByNamespace(pods: readonly UninjectedPod[]): Map<string, number> {
  const out = new Map<string, number>();
  for (const p of pods) out.set(p.namespace, (out.get(p.namespace) ?? 0) + 1);
  return out;
}

/**
 * One name per pod uid: every replica, and a restarted webhook, creates the same name, so the API server
 * answers 409 instead of storing a second Event for the same pod.
 */
export function sidecarMissingEventName(uid: string): string {
  return `s3-mirror-sidecar-missing.${uid}`;
}

/** The Warning Event on the pod (core/v1; `kubectl describe pod` lists it). */
export function sidecarMissingEvent(pod: UninjectedPod, now: number): EventObject {
  const at = new Date(now).toISOString().replace(/\.\d{3}Z$/, 'Z');
  return {
    metadata: { name: sidecarMissingEventName(pod.uid), namespace: pod.namespace },
    involvedObject: { apiVersion: 'v1', kind: 'Pod', namespace: pod.namespace, name: pod.name, uid: pod.uid },
    reason: SIDECAR_MISSING_REASON,
    message:
      `Pod opted in to s3-mirror (${ANNOTATIONS.inject}) but runs without the ${PROXY_CONTAINER_NAME} ` +
      'container: it was created while the s3-mirror webhook did not answer. Its S3 writes are not mirrored. ' +
      'Recreate the pod (kubectl rollout restart, or delete it) to get the proxy.',
    type: 'Warning',
    source: { component: EVENT_COMPONENT },
    firstTimestamp: at,
    lastTimestamp: at,
    count: 1,
  };
}
