/**
 * The classic-mode postStart hook is `node -e <script>` (the proxy image has no shell or curl). Run the exact
 * script the webhook injects against a local admin endpoint.
 */
import { spawn } from 'node:child_process';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { buildProxyContainer, waitForReadyScript } from '../../webhook/src/sidecar-container';

function runHook(script: string): Promise<number | null> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ['-e', script], { stdio: 'ignore' });
    child.on('exit', (code) => resolve(code));
  });
}

async function adminServer(
  handler: (hits: number) => number,
): Promise<{ port: number; hits: () => number; close: () => Promise<void> }> {
  let hits = 0;
  const server = http.createServer((req, res) => {
    if (req.url !== '/readyz') return void res.writeHead(404).end();
    hits++;
    res.writeHead(handler(hits)).end();
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  return {
    port: (server.address() as AddressInfo).port,
    hits: () => hits,
    close: () => new Promise((r) => server.close(() => r())),
  };
}

test('the injected hook is exactly node -e waitForReadyScript(adminPort)', () => {
  const c = buildProxyContainer({
    image: 'i',
    imagePullPolicy: 'IfNotPresent',
    port: 8080,
    adminPort: 9090,
    logLevel: 'info',
    allowedBuckets: '',
    resources: { cpuRequest: '', cpuLimit: '', memoryRequest: '', memoryLimit: '' },
    runAsUser: 65532,
    stateSizeLimit: '',
    mainEndpoint: 'https://s3',
    mainRegion: 'r',
    mirrorEndpoint: 'https://m',
    mirrorRegion: 'r',
    credentialsSecretName: 's',
    credentialsMode: 'secret',
    mirrorRoleArn: '',
    mirrorBucketTemplate: '',
    deletePolicy: '',
    mode: 'classic',
  });
  expect(c.lifecycle).toEqual({ postStart: { exec: { command: ['node', '-e', waitForReadyScript(9090)] } } });
});

test('exits 0 once /readyz answers 200, after polling through 503s', async () => {
  const s = await adminServer((hits) => (hits < 4 ? 503 : 200));
  expect(await runHook(waitForReadyScript(s.port, 60))).toBe(0);
  expect(s.hits()).toBe(4);
  await s.close();
});

test('exits 1 when the proxy never becomes ready', async () => {
  const s = await adminServer(() => 503);
  expect(await runHook(waitForReadyScript(s.port, 1))).toBe(1);
  expect(s.hits()).toBeGreaterThan(1);
  await s.close();
});

test('keeps retrying while nothing listens yet, then gives up', async () => {
  const s = await adminServer(() => 200);
  const port = s.port;
  await s.close(); // nothing listens on that port now
  expect(await runHook(waitForReadyScript(port, 1))).toBe(1);
});
