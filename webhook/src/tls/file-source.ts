/** Certificate mode 1: files mounted from a Secret (cert-manager or the admin), reloaded when they change. */
import { readFile } from 'node:fs/promises';
import type { Logger } from '../log';
import type { WebhookMetrics } from '../metrics';
import type { ServingCert } from '../server';
import { certInfo, keyMatches } from './pki';

export interface FileSourceOptions {
  certFile: string;
  keyFile: string;
  intervalSeconds: number;
  onCert: (cert: ServingCert) => Promise<void>;
  logger: Logger;
  metrics: WebhookMetrics;
}

/**
 * Polls the files (Secret volumes update through a symlink swap, which inotify watchers often miss) and hands
 * over a new pair only when both files changed into a matching, parseable pair. A half-written update is
 * retried on the next tick; the previous certificate stays in use meanwhile.
 */
export class FileCertSource {
  private last = '';
  private timer: NodeJS.Timeout | undefined;
  private busy = false;

  constructor(private readonly o: FileSourceOptions) {}

  /** Loads once; resolves true when a (new) certificate was installed. */
  async check(): Promise<boolean> {
    if (this.busy) return false;
    this.busy = true;
    try {
      let cert: string;
      let key: string;
      try {
        [cert, key] = await Promise.all([
          readFile(this.o.certFile, 'utf8'),
          readFile(this.o.keyFile, 'utf8'),
        ]);
      } catch (err) {
        this.o.logger.warn('certificate files not readable', { error: (err as Error).message });
        return false;
      }
      const fingerprint = cert + '\u0000' + key;
      if (fingerprint === this.last) return false;
      if (!keyMatches(cert, key)) {
        this.o.metrics.certificateLoads.inc({ source: 'files', result: 'failure' });
        this.o.logger.warn('certificate and key do not match (yet); keeping the current one', {
          certFile: this.o.certFile,
        });
        return false;
      }
      await this.o.onCert({ cert, key });
      this.last = fingerprint;
      const info = certInfo(cert);
      this.o.metrics.certificateExpiry.set(info.notAfter / 1000);
      this.o.metrics.certificateLoads.inc({ source: 'files', result: 'success' });
      this.o.logger.info('serving certificate loaded from files', {
        notAfter: new Date(info.notAfter).toISOString(),
        dnsNames: info.dnsNames,
      });
      return true;
    } catch (err) {
      this.o.metrics.certificateLoads.inc({ source: 'files', result: 'failure' });
      this.o.logger.error('certificate load failed', { error: (err as Error).message });
      return false;
    } finally {
      this.busy = false;
    }
  }

  start(): void {
    // check() logs and counts its own failures and resolves false.
    // eslint-disable-next-line @typescript-eslint/no-floating-promises -- cannot reject
    void this.check();
    // eslint-disable-next-line @typescript-eslint/no-floating-promises -- cannot reject
    this.timer = setInterval(() => void this.check(), this.o.intervalSeconds * 1000);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
  }
}
