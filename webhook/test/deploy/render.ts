/**
 * Renders the kustomizations under deploy/ with `kubectl kustomize` and validates the objects: built-in kinds
 * against the Kubernetes OpenAPI schemas (kubernetes-models), CRD kinds (cert-manager, Prometheus Operator)
 * with minimal shape checks.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { parseAllDocuments } from 'yaml';

export const ROOT = join(__dirname, '..', '..', '..');
export const DEPLOY = join(ROOT, 'deploy');

/** A rendered object: open-ended JSON (apiVersion, kind, metadata.name, ...); tests narrow it field by field. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type K8sObject = any;

/**
 * Every directory under deploy/ holding a kustomization.yaml, relative to the repository root. Kustomize
 * Components (`kind: Component`) only build inside a kustomization that includes them: `components` lists
 * them, the default leaves them out.
 */
export function kustomizationDirs(
  dir = DEPLOY,
  kind: 'Kustomization' | 'Component' = 'Kustomization',
): string[] {
  const out: string[] = [];
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) out.push(...kustomizationDirs(p, kind));
    else if (name === 'kustomization.yaml' || name === 'kustomization.yml') {
      const [doc] = parseYaml(readFileSync(p, 'utf8'), p);
      if ((doc?.kind ?? 'Kustomization') === kind) out.push(relative(ROOT, dir));
    }
  }
  return out.sort();
}

export function kubectlAvailable(): boolean {
  try {
    // env given explicitly: jest's sandboxed process.env is not what child_process would use otherwise.
    execFileSync('kubectl', ['version', '--client'], { stdio: 'ignore', env: process.env });
    return true;
  } catch {
    return false;
  }
}

const rendered = new Map<string, K8sObject[]>();

/** `kubectl kustomize <dir>` → objects (cached per directory). */
export function render(dir: string): K8sObject[] {
  const cached = rendered.get(dir);
  if (cached) return cached;
  if (!kubectlAvailable()) {
    throw new Error(
      'kubectl is not installed: the deploy tests render the kustomizations with `kubectl kustomize`. ' +
        'Install kubectl (https://kubernetes.io/docs/tasks/tools/, or the Debian package from pkgs.k8s.io).',
    );
  }
  const text = execFileSync('kubectl', ['kustomize', join(ROOT, dir)], {
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'pipe'],
    env: process.env,
  });
  const objects = parseYaml(text, dir);
  rendered.set(dir, objects);
  return objects;
}

export function parseYaml(text: string, where: string): K8sObject[] {
  const out: K8sObject[] = [];
  for (const doc of parseAllDocuments(text)) {
    if (doc.errors.length > 0) throw new Error(`${where}: ${doc.errors.map((e) => e.message).join('; ')}`);
    const obj: unknown = doc.toJS();
    if (obj !== null && obj !== undefined) out.push(obj as K8sObject);
  }
  return out;
}

export function ofKind(objects: K8sObject[], kind: string): K8sObject[] {
  return objects.filter((o) => o.kind === kind);
}

export function one(objects: K8sObject[], kind: string, name?: string): K8sObject {
  const found = objects.filter((o) => o.kind === kind && (name === undefined || o.metadata.name === name));
  if (found.length !== 1)
    throw new Error(`expected one ${kind}${name ? ` ${name}` : ''}, found ${found.length}`);
  return found[0];
}

/** Throws with the schema errors if the object is not valid; returns how it was checked. */
export function validateObject(obj: K8sObject): 'schema' | 'crd-shape' {
  if (typeof obj.apiVersion !== 'string' || typeof obj.kind !== 'string')
    throw new Error('no apiVersion/kind');
  if (typeof obj.metadata?.name !== 'string' || obj.metadata.name === '') throw new Error('no metadata.name');
  const crd = CRD_SHAPES[`${obj.apiVersion}/${obj.kind}`];
  if (crd) {
    const problem = crd(obj);
    if (problem) throw new Error(`${obj.kind} ${obj.metadata.name}: ${problem}`);
    return 'crd-shape';
  }
  const modulePath = `kubernetes-models/${obj.apiVersion}`;
  let mod: Record<string, unknown>;
  try {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    mod = require(modulePath) as Record<string, unknown>;
  } catch {
    throw new Error(`unknown apiVersion ${obj.apiVersion} (no ${modulePath})`);
  }
  const Model = mod[obj.kind] as (new (o: unknown) => { validate(): void }) | undefined;
  if (!Model) throw new Error(`unknown kind ${obj.kind} in ${obj.apiVersion}`);
  new Model(obj).validate();
  return 'schema';
}

const isObj = (v: unknown): v is Record<string, unknown> =>
  typeof v === 'object' && v !== null && !Array.isArray(v);
const nonEmptyString = (v: unknown): v is string => typeof v === 'string' && v !== '';

/** Minimal checks for the custom resources used here (their CRDs are not installed in tests). */
export const CRD_SHAPES: Record<string, (o: K8sObject) => string | undefined> = {
  'cert-manager.io/v1/Issuer': (o) => {
    const s = o.spec;
    if (!isObj(s)) return 'no spec';
    const kinds = ['selfSigned', 'ca', 'acme', 'vault', 'venafi'].filter((k) => k in s);
    if (kinds.length !== 1) return 'spec needs exactly one issuer type';
    if ('ca' in s && !nonEmptyString((s.ca as Record<string, unknown>)?.secretName)) return 'ca.secretName';
    return undefined;
  },
  'cert-manager.io/v1/Certificate': (o) => {
    const s = o.spec;
    if (!isObj(s)) return 'no spec';
    if (!nonEmptyString(s.secretName)) return 'spec.secretName';
    if (!isObj(s.issuerRef) || !nonEmptyString(s.issuerRef.name)) return 'spec.issuerRef.name';
    if (!['Issuer', 'ClusterIssuer', undefined].includes(s.issuerRef.kind as string)) return 'issuerRef.kind';
    if (s.isCA !== true && (!Array.isArray(s.dnsNames) || s.dnsNames.length === 0)) return 'spec.dnsNames';
    if (s.isCA === true && !nonEmptyString(s.commonName)) return 'spec.commonName for a CA';
    return undefined;
  },
  'monitoring.coreos.com/v1/PrometheusRule': (o) => {
    const groups = o.spec?.groups;
    if (!Array.isArray(groups) || groups.length === 0) return 'spec.groups';
    for (const g of groups) {
      if (!nonEmptyString(g.name) || !Array.isArray(g.rules) || g.rules.length === 0)
        return 'group name/rules';
      for (const r of g.rules) {
        if (!nonEmptyString(r.alert) && !nonEmptyString(r.record)) return 'rule needs alert or record';
        if (!nonEmptyString(r.expr)) return `rule ${r.alert}: expr`;
        if (r.for !== undefined && !/^(\d+(ms|s|m|h|d|w|y))+$/.test(r.for)) return `rule ${r.alert}: for`;
        if (r.labels !== undefined && !isObj(r.labels)) return `rule ${r.alert}: labels`;
      }
    }
    return undefined;
  },
  'monitoring.coreos.com/v1/PodMonitor': (o) => {
    const s = o.spec;
    if (!isObj(s) || !isObj(s.selector)) return 'spec.selector';
    if (!Array.isArray(s.podMetricsEndpoints) || s.podMetricsEndpoints.length === 0)
      return 'podMetricsEndpoints';
    for (const e of s.podMetricsEndpoints) if (!nonEmptyString(e.port)) return 'endpoint port (name)';
    return undefined;
  },
  'monitoring.coreos.com/v1/ServiceMonitor': (o) => {
    const s = o.spec;
    if (!isObj(s) || !isObj(s.selector)) return 'spec.selector';
    if (!Array.isArray(s.endpoints) || s.endpoints.length === 0) return 'endpoints';
    for (const e of s.endpoints) if (!nonEmptyString(e.port)) return 'endpoint port (name)';
    return undefined;
  },
};

export interface LabelSelector {
  matchLabels?: Record<string, string>;
  matchExpressions?: {
    key: string;
    operator: 'In' | 'NotIn' | 'Exists' | 'DoesNotExist';
    values?: string[];
  }[];
}

/** Kubernetes label selector semantics. */
export function selectorMatches(sel: LabelSelector | undefined, labels: Record<string, string>): boolean {
  if (!sel) return true;
  for (const [k, v] of Object.entries(sel.matchLabels ?? {})) if (labels[k] !== v) return false;
  for (const e of sel.matchExpressions ?? []) {
    const has = Object.prototype.hasOwnProperty.call(labels, e.key);
    const v = labels[e.key];
    const ok =
      e.operator === 'In'
        ? has && (e.values ?? []).includes(v!)
        : e.operator === 'NotIn'
          ? !has || !(e.values ?? []).includes(v!)
          : e.operator === 'Exists'
            ? has
            : !has;
    if (!ok) return false;
  }
  return true;
}

export function fileExists(rel: string): boolean {
  return existsSync(join(ROOT, rel));
}
