/**
 * The suite-wide secret scan (test/harness/secret-scan.ts) must be able to fail: it finds a secret
 * however a process printed it, names the secret without printing it, and stays quiet on clean output.
 * Runs on a private directory, so the deliberate leak here never reaches the global teardown's scan.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { leakedSecrets, scanCaptures, secretsInEnv } from '../harness/secret-scan';

const env = {
  MAIN_SECRET_KEY: 'main-secret-abcdefghijklmnop',
  MIRROR_SECRET_KEY: 'mirror-secret-qrstuvwxyz',
  POSTGRES_URL: 'postgres://postgres:pg%2Fpass%40word@127.0.0.1:5432/postgres',
  MAIN_ACCESS_KEY: 'AKIAPUBLICNOTSECRET',
  LOG_LEVEL: 'info',
  SHORT_TOKEN: 'abc',
};

test('secrets are taken from secret-named variables and URL passwords, nothing else', () => {
  expect(secretsInEnv(env)).toEqual([
    { name: 'MAIN_SECRET_KEY', value: 'main-secret-abcdefghijklmnop' },
    { name: 'MIRROR_SECRET_KEY', value: 'mirror-secret-qrstuvwxyz' },
    { name: 'POSTGRES_URL password', value: 'pg/pass@word' },
  ]);
});

test('a leak is found verbatim or URL-encoded, and reported by name', () => {
  const secrets = secretsInEnv(env);
  expect(leakedSecrets('{"error":"auth failed for main-secret-abcdefghijklmnop"}', secrets)).toEqual([
    'MAIN_SECRET_KEY',
  ]);
  expect(leakedSecrets('connecting to postgres://postgres:pg%2Fpass%40word@db', secrets)).toEqual([
    'POSTGRES_URL password',
  ]);
  expect(leakedSecrets('{"message":"request","key":"[REDACTED]"}', secrets)).toEqual([]);
});

test('scanCaptures flags exactly the captures that leaked', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 's3m-scan-test-'));
  try {
    const write = (name: string, output: string) =>
      fs.writeFileSync(
        path.join(dir, name),
        JSON.stringify({ script: '/x/proxy/dist/main.js', pid: 7, secrets: secretsInEnv(env), output }),
      );
    write('clean.json', '{"level":"info","message":"proxy listening"}\n');
    write('leaky.json', 'fatal: could not sign with mirror-secret-qrstuvwxyz\n');
    const shared = [{ name: 'harness key', value: 'shared-harness-secret-xyz' }];
    write('shared.json', 'oops shared-harness-secret-xyz');
    const result = scanCaptures(dir, shared);
    expect(result.processes).toBe(3);
    expect(result.findings).toEqual([
      'main.js (pid 7) printed MIRROR_SECRET_KEY',
      'main.js (pid 7) printed harness key',
    ]);
    expect(result.findings.join('\n')).not.toContain('mirror-secret-qrstuvwxyz');
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
