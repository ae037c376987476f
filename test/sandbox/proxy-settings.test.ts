import { passedSettings, proxySettingNames } from './proxy-settings';

describe('sandbox: proxy settings from the environment', () => {
  test('every proxy setting is found, including the tunables a user tries in the sandbox', () => {
    const names = proxySettingNames();
    for (const name of [
      'MIRROR_DELETE_POLICY',
      'FAILOVER_READS',
      'MIRROR_CONCURRENCY',
      'SPOOL_MEMORY_BYTES',
    ]) {
      expect(names).toContain(name);
    }
  });

  test('settings pass through; what the sandbox sets itself and unrelated variables do not', () => {
    const env = {
      MIRROR_DELETE_POLICY: 'keep',
      FAILOVER_READS: 'off',
      MAIN_S3_ENDPOINT: 'http://elsewhere:1',
      MAIN_SECRET_KEY: 'not-the-sandbox-one',
      HOME: '/root',
    };
    expect(passedSettings(env, ['MAIN_S3_ENDPOINT', 'MAIN_SECRET_KEY'])).toEqual({
      MIRROR_DELETE_POLICY: 'keep',
      FAILOVER_READS: 'off',
    });
  });
});
