import { ConfigError, loadConfig, parseHostPort, secretsOf } from '../src/config';

const REQUIRED = {
  MAIN_ACCESS_KEY: 'main-key',
  MAIN_SECRET_KEY: 'main-secret-value',
  MIRROR_S3_ENDPOINT: 'http://mirror.local:7480',
  MIRROR_ACCESS_KEY: 'mirror-key',
  MIRROR_SECRET_KEY: 'mirror-secret-value',
  POSTGRES_URL: 'postgres://user:pg%40pass@db:5432/postgres',
};

function configError(env: Record<string, string | undefined>): ConfigError {
  try {
    loadConfig(env);
  } catch (err) {
    if (err instanceof ConfigError) return err;
    throw err;
  }
  throw new Error('expected a ConfigError');
}

describe('loadConfig', () => {
  test("defaults: the seed's main endpoint, us-east-1, loopback data port, separate admin port", () => {
    const c = loadConfig(REQUIRED);
    expect(c.main.url.origin).toBe('https://s3.amazonaws.com');
    expect(c.main.region).toBe('us-east-1');
    expect(c.mirror.region).toBe('us-east-1');
    expect(c.listen).toEqual({ host: '127.0.0.1', port: 8080 });
    expect(c.admin).toEqual({ host: '0.0.0.0', port: 9090 });
    expect(c.logLevel).toBe('info');
    expect(c.virtualHostBases).toEqual(['localhost']);
    expect(c.allowedBuckets).toEqual([]);
  });

  test('regions, addresses, lists and levels are read from the environment', () => {
    const c = loadConfig({
      ...REQUIRED,
      MAIN_S3_ENDPOINT: 'http://rgw.storage.svc:7480',
      MAIN_S3_REGION: 'eu-central-1',
      MIRROR_S3_REGION: 'eu-west-1',
      LISTEN_ADDR: '[::1]:18080',
      ADMIN_ADDR: '127.0.0.1:19090',
      VIRTUAL_HOST_BASES: 'localhost, S3.Local',
      ALLOWED_BUCKETS: 'a, b ,,c',
      LOG_LEVEL: 'WARN',
    });
    expect(c.main.url.href).toBe('http://rgw.storage.svc:7480/');
    expect(c.main.region).toBe('eu-central-1');
    expect(c.mirror.region).toBe('eu-west-1');
    expect(c.listen).toEqual({ host: '::1', port: 18080 });
    expect(c.virtualHostBases).toEqual(['localhost', 's3.local']);
    expect(c.allowedBuckets).toEqual(['a', 'b', 'c']);
    expect(c.logLevel).toBe('warn');
  });

  test('MIRROR_DELETE_POLICY: mirror by default (also when empty), else keep or delay:<duration>', () => {
    expect(loadConfig(REQUIRED).deletePolicy).toEqual({ kind: 'mirror' });
    expect(loadConfig({ ...REQUIRED, MIRROR_DELETE_POLICY: ' ' }).deletePolicy).toEqual({ kind: 'mirror' });
    expect(loadConfig({ ...REQUIRED, MIRROR_DELETE_POLICY: 'keep' }).deletePolicy).toEqual({ kind: 'keep' });
    expect(loadConfig({ ...REQUIRED, MIRROR_DELETE_POLICY: 'delay:24h' }).deletePolicy).toEqual({
      kind: 'delay',
      seconds: 86_400,
    });
  });

  test("MIRROR_BUCKET_TEMPLATE: main's name by default, else the template as given", () => {
    expect(loadConfig(REQUIRED).mirrorBucketTemplate).toBe('{bucket}');
    expect(loadConfig({ ...REQUIRED, MIRROR_BUCKET_TEMPLATE: ' ' }).mirrorBucketTemplate).toBe('{bucket}');
    const c = loadConfig({ ...REQUIRED, MIRROR_BUCKET_TEMPLATE: ' backup-{bucket} ' });
    expect(c.mirrorBucketTemplate).toBe('backup-{bucket}');
  });

  test('upload spool bounds: defaults, explicit values, 0 turns the spool off, junk is refused', () => {
    expect(loadConfig(REQUIRED)).toMatchObject({
      spoolMaxBytes: 256 * 1024 * 1024,
      spoolMaxObjectBytes: 64 * 1024 * 1024,
      spoolMemoryBytes: 8 * 1024 * 1024,
    });
    expect(loadConfig({ ...REQUIRED, SPOOL_MEMORY_BYTES: '0' }).spoolMemoryBytes).toBe(0);
    expect(configError({ ...REQUIRED, SPOOL_MEMORY_BYTES: '8M' }).variable).toBe('SPOOL_MEMORY_BYTES');
    expect(
      loadConfig({ ...REQUIRED, SPOOL_MAX_BYTES: '1048576', SPOOL_MAX_OBJECT_BYTES: '4096' }),
    ).toMatchObject({ spoolMaxBytes: 1048576, spoolMaxObjectBytes: 4096 });
    expect(loadConfig({ ...REQUIRED, SPOOL_MAX_BYTES: '0' }).spoolMaxBytes).toBe(0);
    expect(configError({ ...REQUIRED, SPOOL_MAX_BYTES: '-1' }).variable).toBe('SPOOL_MAX_BYTES');
    expect(configError({ ...REQUIRED, SPOOL_MAX_BYTES: '1e9' }).variable).toBe('SPOOL_MAX_BYTES');
    expect(configError({ ...REQUIRED, SPOOL_MAX_OBJECT_BYTES: '0' }).variable).toBe('SPOOL_MAX_OBJECT_BYTES');
  });

  test('FAILOVER_READS: on by default, off, and nothing else', () => {
    expect(loadConfig(REQUIRED).failoverReads).toBe(true);
    expect(loadConfig({ ...REQUIRED, FAILOVER_READS: 'OFF' }).failoverReads).toBe(false);
    expect(loadConfig({ ...REQUIRED, FAILOVER_READS: 'on' }).failoverReads).toBe(true);
    expect(configError({ ...REQUIRED, FAILOVER_READS: 'yes' }).variable).toBe('FAILOVER_READS');
  });

  test('MIRROR_CATCHUP_BYTES_PER_SECOND: 8 MiB/s by default, 0 for never, a whole number of bytes', () => {
    expect(loadConfig(REQUIRED).mirrorCatchupBytesPerSecond).toBe(8 * 1024 * 1024);
    const set = (v: string) => loadConfig({ ...REQUIRED, MIRROR_CATCHUP_BYTES_PER_SECOND: v });
    expect(set('0').mirrorCatchupBytesPerSecond).toBe(0);
    expect(set('1048576').mirrorCatchupBytesPerSecond).toBe(1048576);
    for (const bad of ['-1', '1.5', '32MiB', 'off']) {
      expect(configError({ ...REQUIRED, MIRROR_CATCHUP_BYTES_PER_SECOND: bad }).variable).toBe(
        'MIRROR_CATCHUP_BYTES_PER_SECOND',
      );
    }
  });

  test('MEMORY_RECLAIM: on by default, off, and nothing else', () => {
    expect(loadConfig(REQUIRED).memoryReclaim).toBe(true);
    expect(loadConfig({ ...REQUIRED, MEMORY_RECLAIM: 'off' }).memoryReclaim).toBe(false);
    expect(configError({ ...REQUIRED, MEMORY_RECLAIM: '0' }).variable).toBe('MEMORY_RECLAIM');
  });

  test.each([
    ['MAIN_ACCESS_KEY', { MAIN_ACCESS_KEY: undefined }],
    ['MAIN_SECRET_KEY', { MAIN_SECRET_KEY: '  ' }],
    ['MIRROR_S3_ENDPOINT', { MIRROR_S3_ENDPOINT: undefined }],
    ['MIRROR_ACCESS_KEY', { MIRROR_ACCESS_KEY: '' }],
    ['MIRROR_SECRET_KEY', { MIRROR_SECRET_KEY: undefined }],
    ['POSTGRES_URL', { POSTGRES_URL: undefined }],
    ['POSTGRES_URL', { POSTGRES_URL: 'mysql://db' }],
    ['MAIN_S3_ENDPOINT', { MAIN_S3_ENDPOINT: 'ftp://s3' }],
    ['MAIN_S3_ENDPOINT', { MAIN_S3_ENDPOINT: 'not a url' }],
    ['MAIN_S3_ENDPOINT', { MAIN_S3_ENDPOINT: 'https://user:pw@s3.example' }],
    ['MAIN_S3_ENDPOINT', { MAIN_S3_ENDPOINT: 'https://s3.example/some/path' }],
    ['MIRROR_S3_ENDPOINT', { MIRROR_S3_ENDPOINT: 'https://s3.example/?x=1' }],
    ['MAIN_S3_REGION', { MAIN_S3_REGION: 'EU West' }],
    ['MIRROR_S3_REGION', { MIRROR_S3_REGION: 'x'.repeat(40) }],
    ['LOG_LEVEL', { LOG_LEVEL: 'verbose' }],
    ['LISTEN_ADDR', { LISTEN_ADDR: '8080' }],
    ['ADMIN_ADDR', { ADMIN_ADDR: '0.0.0.0:99999' }],
    ['CLIENT_IDLE_TIMEOUT_MS', { CLIENT_IDLE_TIMEOUT_MS: '-5' }],
    ['SHUTDOWN_GRACE_MS', { SHUTDOWN_GRACE_MS: 'soon' }],
    ['MIRROR_CONCURRENCY', { MIRROR_CONCURRENCY: '0' }],
    ['MIRROR_BUCKET_TEMPLATE', { MIRROR_BUCKET_TEMPLATE: 'backup' }],
    ['MIRROR_BUCKET_TEMPLATE', { MIRROR_BUCKET_TEMPLATE: '{bucket}-{bucket}' }],
    ['MIRROR_BUCKET_TEMPLATE', { MIRROR_BUCKET_TEMPLATE: '{bucket}_Backup' }],
    ['MIRROR_BUCKET_TEMPLATE', { MIRROR_BUCKET_TEMPLATE: '{bucket}-' }],
    ['MIRROR_DELETE_POLICY', { MIRROR_DELETE_POLICY: 'never' }],
    ['MIRROR_DELETE_POLICY', { MIRROR_DELETE_POLICY: 'delay:0s' }],
    ['MIRROR_DELETE_POLICY', { MIRROR_DELETE_POLICY: 'delay:24' }],
    ['MIRROR_DELETE_POLICY', { MIRROR_DELETE_POLICY: 'delay:1.5h' }],
  ])('%s is named when it is wrong (%j)', (variable, patch) => {
    const err = configError({ ...REQUIRED, ...patch });
    expect(err.variable).toBe(variable);
    expect(err.message.startsWith(`${variable}: `)).toBe(true);
    expect(err.message).not.toContain('\n');
  });

  test('an error message never repeats the value it rejects (it may be a secret)', () => {
    const err = configError({ ...REQUIRED, POSTGRES_URL: 'mysql://admin:hunter2@db' });
    expect(err.message).not.toContain('hunter2');
    const endpoint = configError({ ...REQUIRED, MAIN_S3_ENDPOINT: 'https://key:topsecret@s3' });
    expect(endpoint.message).not.toContain('topsecret');
  });

  test('secretsOf lists both secret keys and the decoded Postgres password', () => {
    expect(secretsOf(loadConfig(REQUIRED)).sort()).toEqual([
      'main-secret-value',
      'mirror-secret-value',
      'pg@pass',
    ]);
  });

  test('parseHostPort accepts names, IPv4 and bracketed IPv6', () => {
    expect(parseHostPort('X', 'proxy:1')).toEqual({ host: 'proxy', port: 1 });
    expect(parseHostPort('X', '[fe80::1]:443')).toEqual({ host: 'fe80::1', port: 443 });
    expect(() => parseHostPort('X', ':80')).toThrow(ConfigError);
  });
});
