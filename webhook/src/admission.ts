/**
 * Pure AdmissionReview handling: validates a decoded body, and turns a build result into an
 * `admission.k8s.io/v1` response (uid echoed, base64 JSONPatch, warnings). Never blocks a pod.
 */
import type { Config } from './config';
import {
  buildPatch,
  decideOptIn,
  type BuildResult,
  type SecretState,
  type SkipReason,
} from './patch-builder';
import { podShapeProblem, type Pod } from './pod';

export const ADMISSION_API_VERSION = 'admission.k8s.io/v1';

/**
 * The API server may truncate warnings longer than 256 characters and drops them past 4096 in total, so ours
 * stay within both: at most this many, each at most this long (user-controlled values such as annotation
 * values are quoted in them).
 */
export const MAX_WARNINGS = 16;
export const MAX_WARNING_LENGTH = 256;

export interface AdmissionRequest {
  uid: string;
  kind?: { group?: string; version?: string; kind?: string };
  resource?: { group?: string; version?: string; resource?: string };
  subResource?: string;
  namespace?: string;
  operation?: string;
  object?: unknown;
  dryRun?: boolean;
}

export type DecodeResult = { ok: true; request: AdmissionRequest } | { ok: false; message: string };

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Validates the envelope. A failure becomes an HTTP 400 with the message. */
export function decodeReview(body: unknown): DecodeResult {
  if (!isRecord(body)) return { ok: false, message: 'body is not a JSON object' };
  if (body.kind !== 'AdmissionReview')
    return { ok: false, message: `kind must be AdmissionReview, got ${JSON.stringify(body.kind)}` };
  if (body.apiVersion !== ADMISSION_API_VERSION) {
    return {
      ok: false,
      message: `unsupported apiVersion ${JSON.stringify(body.apiVersion)}; only ${ADMISSION_API_VERSION} is served`,
    };
  }
  const request = body.request;
  if (!isRecord(request)) return { ok: false, message: 'request is missing' };
  if (typeof request.uid !== 'string' || request.uid === '')
    return { ok: false, message: 'request.uid is missing' };
  if (request.namespace !== undefined && typeof request.namespace !== 'string') {
    return { ok: false, message: 'request.namespace is not a string' };
  }
  return { ok: true, request: request as unknown as AdmissionRequest };
}

/** The pod and namespace to work on, or why there is nothing to do. */
export type Target =
  { ok: true; pod: Pod; namespace: string } | { ok: false; reason: SkipReason; detail?: string };

export function admissionTarget(request: AdmissionRequest): Target {
  const k = request.kind ?? {};
  const isPod = (k.group ?? '') === '' && k.version === 'v1' && k.kind === 'Pod';
  if (!isPod || (request.subResource ?? '') !== '' || request.operation !== 'CREATE') {
    return { ok: false, reason: 'not-a-pod-create' };
  }
  const problem = podShapeProblem(request.object);
  if (problem) return { ok: false, reason: 'malformed-pod', detail: problem };
  const pod = request.object as Pod;
  // Pods from controllers often have an empty metadata.namespace: the request's namespace is authoritative.
  const namespace = request.namespace || pod.metadata?.namespace || '';
  return { ok: true, pod, namespace };
}

/** Whether the edge should look up the credentials Secret for this request. */
export function needsSecretCheck(target: Target, config: Config): boolean {
  return target.ok && decideOptIn(target.pod, target.namespace, config).inject;
}

export interface AdmissionOutcome {
  review: Record<string, unknown>;
  result: BuildResult | { action: 'skip'; reason: SkipReason; patch: []; warnings: string[] };
  namespace: string;
}

function clampWarnings(warnings: string[]): string[] {
  const unique = [...new Set(warnings)];
  const out = unique
    .slice(0, MAX_WARNINGS)
    .map((w) => (w.length > MAX_WARNING_LENGTH ? w.slice(0, MAX_WARNING_LENGTH - 3) + '...' : w));
  if (unique.length > MAX_WARNINGS)
    out[MAX_WARNINGS - 1] = `${unique.length - MAX_WARNINGS + 1} more s3-mirror warnings`;
  return out;
}

/** Pure: decoded request + cached config + Secret state → AdmissionReview response. */
export function admit(
  request: AdmissionRequest,
  config: Config,
  credentialsSecret: SecretState,
): AdmissionOutcome {
  const target = admissionTarget(request);
  let result: AdmissionOutcome['result'];
  let namespace = request.namespace ?? '';
  if (!target.ok) {
    const warnings = target.detail ? [`s3-mirror proxy not injected: ${target.detail}`] : [];
    result = { action: 'skip', reason: target.reason, patch: [], warnings };
  } else {
    namespace = target.namespace;
    result = buildPatch({ pod: target.pod, namespace, config, credentialsSecret });
  }
  const response: Record<string, unknown> = { uid: request.uid, allowed: true };
  if (result.patch.length > 0) {
    response.patchType = 'JSONPatch';
    response.patch = Buffer.from(JSON.stringify(result.patch)).toString('base64');
  }
  if (result.warnings.length > 0) response.warnings = clampWarnings(result.warnings);
  return {
    review: { apiVersion: ADMISSION_API_VERSION, kind: 'AdmissionReview', response },
    result,
    namespace,
  };
}
