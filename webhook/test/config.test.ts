import { CONFIG_KEYS, parseConfig, proxyEndpointUrl } from '../src/config';

const base = { MIRROR_S3_ENDPOINT: 'https://backup.example.com' };

test('defaults', () => {
  const r = parseConfig(base);
  if (!r.ok) throw new Error(r.errors.join());
  expect(r.config.proxy).toMatchObject({
    port: 8080,
    adminPort: 9090,
    mainEndpoint: 'https://s3.amazonaws.com',
    mainRegion: 'us-east-1',
    credentialsSecretName: 's3-mirror-credentials',
    runAsUser: 65532,
    stateSizeLimit: '1Gi',
  });
  expect(r.config.injection).toEqual({
    sidecarMode: 'native',
    endpointEnv: 'AWS_ENDPOINT_URL',
    injectInitContainers: true,
    placeholderCredentials: true,
  });
  expect(r.config.webhook).toMatchObject({ port: 8443, metricsPort: 9090 });
  expect(r.config.tls.mode).toBe('files');
  expect(proxyEndpointUrl(r.config.proxy)).toBe('http://127.0.0.1:8080');
});

test('every key has a string default', () => {
  for (const v of Object.values(CONFIG_KEYS)) expect(typeof v).toBe('string');
});

test.each([
  [{}, 'MIRROR_S3_ENDPOINT is required'],
  [{ MIRROR_S3_ENDPOINT: 'ftp://x' }, 'MIRROR_S3_ENDPOINT must be an http:// or https:// URL, got "ftp://x"'],
  [{ ...base, SIDECAR_MODE: 'sometimes' }, 'SIDECAR_MODE must be one of native, classic, got "sometimes"'],
  [{ ...base, PROXY_PORT: '9090' }, 'PROXY_PORT and PROXY_ADMIN_PORT must differ'],
  [{ ...base, PROXY_MEMORY_LIMIT: '1 GB' }, 'PROXY_MEMORY_LIMIT is not a Kubernetes quantity: "1 GB"'],
  [
    { ...base, PROXY_STATE_SIZE_LIMIT: '1 GB' },
    'PROXY_STATE_SIZE_LIMIT is not a Kubernetes quantity: "1 GB"',
  ],
  [
    { ...base, ENDPOINT_ENV: 'S3_URL' },
    'ENDPOINT_ENV must be one of AWS_ENDPOINT_URL, AWS_ENDPOINT_URL_S3, got "S3_URL"',
  ],
  [
    { ...base, PROXY_ALLOWED_BUCKETS: 'Bad_Bucket' },
    'PROXY_ALLOWED_BUCKETS must be a comma-separated list of bucket names, got "Bad_Bucket"',
  ],
  [
    { ...base, CERT_RENEW_BEFORE_SECONDS: '999999999', CERT_VALIDITY_SECONDS: '3600' },
    'CERT_RENEW_BEFORE_SECONDS must be less than CERT_VALIDITY_SECONDS',
  ],
  [{ ...base, WEBHOOK_PORT: '-1' }, 'WEBHOOK_PORT must be an integer in [0, 65535], got "-1"'],
])('rejects %j', (raw, error) => {
  const r = parseConfig(raw);
  expect(r.ok).toBe(false);
  if (!r.ok) expect(r.errors).toContain(error);
});

test('values are trimmed (ConfigMap files end with a newline)', () => {
  const r = parseConfig({ ...base, SIDECAR_MODE: 'classic\n', PROXY_IMAGE: ' registry/proxy:1 \n' });
  expect(r.ok && r.config.injection.sidecarMode).toBe('classic');
  expect(r.ok && r.config.proxy.image).toBe('registry/proxy:1');
});
