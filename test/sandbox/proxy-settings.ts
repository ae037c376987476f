/**
 * Which of the caller's environment variables the sandbox hands to its proxy: every proxy setting
 * (`MIRROR_DELETE_POLICY=keep npm run sandbox`) except those the sandbox sets itself (endpoints, keys,
 * Postgres). The setting names are found by letting the proxy's own configuration read them, so the list
 * cannot drift from config.ts.
 */
import { loadConfig } from '@k8s-s3-mirror/proxy/dist/config';

/** Enough for loadConfig to read every other setting. */
const MINIMAL_ENV: Record<string, string> = {
  MAIN_ACCESS_KEY: 'k',
  MAIN_SECRET_KEY: 's',
  MIRROR_S3_ENDPOINT: 'http://127.0.0.1:1',
  MIRROR_ACCESS_KEY: 'k',
  MIRROR_SECRET_KEY: 's',
  POSTGRES_URL: 'postgres://127.0.0.1/postgres',
};

export function proxySettingNames(): Set<string> {
  const read = new Set<string>();
  const recording = new Proxy(MINIMAL_ENV, {
    get(target, name) {
      if (typeof name === 'string') read.add(name);
      return typeof name === 'string' ? target[name] : undefined;
    },
  });
  loadConfig(recording);
  return read;
}

/** The proxy settings in `env` that are not in `owned`. */
export function passedSettings(
  env: Record<string, string | undefined>,
  owned: Iterable<string>,
): Record<string, string> {
  const skip = new Set(owned);
  const passed: Record<string, string> = {};
  for (const name of proxySettingNames()) {
    const value = env[name];
    if (value !== undefined && !skip.has(name)) passed[name] = value;
  }
  return passed;
}
