import fs from 'node:fs';
import path from 'node:path';

import { HARNESS_KEY, type HarnessState } from './jest-global-setup';
import { harnessSecrets, recordedSecrets, scanCaptures } from './secret-scan';
import { SERVICES_ENV, type TestServices } from './services';

/** Fails the run when any process started by any test printed a secret (see secret-scan.ts). */
function scanForSecrets(servicesFile: string): void {
  const services = JSON.parse(fs.readFileSync(servicesFile, 'utf8')) as TestServices;
  const dir = path.dirname(servicesFile);
  // With every key and token the tests' loopback credentials endpoints handed out.
  const shared = [...harnessSecrets(services), ...recordedSecrets(dir)];
  const result = scanCaptures(path.join(dir, 'captures'), shared);
  process.stderr.write(
    `[harness] secret scan: ${result.processes} process outputs (${result.bytes} bytes), ` +
      `${shared.length} shared secrets, ${result.findings.length} leaks\n`,
  );
  if (result.findings.length > 0) {
    throw new Error(`secrets found in process output:\n${result.findings.join('\n')}`);
  }
}

/** Fails the run when any request a harness proxy sent to main was not signed exactly as it arrived. */
function checkSignatureAudit(state: HarnessState): void {
  const audit = state.signatureAudit;
  if (!audit) return;
  process.stderr.write(
    `[harness] signature audit: ${audit.audited} requests to main, ${audit.findings.length} mismatches\n`,
  );
  if (audit.findings.length > 0) {
    throw new Error(
      `requests whose arrived headers differ from the signed ones:\n` +
        audit.findings.map((f) => `${f.request}: ${f.problem}`).join('\n'),
    );
  }
}

export default async function globalTeardown(): Promise<void> {
  const state = (globalThis as Record<string, unknown>)[HARNESS_KEY] as HarnessState | undefined;
  if (!state) return;
  Reflect.deleteProperty(globalThis, HARNESS_KEY);
  let scanError: unknown;
  try {
    if (state.servicesFile) scanForSecrets(state.servicesFile);
    checkSignatureAudit(state);
  } catch (err) {
    scanError = err;
  }
  await state.signatureAudit?.close().catch(() => undefined);
  await state.control?.close().catch(() => undefined);
  await Promise.all([state.ceph?.stop(), state.postgres?.destroy()]);
  if (state.servicesFile) fs.rmSync(path.dirname(state.servicesFile), { recursive: true, force: true });
  Reflect.deleteProperty(process.env, SERVICES_ENV);
  if (scanError) throw scanError;
}
