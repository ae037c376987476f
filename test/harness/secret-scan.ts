/**
 * Every child process the harness starts (spawnNode: proxies, CLIs) leaves its whole output in a capture
 * file next to the services file, with the secret values from its own environment. The global teardown
 * scans every capture for every secret and fails the run if one shows up, so no integration test can leak
 * a secret through a log line, an error or a crash without the suite noticing.
 */
import fs from 'node:fs';
import path from 'node:path';

import { SERVICES_ENV } from './services';

/** Environment variables whose values are secrets. */
const SECRET_NAME = /SECRET|PASSWORD|PASSWD|TOKEN|PRIVATE/i;
/** Shorter values would match by accident. */
const MIN_SECRET_LENGTH = 6;

export interface NamedSecret {
  /** Where the value came from, e.g. `MAIN_SECRET_KEY` or `POSTGRES_URL password`: safe to print. */
  name: string;
  value: string;
}

/** The secrets in an environment: variables named like secrets, and passwords inside URLs. */
export function secretsInEnv(env: Record<string, string | undefined>): NamedSecret[] {
  const out: NamedSecret[] = [];
  for (const [name, value] of Object.entries(env)) {
    if (value === undefined) continue;
    if (SECRET_NAME.test(name) && value.length >= MIN_SECRET_LENGTH) out.push({ name, value });
    if (/^[a-z][a-z0-9+.-]*:\/\//i.test(value)) {
      try {
        const password = decodeURIComponent(new URL(value).password);
        if (password.length >= MIN_SECRET_LENGTH) out.push({ name: `${name} password`, value: password });
      } catch {
        // not a URL after all
      }
    }
  }
  return out;
}

/** Names of the secrets that occur in `text` (never their values). */
export function leakedSecrets(text: string, secrets: readonly NamedSecret[]): string[] {
  const names = new Set<string>();
  for (const s of secrets) {
    if (text.includes(s.value) || text.includes(encodeURIComponent(s.value))) names.add(s.name);
  }
  return [...names];
}

/** Where captures go: beside the services file, so it is private to this jest run and removed with it. */
export function captureDir(): string | undefined {
  const servicesFile = process.env[SERVICES_ENV];
  return servicesFile ? path.join(path.dirname(servicesFile), 'captures') : undefined;
}

interface Capture {
  script: string;
  pid: number;
  secrets: NamedSecret[];
  output: string;
}

let sequence = 0;

/** Records one finished process (no-op outside a jest integration run). */
export function recordCapture(
  script: string,
  pid: number,
  env: Record<string, string | undefined>,
  output: string,
) {
  const dir = captureDir();
  if (!dir) return;
  try {
    fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
    const capture: Capture = { script, pid, secrets: secretsInEnv(env), output };
    const file = path.join(dir, `${process.pid}-${pid}-${++sequence}.json`);
    fs.writeFileSync(file, JSON.stringify(capture), { mode: 0o600 });
  } catch (err) {
    // The services dir is gone (teardown ran): nothing left to scan into.
    process.stderr.write(`[harness] could not record output of ${script}: ${(err as Error).message}\n`);
  }
}

/**
 * Secrets a test made at run time (keys and tokens its loopback credentials endpoint or STS handed out): any
 * process may have fetched them, so every capture is scanned for them too. Written beside the captures;
 * a no-op outside a jest integration run.
 */
export function recordSecrets(name: string, values: readonly string[]): void {
  const dir = captureDir();
  const kept = values.filter((v) => v.length >= MIN_SECRET_LENGTH);
  if (!dir || kept.length === 0) return;
  const secretsDir = path.join(path.dirname(dir), 'secrets');
  try {
    fs.mkdirSync(secretsDir, { recursive: true, mode: 0o700 });
    const file = path.join(secretsDir, `${process.pid}-${++sequence}.json`);
    const named: NamedSecret[] = kept.map((value) => ({ name, value }));
    fs.writeFileSync(file, JSON.stringify(named), { mode: 0o600 });
  } catch (err) {
    process.stderr.write(`[harness] could not record secrets (${name}): ${(err as Error).message}\n`);
  }
}

/** What recordSecrets wrote under `servicesDir`. */
export function recordedSecrets(servicesDir: string): NamedSecret[] {
  const dir = path.join(servicesDir, 'secrets');
  if (!fs.existsSync(dir)) return [];
  return fs
    .readdirSync(dir)
    .sort()
    .flatMap((file) => JSON.parse(fs.readFileSync(path.join(dir, file), 'utf8')) as NamedSecret[]);
}

/** The credentials the harness itself created: any process may have been handed them. */
export function harnessSecrets(services: {
  ceph: { main: { secretAccessKey: string }; mirror: { secretAccessKey: string } };
  postgres: { url: string };
}): NamedSecret[] {
  return [
    { name: 'main secret key', value: services.ceph.main.secretAccessKey },
    { name: 'mirror secret key', value: services.ceph.mirror.secretAccessKey },
    ...secretsInEnv({ 'Postgres URL': services.postgres.url }),
  ];
}

export interface ScanResult {
  processes: number;
  bytes: number;
  /** One line per leak: which process and which secret (by name). */
  findings: string[];
}

/**
 * Checks every capture against its own secrets and `shared` (the harness's credentials, which every
 * test may hand to any process).
 */
export function scanCaptures(dir: string, shared: readonly NamedSecret[]): ScanResult {
  const result: ScanResult = { processes: 0, bytes: 0, findings: [] };
  if (!fs.existsSync(dir)) return result;
  for (const file of fs.readdirSync(dir).sort()) {
    const capture = JSON.parse(fs.readFileSync(path.join(dir, file), 'utf8')) as Capture;
    result.processes++;
    result.bytes += capture.output.length;
    const leaked = leakedSecrets(capture.output, [...capture.secrets, ...shared]);
    if (leaked.length > 0) {
      result.findings.push(
        `${path.basename(capture.script)} (pid ${capture.pid}) printed ${leaked.join(', ')}`,
      );
    }
  }
  return result;
}
