import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import winston from 'winston';
import { createMetrics } from '../src/metrics';
import type { ServingCert } from '../src/server';
import { FileCertSource } from '../src/tls/file-source';
import { generateCa, generateServingCert } from '../src/tls/pki';

// Three RSA key pairs in pure JS (node-forge): seconds, more on some Node versions; the timeout is a hang guard only.
test('installs a matching pair once, ignores unchanged files, keeps the old pair while a half-written update mismatches', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'wh-fs-'));
  const certFile = join(dir, 'tls.crt');
  const keyFile = join(dir, 'tls.key');
  const ca = generateCa('ca', Date.now(), 86400);
  const a = generateServingCert(ca, ['svc'], Date.now(), 3600);
  const b = generateServingCert(ca, ['svc'], Date.now(), 3600);
  const installed: ServingCert[] = [];
  const logger = winston.createLogger({ silent: true });
  const src = new FileCertSource({
    certFile,
    keyFile,
    intervalSeconds: 3600,
    onCert: async (c) => void installed.push(c),
    logger,
    metrics: createMetrics(),
  });

  expect(await src.check()).toBe(false); // no files yet
  writeFileSync(certFile, a.certPem);
  writeFileSync(keyFile, a.keyPem);
  expect(await src.check()).toBe(true);
  expect(await src.check()).toBe(false);
  writeFileSync(certFile, b.certPem); // key not updated yet
  expect(await src.check()).toBe(false);
  writeFileSync(keyFile, b.keyPem);
  expect(await src.check()).toBe(true);
  expect(installed.map((c) => c.cert)).toEqual([a.certPem, b.certPem]);
}, 60_000);
