/**
 * A private CA for the proxy's HTTPS to main and the mirror (an in-cluster Ceph RGW or MinIO behind an
 * internal CA): one key of a ConfigMap or Secret in the pod's namespace (as trust-manager or cert-manager
 * write them), mounted read-only into the proxy and named by NODE_EXTRA_CA_CERTS. Node adds it to the CAs
 * it ships, so public endpoints keep working.
 */
export type CaBundleKind = 'configmap' | 'secret';

/** Which ConfigMap or Secret, in the pod's namespace. */
export interface CaBundleRef {
  kind: CaBundleKind;
  name: string;
}

export interface CaBundleSource extends CaBundleRef {
  /** The key in that object holding the PEM certificates. */
  key: string;
}

export const CA_BUNDLE_VOLUME_NAME = 's3-mirror-ca';
export const CA_BUNDLE_MOUNT_PATH = '/etc/s3-mirror/ca';
/** The file the key is projected to, whatever the key's name. */
export const CA_BUNDLE_FILE = 'ca.crt';
export const CA_BUNDLE_ENV = 'NODE_EXTRA_CA_CERTS';

/** A DNS-1123 subdomain, what Kubernetes allows as a ConfigMap or Secret name. */
const OBJECT_NAME_RE = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
/** Characters Kubernetes allows in a ConfigMap or Secret key (which also may not be `.` or start with `..`). */
const KEY_RE = /^[-._a-zA-Z0-9]+$/;

/** Pure: `configmap/<name>` or `secret/<name>` (kind in any case); '' = none; undefined when invalid. */
export function parseCaBundleRef(value: string): CaBundleRef | '' | undefined {
  const v = value.trim();
  if (v === '') return '';
  const m = /^(configmap|secret)\/(.+)$/i.exec(v);
  if (!m) return undefined;
  const name = m[2]!;
  if (name.length > 253 || !OBJECT_NAME_RE.test(name)) return undefined;
  return { kind: m[1]!.toLowerCase() as CaBundleKind, name };
}

export function isCaBundleKey(value: string): boolean {
  return value.length <= 253 && KEY_RE.test(value) && value !== '.' && !value.startsWith('..');
}

interface Projection {
  items: { key: string; path: string }[];
  defaultMode: number;
}

export interface CaBundleVolume {
  name: string;
  configMap?: { name: string } & Projection;
  secret?: { secretName: string } & Projection;
}

/**
 * The volume that puts the one key at CA_BUNDLE_FILE; a missing object or key keeps the pod from starting.
 * defaultMode is the API server's default, spelled out so a spec copied from an injected pod matches.
 */
export function buildCaBundleVolume(source: CaBundleSource, name: string): CaBundleVolume {
  const projection = { items: [{ key: source.key, path: CA_BUNDLE_FILE }], defaultMode: 0o644 };
  return source.kind === 'configmap'
    ? { name, configMap: { name: source.name, ...projection } }
    : { name, secret: { secretName: source.name, ...projection } };
}

export function caBundleMount(volumeName: string): { name: string; mountPath: string; readOnly: true } {
  return { name: volumeName, mountPath: CA_BUNDLE_MOUNT_PATH, readOnly: true };
}

export const CA_BUNDLE_ENV_VAR = { name: CA_BUNDLE_ENV, value: `${CA_BUNDLE_MOUNT_PATH}/${CA_BUNDLE_FILE}` };
