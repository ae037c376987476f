import { ConfigError, loadConfig } from '../../src/config';
import { credentialSettingFrom } from '../../src/credentials';

const NAMES = { accessKey: 'MIRROR_ACCESS_KEY', secretKey: 'MIRROR_SECRET_KEY', roleArn: 'MIRROR_ROLE_ARN' };
const ROLE = 'arn:aws:iam::123456789012:role/s3-mirror-backup';

function variableOf(env: Record<string, string>): string {
  try {
    credentialSettingFrom(env, NAMES);
  } catch (err) {
    if (err instanceof ConfigError) return err.variable;
    throw err;
  }
  throw new Error('expected a ConfigError');
}

describe('credentialSettingFrom', () => {
  test("the seed's pair gives static keys", () => {
    expect(credentialSettingFrom({ MIRROR_ACCESS_KEY: ' AK ', MIRROR_SECRET_KEY: 'sk' }, NAMES)).toEqual({
      kind: 'static',
      accessKeyId: 'AK',
      secretAccessKey: 'sk',
    });
  });

  test('neither of the pair (unset or blank) gives the default chain', () => {
    expect(credentialSettingFrom({}, NAMES)).toEqual({ kind: 'chain' });
    expect(credentialSettingFrom({ MIRROR_ACCESS_KEY: ' ', MIRROR_SECRET_KEY: '' }, NAMES)).toEqual({
      kind: 'chain',
    });
  });

  test('one of the pair alone names the missing one', () => {
    expect(variableOf({ MIRROR_ACCESS_KEY: 'AK' })).toBe('MIRROR_SECRET_KEY');
    expect(variableOf({ MIRROR_SECRET_KEY: 'sk' })).toBe('MIRROR_ACCESS_KEY');
  });

  test('a role ARN goes on top of either, and must be an IAM role ARN', () => {
    expect(credentialSettingFrom({ MIRROR_ROLE_ARN: ROLE }, NAMES)).toEqual({ kind: 'chain', roleArn: ROLE });
    expect(
      credentialSettingFrom(
        { MIRROR_ACCESS_KEY: 'AK', MIRROR_SECRET_KEY: 'sk', MIRROR_ROLE_ARN: ROLE },
        NAMES,
      ),
    ).toMatchObject({ kind: 'static', roleArn: ROLE });
    expect(
      credentialSettingFrom({ MIRROR_ROLE_ARN: 'arn:aws-cn:iam::123456789012:role/path/r' }, NAMES).roleArn,
    ).toBe('arn:aws-cn:iam::123456789012:role/path/r');
    expect(variableOf({ MIRROR_ROLE_ARN: 'arn:aws:iam::123:role/x' })).toBe('MIRROR_ROLE_ARN');
    expect(variableOf({ MIRROR_ROLE_ARN: 'arn:aws:iam::123456789012:user/x' })).toBe('MIRROR_ROLE_ARN');
  });
});

describe('loadConfig: each side on its own', () => {
  const BASE = { MIRROR_S3_ENDPOINT: 'http://mirror.local:7480', POSTGRES_URL: 'postgres://db/postgres' };

  test('static main, chain mirror: only main signs right away, its secret is redacted', () => {
    const c = loadConfig({ ...BASE, MAIN_ACCESS_KEY: 'AK', MAIN_SECRET_KEY: 'main-secret' });
    expect(c.main.credentials.current()).toEqual({ accessKeyId: 'AK', secretAccessKey: 'main-secret' });
    expect(c.main.credentials.health()).toMatchObject({ ok: true, kind: 'static' });
    expect(() => c.mirror.credentials.current()).toThrow('not resolved yet');
    expect(c.mirror.credentials.health()).toMatchObject({ ok: false, kind: 'refreshing' });
    expect(c.mirror.credentials.configuredSecrets).toEqual([]);
  });

  test('static keys with a role: refreshed (assumed), and the base secret still redacted', () => {
    const c = loadConfig({
      ...BASE,
      MIRROR_ACCESS_KEY: 'AK',
      MIRROR_SECRET_KEY: 'base-secret',
      MIRROR_ROLE_ARN: ROLE,
    });
    expect(c.mirror.credentials.health().kind).toBe('refreshing');
    expect(c.mirror.credentials.configuredSecrets).toEqual(['base-secret']);
  });
});
