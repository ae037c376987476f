import { execFile } from 'node:child_process';
import net from 'node:net';
import path from 'node:path';

import { freePorts } from '../harness/free-port';
import { spawnNode, type NodeProcess } from '../harness/process';
import { pollUntil } from '../harness/wait';
import { TRY_IT_END, tryItCommands } from '../sandbox/try-it';

jest.setTimeout(240_000);

const SANDBOX = path.resolve(__dirname, '../dist/sandbox/main.js');
const ROOT = path.resolve(__dirname, '../..');

function sh(command: string): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile('bash', ['-c', command], { cwd: ROOT, timeout: 60_000 }, (err, stdout, stderr) => {
      const code = err ? ((err as { code?: number }).code ?? 1) : 0;
      resolve({ code: typeof code === 'number' ? code : 1, stdout, stderr });
    });
  });
}

function listening(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.connect(port, '127.0.0.1');
    s.once('connect', () => {
      s.destroy();
      resolve(true);
    });
    s.once('error', () => resolve(false));
  });
}

let sandbox: NodeProcess | undefined;
afterAll(async () => {
  await sandbox?.stop(20_000);
});

test('`npm run sandbox` comes up on embedded defaults and every printed example works as printed', async () => {
  const [port, adminPort] = (await freePorts(2)) as [number, number];
  // No POSTGRES_URL: the sandbox must bring its own (embedded) Postgres, as on a fresh machine.
  sandbox = spawnNode(SANDBOX, {
    env: { LISTEN_ADDR: `127.0.0.1:${port}`, ADMIN_ADDR: `127.0.0.1:${adminPort}`, HOME: process.env.HOME },
  });
  await pollUntil('the sandbox to print its examples', async () => sandbox!.stdout().includes(TRY_IT_END), {
    timeoutMs: 120_000,
    describe: () => sandbox!.output().slice(-4000),
  });
  const commands = tryItCommands(sandbox.stdout());
  expect(commands).toHaveLength(7);

  const [put, get, sdk, readMirror, inventory, readyz, metrics] = commands as [
    string,
    string,
    string,
    string,
    string,
    string,
    string,
  ];
  expect((await sh(put)).code).toBe(0);
  expect((await sh(get)).stdout).toBe('Hello World');
  expect((await sh(sdk)).stdout).toBe('Hello from the SDK\n');

  // Mirroring is asynchronous: the printed commands show the mirrored state once it is there.
  await pollUntil(
    'the mirror copy, read as printed',
    async () => (await sh(readMirror)).stdout === 'Hello World\n',
    {
      timeoutMs: 60_000,
    },
  );
  await pollUntil(
    'both inventory rows backed up, as printed',
    async () => {
      const rows = (await sh(inventory)).stdout;
      return (
        /hello\.txt\s*\|\s*11\s*\|\s*text\/plain\s*\|\s*t\s*\|\s*f/.test(rows) &&
        /sdk\/hello\.txt.*\|\s*t\s*\|/.test(rows)
      );
    },
    { timeoutMs: 60_000 },
  );
  expect(JSON.parse((await sh(readyz)).stdout)).toMatchObject({ ready: true, postgresReachable: true });
  expect((await sh(metrics)).stdout).toMatch(
    /^s3mirror_mirror_operations_total\{action="copy",result="success"\} [1-9]/m,
  );

  // Ctrl-C stops everything it started: proxy, Postgres and both S3 endpoints.
  const postgresPort = Number(/@127\.0\.0\.1:(\d+)\//.exec(inventory)![1]);
  const mirrorPort = Number(/endpoint:'http:\/\/127\.0\.0\.1:(\d+)'/.exec(readMirror)![1]);
  for (const p of [port, adminPort, postgresPort, mirrorPort]) expect(await listening(p)).toBe(true);
  sandbox.kill('SIGINT');
  expect((await sandbox.exited).code).toBe(130);
  for (const p of [port, adminPort, postgresPort, mirrorPort]) expect(await listening(p)).toBe(false);
});
