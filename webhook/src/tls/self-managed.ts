/**
 * Certificate mode 2: the webhook runs its own CA. The CA and serving certificate live in one Secret; the
 * CA bundle goes into the caBundle of our MutatingWebhookConfiguration. Every replica serves what the Secret
 * holds; only the Lease holder writes (Secret create/replace with resourceVersion, caBundle JSON Patch).
 */
import { isStatus, type JsonPatchOp, type KubeApi, type SecretObject } from '../kube-api';
import type { Logger } from '../log';
import type { WebhookMetrics } from '../metrics';
import type { ServingCert } from '../server';
import type { TlsSettings } from '../config';
import { LeaseLock } from './lease';
import {
  certInfo,
  generateCa,
  generateServingCert,
  keyMatches,
  serviceDnsNames,
  signedBy,
  splitPemBundle,
} from './pki';

export const SECRET_KEYS = { caCert: 'ca.crt', caKey: 'ca.key', cert: 'tls.crt', key: 'tls.key' } as const;

export interface Bundle {
  /** Current CA first, then a previous CA kept during rotation. */
  caBundle: string;
  caKey: string;
  cert: string;
  key: string;
}

export type Verdict = { ok: true } | { ok: false; rotateCa: boolean; reason: string };

const b64 = (s: string) => Buffer.from(s, 'utf8').toString('base64');
const unb64 = (s: string | undefined) => (s === undefined ? '' : Buffer.from(s, 'base64').toString('utf8'));

export function bundleFromSecret(secret: SecretObject | undefined): Bundle | undefined {
  const d = secret?.data;
  if (!d) return undefined;
  return {
    caBundle: unb64(d[SECRET_KEYS.caCert]),
    caKey: unb64(d[SECRET_KEYS.caKey]),
    cert: unb64(d[SECRET_KEYS.cert]),
    key: unb64(d[SECRET_KEYS.key]),
  };
}

/** Pure: is the stored bundle usable until the next check, and if not, must the CA be replaced too? */
export function evaluateBundle(
  b: Bundle | undefined,
  dnsNames: string[],
  now: number,
  s: TlsSettings,
): Verdict {
  if (!b) return { ok: false, rotateCa: true, reason: 'no certificate stored' };
  try {
    const ca = splitPemBundle(b.caBundle)[0];
    if (!ca || !keyMatches(ca, b.caKey))
      return { ok: false, rotateCa: true, reason: 'CA missing or key mismatch' };
    const caInfo = certInfo(ca);
    if (!caInfo.isCa || caInfo.notAfter - s.caRenewBeforeSeconds * 1000 <= now) {
      return { ok: false, rotateCa: true, reason: 'CA expires soon' };
    }
    if (!keyMatches(b.cert, b.key) || !signedBy(b.cert, ca)) {
      return { ok: false, rotateCa: false, reason: 'serving certificate not issued by the CA' };
    }
    const info = certInfo(b.cert);
    if (info.notAfter - s.certRenewBeforeSeconds * 1000 <= now) {
      return { ok: false, rotateCa: false, reason: 'serving certificate expires soon' };
    }
    if (info.notBefore > now)
      return { ok: false, rotateCa: false, reason: 'serving certificate not yet valid' };
    if (dnsNames.some((n) => !info.dnsNames.includes(n))) {
      return { ok: false, rotateCa: false, reason: 'serving certificate lacks service DNS names' };
    }
    return { ok: true };
  } catch {
    return { ok: false, rotateCa: true, reason: 'stored certificate unparseable' };
  }
}

/** Pure: the next bundle. A replaced CA stays in the bundle while still valid, so old certs keep verifying. */
export function nextBundle(
  old: Bundle | undefined,
  rotateCa: boolean,
  dnsNames: string[],
  now: number,
  s: TlsSettings,
): Bundle {
  let caPem: string;
  let caKey: string;
  let caBundle: string;
  if (rotateCa || !old) {
    const ca = generateCa(`s3-mirror-webhook-ca-${Math.floor(now / 1000)}`, now, s.caValiditySeconds);
    caPem = ca.certPem;
    caKey = ca.keyPem;
    const previous = old ? splitPemBundle(old.caBundle)[0] : undefined;
    const keepPrevious = previous !== undefined && safeNotAfter(previous) > now;
    caBundle = keepPrevious ? `${caPem.trim()}\n${previous.trim()}\n` : caPem;
  } else {
    caPem = splitPemBundle(old.caBundle)[0]!;
    caKey = old.caKey;
    // Drop previous CAs once they have expired; otherwise keep the stored bundle byte for byte (no churn).
    const all = splitPemBundle(old.caBundle);
    const kept = all.filter((c, i) => i === 0 || safeNotAfter(c) > now);
    caBundle = kept.length === all.length ? old.caBundle : kept.join('\n') + '\n';
  }
  const validity = Math.min(s.certValiditySeconds, Math.floor((safeNotAfter(caPem) - now) / 1000));
  const serving = generateServingCert({ certPem: caPem, keyPem: caKey }, dnsNames, now, validity);
  return { caBundle, caKey, cert: serving.certPem, key: serving.keyPem };
}

function safeNotAfter(pem: string): number {
  try {
    return certInfo(pem).notAfter;
  } catch {
    return 0;
  }
}

/** Pure: JSON Patch setting caBundle on every webhook of the configuration whose bundle differs. */
export function caBundlePatch(
  webhooks: { name: string; clientConfig: { caBundle?: string } }[],
  caBundleB64: string,
): JsonPatchOp[] {
  const ops: JsonPatchOp[] = [];
  webhooks.forEach((w, i) => {
    if (w.clientConfig?.caBundle === caBundleB64) return;
    // `test` guards against the list having changed between our GET and PATCH.
    ops.push({ op: 'test', path: `/webhooks/${i}/name`, value: w.name });
    ops.push({ op: 'add', path: `/webhooks/${i}/clientConfig/caBundle`, value: caBundleB64 });
  });
  return ops;
}

export interface SelfManagedOptions {
  api: KubeApi;
  settings: TlsSettings;
  namespace: string;
  identity: string;
  onCert: (cert: ServingCert) => Promise<void>;
  logger: Logger;
  metrics: WebhookMetrics;
  now?: () => number;
}

export type ReconcileResult = 'serving' | 'waiting';

export class SelfManagedCerts {
  private readonly now: () => number;
  private readonly lock: LeaseLock;
  private readonly dnsNames: string[];
  private served = '';
  private timer: NodeJS.Timeout | undefined;
  private stopped = false;

  constructor(private readonly o: SelfManagedOptions) {
    this.now = o.now ?? Date.now;
    this.dnsNames = serviceDnsNames(o.settings.serviceName, o.namespace);
    this.lock = new LeaseLock({
      api: o.api,
      namespace: o.namespace,
      name: o.settings.leaseName,
      identity: o.identity,
      durationSeconds: o.settings.leaseDurationSeconds,
      now: this.now,
    });
  }

  private async serve(b: Bundle): Promise<void> {
    if (b.cert + b.key === this.served) return;
    await this.o.onCert({ cert: b.cert, key: b.key });
    this.served = b.cert + b.key;
    const info = certInfo(b.cert);
    this.o.metrics.certificateExpiry.set(info.notAfter / 1000);
    this.o.metrics.certificateLoads.inc({ source: 'secret', result: 'success' });
    this.o.logger.info('serving certificate loaded from Secret', {
      notAfter: new Date(info.notAfter).toISOString(),
    });
  }

  /** Whether a stored (even soon-to-expire) certificate can still be served while the leader rotates. */
  private stillValid(b: Bundle | undefined): boolean {
    if (!b) return false;
    try {
      const info = certInfo(b.cert);
      return keyMatches(b.cert, b.key) && info.notAfter > this.now() && info.notBefore <= this.now();
    } catch {
      return false;
    }
  }

  /**
   * Sets caBundle where it differs, as Lease holder. `underLease`: the caller holds the Lease and gives it
   * back itself (taking it again here only renews it, and checks it was not lost meanwhile); otherwise the
   * Lease is taken for this write only, so another replica need not wait for it to expire.
   */
  private async ensureCaBundle(b: Bundle, underLease: boolean): Promise<boolean> {
    const { api, settings } = this.o;
    const mwc = await api.getMutatingWebhookConfiguration(settings.webhookConfigurationName);
    if (!mwc) {
      this.o.logger.warn('MutatingWebhookConfiguration not found; caBundle not set', {
        name: settings.webhookConfigurationName,
      });
      return true;
    }
    const ops = caBundlePatch(mwc.webhooks ?? [], b64(b.caBundle));
    if (ops.length === 0) return true;
    if (!(await this.lock.tryAcquire())) return false;
    try {
      return await this.patchCaBundle(ops);
    } finally {
      if (!underLease) await this.lock.release().catch(() => undefined);
    }
  }

  private async patchCaBundle(ops: JsonPatchOp[]): Promise<boolean> {
    try {
      await this.o.api.patchMutatingWebhookConfiguration(this.o.settings.webhookConfigurationName, ops);
      this.o.metrics.certificateWrites.inc({ kind: 'ca_bundle', result: 'success' });
      this.o.logger.info('caBundle patched', { webhooks: ops.length / 2 });
      return true;
    } catch (err) {
      this.o.metrics.certificateWrites.inc({ kind: 'ca_bundle', result: 'failure' });
      // 422 from a failed `test` op or 409: someone changed it; the next round retries.
      if (isStatus(err, 409) || isStatus(err, 422)) return false;
      throw err;
    }
  }

  /** One round: read, maybe rotate (as Lease holder), serve, fix caBundle. */
  async reconcile(): Promise<ReconcileResult> {
    const { api, settings, namespace } = this.o;
    let secret = await api.getSecret(namespace, settings.secretName);
    let bundle = bundleFromSecret(secret);
    let verdict = evaluateBundle(bundle, this.dnsNames, this.now(), settings);
    if (!verdict.ok) {
      this.o.logger.info('certificate needs (re)issuing', { reason: verdict.reason });
      if (!(await this.lock.tryAcquire())) {
        if (bundle && this.stillValid(bundle)) await this.serve(bundle);
        return 'waiting';
      }
      try {
        // Re-read under the lock: a previous holder may have just written.
        secret = await api.getSecret(namespace, settings.secretName);
        bundle = bundleFromSecret(secret);
        verdict = evaluateBundle(bundle, this.dnsNames, this.now(), settings);
        if (!verdict.ok) {
          const next = nextBundle(bundle, verdict.rotateCa, this.dnsNames, this.now(), settings);
          const data = {
            [SECRET_KEYS.caCert]: b64(next.caBundle),
            [SECRET_KEYS.caKey]: b64(next.caKey),
            [SECRET_KEYS.cert]: b64(next.cert),
            [SECRET_KEYS.key]: b64(next.key),
          };
          try {
            if (secret) {
              await api.replaceSecret(namespace, {
                metadata: { ...secret.metadata },
                type: secret.type,
                data,
              });
            } else {
              await api.createSecret(namespace, {
                metadata: {
                  name: settings.secretName,
                  namespace,
                  labels: { 'app.kubernetes.io/managed-by': 's3-mirror-webhook' },
                },
                type: 'kubernetes.io/tls',
                data,
              });
            }
          } catch (err) {
            this.o.metrics.certificateWrites.inc({ kind: 'secret', result: 'failure' });
            if (isStatus(err, 409)) return 'waiting';
            throw err;
          }
          this.o.metrics.certificateWrites.inc({ kind: 'secret', result: 'success' });
          this.o.logger.info('certificate written to Secret', {
            secret: settings.secretName,
            rotatedCa: verdict.rotateCa,
          });
          bundle = next;
        }
        // Bundle first, then serve: the API server must trust the new CA before we present its certificate.
        if (!(await this.ensureCaBundle(bundle!, true))) return 'waiting';
        await this.serve(bundle!);
      } finally {
        await this.lock.release().catch(() => undefined);
      }
      return 'serving';
    }
    await this.serve(bundle!);
    return (await this.ensureCaBundle(bundle!, false)) ? 'serving' : 'waiting';
  }

  start(): void {
    const loop = async () => {
      let next = this.o.settings.checkIntervalSeconds * 1000;
      try {
        if ((await this.reconcile()) === 'waiting') next = Math.min(next, 2000);
      } catch (err) {
        next = Math.min(next, 5000);
        this.o.logger.error('certificate reconcile failed', { error: (err as Error).message });
      }
      if (!this.stopped) {
        // eslint-disable-next-line @typescript-eslint/no-floating-promises -- cannot reject
        this.timer = setTimeout(() => void loop(), next);
      }
    };
    // loop() catches and logs a failed round, then schedules the next one.
    // eslint-disable-next-line @typescript-eslint/no-floating-promises -- cannot reject
    void loop();
  }

  stop(): void {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
  }
}
