/**
 * The least environment the proxy's configuration accepts, for unit tests that need a config but no
 * backend: static keys, a mirror and a Postgres on a port nothing answers (127.0.0.1:9), no logging.
 */
export const OFFLINE_ENV = {
  MAIN_ACCESS_KEY: 'main-key',
  MAIN_SECRET_KEY: 'main-secret',
  MIRROR_S3_ENDPOINT: 'http://127.0.0.1:9',
  MIRROR_ACCESS_KEY: 'mirror-key',
  MIRROR_SECRET_KEY: 'mirror-secret',
  POSTGRES_URL: 'postgres://user:pass@127.0.0.1:9/postgres',
  LOG_LEVEL: 'off',
} as const;
