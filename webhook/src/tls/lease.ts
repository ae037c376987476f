/** A coordination.k8s.io/v1 Lease as a single-writer lock for the self-managed certificate. */
import { isStatus, type KubeApi, type LeaseObject } from '../kube-api';

export interface LeaseLockOptions {
  api: KubeApi;
  namespace: string;
  name: string;
  identity: string;
  durationSeconds: number;
  now: () => number;
}

/** Kubernetes MicroTime: RFC 3339 with microseconds. */
export function microTime(ms: number): string {
  return new Date(ms).toISOString().replace(/\.(\d{3})Z$/, '.$1000Z');
}

export class LeaseLock {
  constructor(private readonly o: LeaseLockOptions) {}

  private held(lease: LeaseObject, now: number): boolean {
    const holder = lease.spec.holderIdentity ?? '';
    if (holder === '') return false;
    const renew = Date.parse(lease.spec.renewTime ?? lease.spec.acquireTime ?? '');
    const duration = (lease.spec.leaseDurationSeconds ?? this.o.durationSeconds) * 1000;
    return Number.isFinite(renew) && renew + duration > now;
  }

  /** True when this identity now holds the lease. Losing a race (409) is a plain false. */
  async tryAcquire(): Promise<boolean> {
    const { api, namespace, name, identity } = this.o;
    const now = this.o.now();
    const existing = await api.getLease(namespace, name);
    const spec = {
      holderIdentity: identity,
      leaseDurationSeconds: this.o.durationSeconds,
      acquireTime: microTime(now),
      renewTime: microTime(now),
    };
    try {
      if (!existing) {
        await api.createLease(namespace, {
          metadata: { name, namespace },
          spec: { ...spec, leaseTransitions: 0 },
        });
        return true;
      }
      const mine = existing.spec.holderIdentity === identity;
      if (!mine && this.held(existing, now)) return false;
      await api.replaceLease(namespace, {
        metadata: { ...existing.metadata },
        spec: {
          ...existing.spec,
          ...spec,
          acquireTime: mine && existing.spec.acquireTime ? existing.spec.acquireTime : spec.acquireTime,
          leaseTransitions: (existing.spec.leaseTransitions ?? 0) + (mine ? 0 : 1),
        },
      });
      return true;
    } catch (err) {
      if (isStatus(err, 409)) return false;
      throw err;
    }
  }

  /** Gives the lease up early so another replica need not wait for expiry. Best effort. */
  async release(): Promise<void> {
    const { api, namespace, name, identity } = this.o;
    const existing = await api.getLease(namespace, name);
    if (!existing || existing.spec.holderIdentity !== identity) return;
    try {
      await api.replaceLease(namespace, {
        metadata: { ...existing.metadata },
        spec: {
          ...existing.spec,
          holderIdentity: '',
          leaseDurationSeconds: 1,
          renewTime: microTime(this.o.now()),
        },
      });
    } catch (err) {
      if (!isStatus(err, 409)) throw err;
    }
  }
}
