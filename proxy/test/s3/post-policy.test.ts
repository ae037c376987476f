import { formField } from '../../src/s3/post-form';
import { formObjectKey, resignedPolicy, resignFormFields } from '../../src/s3/post-policy';

const encode = (policy: object) => Buffer.from(JSON.stringify(policy)).toString('base64');
const decode = (base64: string) =>
  JSON.parse(Buffer.from(base64, 'base64').toString()) as { conditions: unknown[] };
const MAIN = { credential: 'MAINKEY/20261202/us-east-1/s3/aws4_request', amzDate: '20261202T030405Z' };

const appPolicy = {
  expiration: '2030-01-01T00:00:00Z',
  conditions: [
    { bucket: 'b' },
    ['starts-with', '$key', 'up/'],
    { 'X-Amz-Credential': 'APPKEY/20261201/us-east-1/s3/aws4_request' },
    ['eq', '$x-amz-date', '20261201T000000Z'],
    { 'x-amz-algorithm': 'AWS4-HMAC-SHA256' },
    { 'x-amz-security-token': 'app-token' },
    ['content-length-range', 1, 100],
  ],
};

test("the app's credential conditions, in either form and any case, are replaced by main's; the rest is kept", () => {
  const policy = decode(resignedPolicy(encode(appPolicy), MAIN));
  expect(policy).toEqual({
    expiration: '2030-01-01T00:00:00Z',
    conditions: [
      { bucket: 'b' },
      ['starts-with', '$key', 'up/'],
      ['content-length-range', 1, 100],
      { 'x-amz-algorithm': 'AWS4-HMAC-SHA256' },
      { 'x-amz-credential': MAIN.credential },
      { 'x-amz-date': MAIN.amzDate },
    ],
  });
});

test('a SigV4 form is re-signed: auth fields swapped for main, others kept, the new policy signed', () => {
  const fields = [
    formField('key', 'up/${filename}'),
    formField('X-Amz-Credential', 'APPKEY/x'),
    formField('x-amz-signature', 'app-signature'),
    formField('x-amz-security-token', 'app-token'),
    formField('policy', encode(appPolicy)),
    formField('success_action_status', '201'),
  ];
  const signed: string[] = [];
  const out = resignFormFields(fields, MAIN, (policy) => {
    signed.push(policy);
    return 'main-signature';
  });
  const byName = Object.fromEntries(out.map((f) => [f.name, f.value.toString()]));
  expect(byName).toEqual({
    key: 'up/${filename}',
    success_action_status: '201',
    policy: signed[0],
    'x-amz-algorithm': 'AWS4-HMAC-SHA256',
    'x-amz-credential': MAIN.credential,
    'x-amz-date': MAIN.amzDate,
    'x-amz-signature': 'main-signature',
  });
  expect(decode(signed[0]!).conditions).toContainEqual({ 'x-amz-credential': MAIN.credential });
});

test("with temporary credentials, main's session token replaces the app's, as a field and a condition", () => {
  const temporary = { ...MAIN, securityToken: 'main-token' };
  const fields = [formField('x-amz-security-token', 'app-token'), formField('policy', encode(appPolicy))];
  const out = resignFormFields(fields, temporary, () => 's');
  const tokens = out.filter((f) => f.name === 'x-amz-security-token').map((f) => f.value.toString());
  expect(tokens).toEqual(['main-token']);
  const policy = decode(out.find((f) => f.name === 'policy')!.value.toString());
  expect(policy.conditions).toContainEqual({ 'x-amz-security-token': 'main-token' });
  expect(policy.conditions).not.toContainEqual({ 'x-amz-security-token': 'app-token' });
});

test('a SigV2 form (AWSAccessKeyId, signature) becomes a SigV4 form signed for main', () => {
  const fields = [
    formField('key', 'k'),
    formField('AWSAccessKeyId', 'APPKEY'),
    formField('signature', 'v2sig'),
    formField('policy', encode({ expiration: '2030-01-01T00:00:00Z', conditions: [{ bucket: 'b' }] })),
  ];
  const names = resignFormFields(fields, MAIN, () => 's').map((f) => f.name);
  expect(names).toEqual([
    'key',
    'policy',
    'x-amz-algorithm',
    'x-amz-credential',
    'x-amz-date',
    'x-amz-signature',
  ]);
});

test('a form without a policy is anonymous direct and through the proxy: left as it is', () => {
  const fields = [formField('key', 'k'), formField('acl', 'public-read')];
  expect(resignFormFields(fields, MAIN, () => 'never')).toEqual(fields);
});

test('a policy that is not base64 JSON with conditions is InvalidPolicyDocument', () => {
  expect(() => resignedPolicy('bm90IGpzb24=', MAIN)).toThrow(
    expect.objectContaining({ code: 'InvalidPolicyDocument' }),
  );
  expect(() => resignedPolicy(encode({ expiration: 'x' }), MAIN)).toThrow(
    expect.objectContaining({ code: 'InvalidPolicyDocument' }),
  );
});

test('the key is the key field with ${filename} replaced, as S3 does', () => {
  expect(formObjectKey([formField('Key', 'up/${filename}')], 'a b.txt')).toBe('up/a b.txt');
  expect(formObjectKey([formField('key', 'fixed')], 'x')).toBe('fixed');
  expect(formObjectKey([], 'x')).toBeUndefined();
});
