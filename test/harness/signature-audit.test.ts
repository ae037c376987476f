import { auditSignedHeaders } from './signature-audit';

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
