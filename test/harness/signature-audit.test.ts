import { auditSessionToken, auditSignedHeaders } from './signature-audit';

const auth = (signed: string) =>
  `AWS4-HMAC-SHA256 Credential=K/20260101/us-east-1/s3/aws4_request, SignedHeaders=${signed}, Signature=00`;

describe('auditSignedHeaders', () => {
  test('exactly the signed headers, plus framing and hop headers: fine', () => {
    expect(
      auditSignedHeaders([
        'Host',
        'main:7480',
        'x-amz-date',
        '20260101T000000Z',
        'x-amz-content-sha256',
        'UNSIGNED-PAYLOAD',
        'Content-Length',
        '5',
        'connection',
        'keep-alive',
        'user-agent',
        'undici',
        'authorization',
        auth('host;x-amz-content-sha256;x-amz-date'),
      ]),
    ).toBeUndefined();
  });

  test('a signed Content-Length the client never sent (the boto3 DELETE bug) is caught', () => {
    expect(
      auditSignedHeaders([
        'host',
        'main',
        'x-amz-date',
        'd',
        'authorization',
        auth('content-length;host;x-amz-date'),
      ]),
    ).toBe('signed but not received: content-length');
  });

  test('an unsigned header main would act on is caught, and so is a signed header sent twice', () => {
    expect(
      auditSignedHeaders([
        'host',
        'main',
        'x-amz-meta-a',
        '1',
        'x-amz-meta-a',
        '2',
        'x-amz-acl',
        'public-read',
        'authorization',
        auth('host;x-amz-meta-a'),
      ]),
    ).toBe('received but not signed: x-amz-acl; signed and sent more than once: x-amz-meta-a');
  });

  test('presigned and anonymous requests carry no header signature to check', () => {
    expect(auditSignedHeaders(['host', 'main', 'x-amz-acl', 'private'])).toBeUndefined();
  });
});

describe('auditSessionToken', () => {
  const issued = new Map([
    ['ISSUED1', new Set(['token-a', 'token-b'])],
    ['ISSUED2', new Set(['token-c'])],
    ['PLAIN', new Set([''])],
  ]);
  const check = (headers: string[], url = '/bucket/key') =>
    auditSessionToken(headers, url, (keyId) => issued.get(keyId));
  const signedBy = (keyId: string, token?: string) => [
    'authorization',
    `AWS4-HMAC-SHA256 Credential=${keyId}/20260101/us-east-1/s3/aws4_request, SignedHeaders=host, Signature=00`,
    ...(token !== undefined ? ['x-amz-security-token', token] : []),
  ];

  test('a token issued with the key id that signed: fine; keys it never issued are not checked', () => {
    expect(check(signedBy('ISSUED1', 'token-b'))).toBeUndefined();
    expect(check(signedBy('PLAIN'))).toBeUndefined();
    expect(check(signedBy('HARNESS', 'anything'))).toBeUndefined();
    expect(check(signedBy('HARNESS'))).toBeUndefined();
  });

  test('a missing token, or one issued with another key id (stale after a rotation), is caught', () => {
    expect(check(signedBy('ISSUED1'))).toBe('signed with issued key ISSUED1 but carries no session token');
    expect(check(signedBy('ISSUED2', 'token-a'))).toBe(
      'signed with issued key ISSUED2 but carries a session token not issued with it',
    );
    expect(check(signedBy('PLAIN', 'token-c'))).toBe(
      'signed with issued key PLAIN but carries a session token not issued with it',
    );
    expect(check([...signedBy('ISSUED2', 'token-c'), 'x-amz-security-token', 'token-c'])).toBe(
      'signed with issued key ISSUED2: 2 session tokens',
    );
  });

  test('presigned URLs: the key id and token from the query', () => {
    const url = (token: string) =>
      `/b/k?X-Amz-Credential=ISSUED2%2F20260101%2Fus-east-1%2Fs3%2Faws4_request&X-Amz-Security-Token=${token}`;
    expect(check([], url('token-c'))).toBeUndefined();
    expect(check([], url('token-a'))).toMatch(/not issued with it/);
  });
});
