/**
 * Adding the proxy's volumes to a pod without ever taking over one of the pod's own: a name that is already
 * used by a different volume gets a numeric suffix, and an identical volume (a spec copied from an injected
 * pod) is reused instead of duplicated.
 */
import { isDeepStrictEqual } from 'node:util';
import { appendAllToArray, type PatchOp } from './json-patch';
import type { PodSpec } from './pod';
import type { ProxyVolume } from './sidecar-container';

export interface VolumePlan {
  /** The name each wanted volume ends up with, in the order given. */
  names: string[];
  ops: PatchOp[];
  warnings: string[];
}

type Volume = NonNullable<PodSpec['volumes']>[number];

/** Pure. `wanted` volumes carry their preferred names; the result says which names to mount. */
export function planVolumes(existing: PodSpec['volumes'], wanted: ProxyVolume[]): VolumePlan {
  const present: Volume[] = [...(existing ?? [])];
  const names: string[] = [];
  const adds: ProxyVolume[] = [];
  const warnings: string[] = [];
  for (const volume of wanted) {
    let name = volume.name;
    for (let i = 1; ; i++) {
      const same = present.find((v) => v.name === name);
      if (same === undefined) {
        adds.push({ ...volume, name });
        present.push({ ...volume, name });
        break;
      }
      if (isDeepStrictEqual(same, { ...volume, name })) break;
      name = `${volume.name}-${i}`;
    }
    if (name !== volume.name) {
      warnings.push(
        `the pod already has a different volume "${volume.name}"; the s3-mirror proxy uses "${name}" instead`,
      );
    }
    names.push(name);
  }
  return { names, ops: appendAllToArray('/spec/volumes', existing, adds), warnings };
}
