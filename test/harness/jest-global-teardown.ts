import fs from 'node:fs';
import path from 'node:path';

import { HARNESS_KEY, type HarnessState } from './jest-global-setup';
import { SERVICES_ENV } from './services';

export default async function globalTeardown(): Promise<void> {
  const state = (globalThis as Record<string, unknown>)[HARNESS_KEY] as HarnessState | undefined;
  if (!state) return;
  Reflect.deleteProperty(globalThis, HARNESS_KEY);
  await state.control?.close().catch(() => undefined);
  await Promise.all([state.ceph?.stop(), state.postgres?.destroy()]);
  if (state.servicesFile) fs.rmSync(path.dirname(state.servicesFile), { recursive: true, force: true });
  Reflect.deleteProperty(process.env, SERVICES_ENV);
}
