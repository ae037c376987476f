/** The few Pod fields the webhook reads. Everything else passes through untouched. */

export interface EnvVar {
  name: string;
  value?: string;
  valueFrom?: unknown;
}

export interface ContainerPort {
  containerPort: number;
  name?: string;
  protocol?: string;
}

export interface Container {
  name: string;
  image?: string;
  env?: EnvVar[] | null;
  envFrom?: unknown[] | null;
  ports?: ContainerPort[] | null;
  restartPolicy?: string;
  [key: string]: unknown;
}

export interface ObjectMeta {
  name?: string;
  generateName?: string;
  namespace?: string;
  labels?: Record<string, string> | null;
  annotations?: Record<string, string> | null;
  ownerReferences?: { kind?: string; name?: string; [key: string]: unknown }[] | null;
  [key: string]: unknown;
}

export interface PodSpec {
  containers: Container[];
  initContainers?: Container[] | null;
  volumes?: { name: string; [key: string]: unknown }[] | null;
  hostNetwork?: boolean;
  restartPolicy?: string;
  [key: string]: unknown;
}

export interface Pod {
  apiVersion?: string;
  kind?: string;
  metadata?: ObjectMeta | null;
  spec: PodSpec;
  [key: string]: unknown;
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Structural check of the fields the builder relies on; returns a reason when the object is not usable. */
export function podShapeProblem(obj: unknown): string | undefined {
  if (!isRecord(obj)) return 'object is not a JSON object';
  if (obj.metadata !== undefined && obj.metadata !== null && !isRecord(obj.metadata))
    return 'metadata is not an object';
  const meta = (obj.metadata ?? {}) as Record<string, unknown>;
  for (const field of ['annotations', 'labels'] as const) {
    const m = meta[field];
    if (m === undefined || m === null) continue;
    if (!isRecord(m)) return `metadata.${field} is not an object`;
    for (const [k, v] of Object.entries(m))
      if (typeof v !== 'string') return `metadata.${field}["${k}"] is not a string`;
  }
  if (!isRecord(obj.spec)) return 'spec is missing';
  const spec = obj.spec;
  if (!Array.isArray(spec.containers) || spec.containers.length === 0)
    return 'spec.containers is missing or empty';
  for (const field of ['containers', 'initContainers'] as const) {
    const list = spec[field];
    if (list === undefined || list === null) continue;
    if (!Array.isArray(list)) return `spec.${field} is not an array`;
    for (const [i, c] of list.entries()) {
      if (!isRecord(c) || typeof c.name !== 'string') return `spec.${field}[${i}] has no name`;
      if (c.env !== undefined && c.env !== null) {
        if (!Array.isArray(c.env)) return `spec.${field}[${i}].env is not an array`;
        for (const e of c.env)
          if (!isRecord(e) || typeof e.name !== 'string')
            return `spec.${field}[${i}].env has an entry without name`;
      }
      if (c.ports !== undefined && c.ports !== null) {
        if (!Array.isArray(c.ports)) return `spec.${field}[${i}].ports is not an array`;
        if (!c.ports.every(isRecord)) return `spec.${field}[${i}].ports has an entry that is not an object`;
      }
      if (c.envFrom !== undefined && c.envFrom !== null && !Array.isArray(c.envFrom))
        return `spec.${field}[${i}].envFrom is not an array`;
    }
  }
  if (spec.volumes !== undefined && spec.volumes !== null) {
    if (!Array.isArray(spec.volumes) || !spec.volumes.every(isRecord))
      return 'spec.volumes is not an array of objects';
  }
  const owners = meta.ownerReferences;
  if (owners !== undefined && owners !== null && (!Array.isArray(owners) || !owners.every(isRecord))) {
    return 'metadata.ownerReferences is not an array of objects';
  }
  return undefined;
}
