/** Starts the built webhook (`node webhook/dist/main.js`) as a child process and follows its JSON logs. */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import type { FakeKubeApi } from './fake-kube-api';

export const REPO_ROOT = resolve(__dirname, '..', '..');
export const MAIN_JS = join(REPO_ROOT, 'webhook', 'dist', 'main.js');

export interface WebhookProcess {
  child: ChildProcess;
  logs: Record<string, unknown>[];
  stderr: string[];
  /** Resolves with the first log line (past or future) matching; rejects if the process exits first. */
  waitForLog(pred: (l: Record<string, unknown>) => boolean): Promise<Record<string, unknown>>;
  metricsPort(): Promise<number>;
  httpsPort(): Promise<number>;
  stop(): Promise<number | null>;
  /** Resolves with the exit code when the process ends by itself. */
  exited: Promise<number | null>;
}

export function writeKubeconfig(api: FakeKubeApi): string {
  const dir = mkdtempSync(join(tmpdir(), 'wh-kube-'));
  const path = join(dir, 'kubeconfig');
  writeFileSync(path, api.kubeconfig());
  return path;
}

export function startWebhook(env: Record<string, string>): WebhookProcess {
  const child = spawn(process.execPath, [MAIN_JS], {
    env: {
      PATH: process.env.PATH ?? '',
      WEBHOOK_PORT: '0',
      METRICS_PORT: '0',
      LOG_LEVEL: 'debug',
      SHUTDOWN_DELAY_SECONDS: '0',
      ...env,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const logs: Record<string, unknown>[] = [];
  const stderr: string[] = [];
  const waiters: {
    pred: (l: Record<string, unknown>) => boolean;
    resolve: (l: Record<string, unknown>) => void;
    reject: (e: Error) => void;
  }[] = [];
  let exited = false;
  let buf = '';
  child.stdout!.on('data', (d: Buffer) => {
    buf += d.toString('utf8');
    let i;
    while ((i = buf.indexOf('\n')) >= 0) {
      const line = buf.slice(0, i);
      buf = buf.slice(i + 1);
      let obj: Record<string, unknown>;
      try {
        obj = JSON.parse(line) as Record<string, unknown>;
      } catch {
        obj = { message: line, unparsed: true };
      }
      logs.push(obj);
      for (const w of [...waiters]) {
        if (w.pred(obj)) {
          waiters.splice(waiters.indexOf(w), 1);
          w.resolve(obj);
        }
      }
    }
  });
  child.stderr!.on('data', (d: Buffer) => stderr.push(d.toString('utf8')));
  const exit = new Promise<number | null>((res) =>
    child.on('exit', (code) => {
      exited = true;
      for (const w of waiters.splice(0)) w.reject(new Error(`webhook exited (${code}): ${stderr.join('')}`));
      res(code);
    }),
  );
  const waitForLog: WebhookProcess['waitForLog'] = (pred) => {
    const seen = logs.find(pred);
    if (seen) return Promise.resolve(seen);
    if (exited) return Promise.reject(new Error(`webhook exited: ${stderr.join('')}`));
    return new Promise((resolve, reject) => waiters.push({ pred, resolve, reject }));
  };
  return {
    child,
    logs,
    stderr,
    waitForLog,
    metricsPort: async () =>
      (await waitForLog((l) => l.message === 'webhook starting')).metricsPort as number,
    httpsPort: async () =>
      (await waitForLog((l) => l.message === 'serving admission over HTTPS')).port as number,
    exited: exit,
    stop: async () => {
      if (!exited) child.kill('SIGTERM');
      return exit;
    },
  };
}
