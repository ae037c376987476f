import { ANNOTATIONS } from '../src/annotations';
import { mirrorBucketTemplateProblem } from '../../proxy/src/mirror/bucket-name';
import { parseDeletePolicy } from '../../proxy/src/mirror/delete-policy';
import { isDeletePolicy, isMirrorBucketTemplate, parseConfig } from '../src/config';
import type { Container, Pod } from '../src/pod';
import { podIdentityOf } from '../src/pod-identity';
import { injectedProxyOf } from './fixtures';

const ROLE = 'arn:aws:iam::210987654321:role/s3-mirror-backup';
const PI_TOKEN = '/var/run/secrets/pods.eks.amazonaws.com/serviceaccount/eks-pod-identity-token';
const IRSA_TOKEN = '/var/run/secrets/eks.amazonaws.com/serviceaccount/token';

/** An app container as the EKS Pod Identity webhook leaves it. */
const podIdentityApp: Container = {
  name: 'app',
  image: 'amazon/aws-cli:2.15.0',
  env: [
    { name: 'AWS_STS_REGIONAL_ENDPOINTS', value: 'regional' },
    { name: 'AWS_DEFAULT_REGION', value: 'eu-central-1' },
    { name: 'AWS_REGION', value: 'eu-central-1' },
    { name: 'AWS_CONTAINER_CREDENTIALS_FULL_URI', value: 'http://169.254.170.23/v1/credentials' },
    { name: 'AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE', value: PI_TOKEN },
    { name: 'UNRELATED', value: 'x' },
  ],
  volumeMounts: [
    {
      name: 'eks-pod-identity-token',
      mountPath: '/var/run/secrets/pods.eks.amazonaws.com/serviceaccount',
      readOnly: true,
    },
    { name: 'data', mountPath: '/data' },
  ],
};

/** The same under IRSA. */
const irsaApp: Container = {
  name: 'app',
  image: 'amazon/aws-cli:2.15.0',
  env: [
    { name: 'AWS_ROLE_ARN', value: 'arn:aws:iam::123456789012:role/app' },
    { name: 'AWS_WEB_IDENTITY_TOKEN_FILE', value: IRSA_TOKEN },
  ],
  volumeMounts: [
    { name: 'aws-iam-token', mountPath: '/var/run/secrets/eks.amazonaws.com/serviceaccount', readOnly: true },
  ],
};

function podWith(app: Container, annotations: Record<string, string> = {}): Pod {
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name: 'p', annotations: { [ANNOTATIONS.inject]: 'true', ...annotations } },
    spec: {
      containers: [app],
      volumes: [
        {
          name: 'eks-pod-identity-token',
          projected: {
            sources: [
              {
                serviceAccountToken: {
                  audience: 'pods.eks.amazonaws.com',
                  expirationSeconds: 86400,
                  path: 'eks-pod-identity-token',
                },
              },
            ],
          },
        },
        {
          name: 'aws-iam-token',
          projected: {
            sources: [
              {
                serviceAccountToken: {
                  audience: 'sts.amazonaws.com',
                  expirationSeconds: 86400,
                  path: 'token',
                },
              },
            ],
          },
        },
        { name: 'data', emptyDir: {} },
      ],
    },
  };
}

function injectedProxy(pod: Pod, overrides: Record<string, string> = {}) {
  const { proxy, warnings } = injectedProxyOf(pod, overrides);
  const env = proxy.env ?? [];
  return {
    warnings,
    names: env.map((e) => e.name),
    value: (name: string) => env.find((e) => e.name === name),
    mounts: (proxy.volumeMounts as { name: string; mountPath: string }[]).map((m) => m.name),
  };
}

describe('the proxy env for each credentials mode', () => {
  test('secret (the default): S3 keys and POSTGRES_URL by secretKeyRef, no identity env', () => {
    const p = injectedProxy(podWith(podIdentityApp));
    for (const key of [
      'MAIN_ACCESS_KEY',
      'MAIN_SECRET_KEY',
      'MIRROR_ACCESS_KEY',
      'MIRROR_SECRET_KEY',
      'POSTGRES_URL',
    ])
      expect(p.value(key)).toEqual({
        name: key,
        valueFrom: { secretKeyRef: { name: 's3-mirror-credentials', key } },
      });
    expect(p.names).not.toContain('AWS_CONTAINER_CREDENTIALS_FULL_URI');
    expect(p.names).not.toContain('MIRROR_ROLE_ARN');
    expect(p.mounts).not.toContain('eks-pod-identity-token');
  });

  test("pod-identity by annotation: no S3 key at all, the app's Pod Identity env and token mount, POSTGRES_URL", () => {
    const p = injectedProxy(podWith(podIdentityApp, { [ANNOTATIONS.credentials]: 'pod-identity' }));
    for (const key of ['MAIN_ACCESS_KEY', 'MAIN_SECRET_KEY', 'MIRROR_ACCESS_KEY', 'MIRROR_SECRET_KEY'])
      expect(p.names).not.toContain(key);
    expect(p.value('POSTGRES_URL')?.valueFrom).toEqual({
      secretKeyRef: { name: 's3-mirror-credentials', key: 'POSTGRES_URL' },
    });
    expect(p.value('AWS_CONTAINER_CREDENTIALS_FULL_URI')?.value).toBe('http://169.254.170.23/v1/credentials');
    expect(p.value('AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE')?.value).toBe(PI_TOKEN);
    expect(p.value('AWS_REGION')?.value).toBe('eu-central-1');
    expect(p.names).not.toContain('UNRELATED');
    expect(p.mounts).toContain('eks-pod-identity-token');
    expect(p.mounts).not.toContain('data');
    expect(p.warnings).toEqual([]);
  });

  test('pod-identity as the cluster default, with IRSA, and the mirror role by annotation', () => {
    const p = injectedProxy(podWith(irsaApp, { [ANNOTATIONS.mirrorRoleArn]: ROLE }), {
      CREDENTIALS_MODE: 'pod-identity',
    });
    expect(p.names).not.toContain('MAIN_ACCESS_KEY');
    expect(p.value('AWS_ROLE_ARN')?.value).toBe('arn:aws:iam::123456789012:role/app');
    expect(p.value('AWS_WEB_IDENTITY_TOKEN_FILE')?.value).toBe(IRSA_TOKEN);
    expect(p.mounts).toContain('aws-iam-token');
    expect(p.value('MIRROR_ROLE_ARN')?.value).toBe(ROLE);
  });

  test('the cluster default role, an annotation back to secret, invalid values ignored with a warning', () => {
    const cfg = { CREDENTIALS_MODE: 'pod-identity', MIRROR_ROLE_ARN: ROLE };
    const back = injectedProxy(podWith(irsaApp, { [ANNOTATIONS.credentials]: 'secret' }), cfg);
    expect(back.names).toContain('MAIN_ACCESS_KEY');
    expect(back.value('MIRROR_ROLE_ARN')?.value).toBe(ROLE);
    const bad = injectedProxy(
      podWith(podIdentityApp, {
        [ANNOTATIONS.credentials]: 'irsa',
        [ANNOTATIONS.mirrorRoleArn]: 'arn:aws:iam::1:role/x',
      }),
    );
    expect(bad.names).toContain('MAIN_ACCESS_KEY');
    expect(bad.names).not.toContain('MIRROR_ROLE_ARN');
    expect(bad.warnings).toEqual([
      `annotation ${ANNOTATIONS.credentials}="irsa" is invalid and was ignored`,
      `annotation ${ANNOTATIONS.mirrorRoleArn}="arn:aws:iam::1:role/x" is invalid and was ignored`,
    ]);
  });

  test('pod-identity before the EKS webhook ran: no keys, and a warning', () => {
    const p = injectedProxy(
      podWith({ name: 'app', image: 'x' }, { [ANNOTATIONS.credentials]: 'pod-identity' }),
    );
    expect(p.names).not.toContain('MAIN_ACCESS_KEY');
    expect(p.names).not.toContain('AWS_CONTAINER_CREDENTIALS_FULL_URI');
    expect(p.warnings).toEqual([
      expect.stringContaining('no container has IRSA or EKS Pod Identity env yet'),
    ]);
  });
});

describe('config', () => {
  test('CREDENTIALS_MODE and MIRROR_ROLE_ARN are checked', () => {
    const base = { MIRROR_S3_ENDPOINT: 'https://b.example', POD_NAMESPACE: 's' };
    expect(parseConfig({ ...base, CREDENTIALS_MODE: 'keys' })).toMatchObject({
      ok: false,
      errors: ['CREDENTIALS_MODE must be one of secret, pod-identity, got "keys"'],
    });
    expect(parseConfig({ ...base, MIRROR_ROLE_ARN: 'role' })).toMatchObject({
      ok: false,
      errors: ['MIRROR_ROLE_ARN must be an IAM role ARN, got "role"'],
    });
  });
});

test("podIdentityOf: a region alone is no identity; only the token file's mount is shared", () => {
  expect(podIdentityOf([{ name: 'a', env: [{ name: 'AWS_REGION', value: 'x' }] }])).toBeUndefined();
  expect(podIdentityOf([{ name: 'a' }, irsaApp])?.volumeMounts).toEqual([
    { name: 'aws-iam-token', mountPath: '/var/run/secrets/eks.amazonaws.com/serviceaccount', readOnly: true },
  ]);
});

describe('mirror bucket template', () => {
  test('unset by default: the proxy gets no MIRROR_BUCKET_TEMPLATE (its default: main bucket names)', () => {
    expect(injectedProxy(podWith(irsaApp)).names).not.toContain('MIRROR_BUCKET_TEMPLATE');
  });

  test('the cluster default, a pod annotation over it, an invalid annotation ignored with a warning', () => {
    const cfg = { MIRROR_BUCKET_TEMPLATE: '{bucket}-backup' };
    expect(injectedProxy(podWith(irsaApp), cfg).value('MIRROR_BUCKET_TEMPLATE')?.value).toBe(
      '{bucket}-backup',
    );
    const own = injectedProxy(podWith(irsaApp, { [ANNOTATIONS.mirrorBucketTemplate]: 'dr-{bucket}' }), cfg);
    expect(own.value('MIRROR_BUCKET_TEMPLATE')?.value).toBe('dr-{bucket}');
    const bad = injectedProxy(podWith(irsaApp, { [ANNOTATIONS.mirrorBucketTemplate]: '{bucket}_DR' }), cfg);
    expect(bad.value('MIRROR_BUCKET_TEMPLATE')?.value).toBe('{bucket}-backup');
    expect(bad.warnings).toEqual([
      `annotation ${ANNOTATIONS.mirrorBucketTemplate}="{bucket}_DR" is invalid and was ignored`,
    ]);
  });

  test('MIRROR_BUCKET_TEMPLATE in the config is checked', () => {
    const base = { MIRROR_S3_ENDPOINT: 'https://b.example', POD_NAMESPACE: 's' };
    expect(parseConfig({ ...base, MIRROR_BUCKET_TEMPLATE: 'backup' })).toMatchObject({
      ok: false,
      errors: [expect.stringMatching(/^MIRROR_BUCKET_TEMPLATE must contain \{bucket\} once/)],
    });
  });

  test.each([
    '{bucket}',
    '{bucket}-backup',
    'backup-{bucket}',
    'a.{bucket}.b',
    `${'a'.repeat(60)}{bucket}`,
    `${'a'.repeat(61)}{bucket}`,
    '',
    'backup',
    '{bucket}{bucket}',
    '{bucket}-',
    '-{bucket}',
    '.{bucket}',
    '{bucket}.',
    '{bucket}..x',
    'x..{bucket}',
    '{bucket}_x',
    '{bucket}-X',
    '{BUCKET}',
  ])('the webhook accepts %j exactly when the proxy does', (template) => {
    expect(isMirrorBucketTemplate(template)).toBe(mirrorBucketTemplateProblem(template) === undefined);
  });
});

describe('delete policy', () => {
  test('unset by default: the proxy gets no MIRROR_DELETE_POLICY (its default: mirror)', () => {
    expect(injectedProxy(podWith(irsaApp)).names).not.toContain('MIRROR_DELETE_POLICY');
  });

  test('the cluster default, a pod annotation over it', () => {
    const cfg = { MIRROR_DELETE_POLICY: 'delay:24h' };
    expect(injectedProxy(podWith(irsaApp), cfg).value('MIRROR_DELETE_POLICY')?.value).toBe('delay:24h');
    const own = injectedProxy(podWith(irsaApp, { [ANNOTATIONS.deletePolicy]: 'keep' }), cfg);
    expect(own.value('MIRROR_DELETE_POLICY')?.value).toBe('keep');
    const onlyPod = injectedProxy(podWith(irsaApp, { [ANNOTATIONS.deletePolicy]: 'delay:5s' }));
    expect(onlyPod.value('MIRROR_DELETE_POLICY')?.value).toBe('delay:5s');
  });

  test('an invalid annotation is refused with a warning naming the accepted forms; the proxy keeps deletes (never looser than asked)', () => {
    const configs: Record<string, string>[] = [
      {},
      { MIRROR_DELETE_POLICY: 'mirror' },
      { MIRROR_DELETE_POLICY: 'delay:24h' },
    ];
    for (const cfg of configs) {
      const bad = injectedProxy(podWith(irsaApp, { [ANNOTATIONS.deletePolicy]: 'delay:1 day' }), cfg);
      expect(bad.value('MIRROR_DELETE_POLICY')?.value).toBe('keep');
      expect(bad.warnings).toEqual([
        `annotation ${ANNOTATIONS.deletePolicy}="delay:1 day" is invalid: use mirror, keep or ` +
          'delay:<n><s|m|h|d> (e.g. delay:24h, at most 366d); until it is fixed the proxy keeps deleted ' +
          'objects on the mirror (keep)',
      ]);
    }
  });

  test('MIRROR_DELETE_POLICY in the config is checked', () => {
    const base = { MIRROR_S3_ENDPOINT: 'https://b.example', POD_NAMESPACE: 's' };
    expect(parseConfig({ ...base, MIRROR_DELETE_POLICY: 'never' })).toMatchObject({
      ok: false,
      errors: [expect.stringMatching(/^MIRROR_DELETE_POLICY must be mirror, keep or delay:<duration>/)],
    });
    expect(parseConfig({ ...base, MIRROR_DELETE_POLICY: 'keep' })).toMatchObject({ ok: true });
  });

  test.each([
    'mirror',
    'keep',
    'delay:5s',
    'delay:24h',
    'delay:366d',
    'delay:367d',
    'delay:0s',
    'delay:05m',
    'delay:1.5h',
    'delay:1h30m',
    'delay:24H',
    'delay',
    'Keep',
    'never',
    '',
  ])('the webhook accepts %j exactly when the proxy does', (policy) => {
    expect(isDeletePolicy(policy)).toBe(!('error' in parseDeletePolicy(policy)));
  });
});

describe('memory reclaim', () => {
  test('unset by default: the proxy gets no MEMORY_RECLAIM (its default: on)', () => {
    expect(injectedProxy(podWith(irsaApp)).names).not.toContain('MEMORY_RECLAIM');
  });

  test('PROXY_MEMORY_RECLAIM is passed to every proxy as MEMORY_RECLAIM', () => {
    const off = injectedProxy(podWith(irsaApp), { PROXY_MEMORY_RECLAIM: 'off' });
    expect(off.value('MEMORY_RECLAIM')?.value).toBe('off');
    const on = injectedProxy(podWith(irsaApp), { PROXY_MEMORY_RECLAIM: 'on' });
    expect(on.value('MEMORY_RECLAIM')?.value).toBe('on');
  });

  test('PROXY_MEMORY_RECLAIM in the config is checked', () => {
    const base = { MIRROR_S3_ENDPOINT: 'https://b.example', POD_NAMESPACE: 's' };
    expect(parseConfig({ ...base, PROXY_MEMORY_RECLAIM: 'false' })).toMatchObject({
      ok: false,
      errors: [`PROXY_MEMORY_RECLAIM must be on or off (empty: the proxy's default), got "false"`],
    });
    expect(parseConfig({ ...base, PROXY_MEMORY_RECLAIM: 'off' })).toMatchObject({ ok: true });
  });
});

describe('failover reads', () => {
  test('unset by default: the proxy gets no FAILOVER_READS (its default: on)', () => {
    expect(injectedProxy(podWith(irsaApp)).names).not.toContain('FAILOVER_READS');
  });

  test('the cluster default, a pod annotation over it; an empty annotation keeps the cluster default', () => {
    const cfg = { PROXY_FAILOVER_READS: 'off' };
    expect(injectedProxy(podWith(irsaApp), cfg).value('FAILOVER_READS')?.value).toBe('off');
    const own = injectedProxy(podWith(irsaApp, { [ANNOTATIONS.failoverReads]: 'on' }), cfg);
    expect(own.value('FAILOVER_READS')?.value).toBe('on');
    const onlyPod = injectedProxy(podWith(irsaApp, { [ANNOTATIONS.failoverReads]: ' off ' }));
    expect(onlyPod.value('FAILOVER_READS')?.value).toBe('off');
    const empty = injectedProxy(podWith(irsaApp, { [ANNOTATIONS.failoverReads]: '' }), cfg);
    expect(empty.value('FAILOVER_READS')?.value).toBe('off');
    expect(injectedProxy(podWith(irsaApp, { [ANNOTATIONS.failoverReads]: '' })).names).not.toContain(
      'FAILOVER_READS',
    );
  });

  test.each([
    ['OFF', 'off'],
    ['false', 'off'],
    ['No', 'off'],
    ['disabled', 'off'],
    ['On', 'on'],
    ['true', 'on'],
  ])('the annotation %j, as case and true/false allow, gives %j', (annotation, env) => {
    const cfg = { PROXY_FAILOVER_READS: env === 'on' ? 'off' : 'on' };
    const pod = injectedProxy(podWith(irsaApp, { [ANNOTATIONS.failoverReads]: annotation }), cfg);
    expect(pod.value('FAILOVER_READS')?.value).toBe(env);
    expect(pod.warnings).toEqual([]);
  });

  test('an invalid annotation is ignored with a warning: the cluster default stays', () => {
    const bad = injectedProxy(podWith(irsaApp, { [ANNOTATIONS.failoverReads]: 'sometimes' }), {
      PROXY_FAILOVER_READS: 'off',
    });
    expect(bad.value('FAILOVER_READS')?.value).toBe('off');
    expect(bad.warnings).toEqual([
      `annotation ${ANNOTATIONS.failoverReads}="sometimes" is invalid and was ignored`,
    ]);
  });

  test('PROXY_FAILOVER_READS in the config is checked', () => {
    const base = { MIRROR_S3_ENDPOINT: 'https://b.example', POD_NAMESPACE: 's' };
    expect(parseConfig({ ...base, PROXY_FAILOVER_READS: 'no' })).toMatchObject({
      ok: false,
      errors: [`PROXY_FAILOVER_READS must be on or off (empty: the proxy's default), got "no"`],
    });
    expect(parseConfig({ ...base, PROXY_FAILOVER_READS: 'on' })).toMatchObject({ ok: true });
  });
});
