import { createHash } from 'node:crypto';
import { Readable } from 'node:stream';

import { Sha256 } from '@aws-crypto/sha256-js';
import { HttpRequest } from '@smithy/protocol-http';
import { SignatureV4 } from '@smithy/signature-v4';

import type { S3Endpoint } from '../../src/config';
import { latin1SdkSigner } from '../../src/sigv4/sdk-signer';
import { RequestSigner } from '../../src/sigv4/signer';
import { staticCredentials } from '../../src/credentials';

const ENDPOINT: S3Endpoint = {
  url: new URL('http://127.0.0.1:7480'),
  region: 'us-east-1',
  credentials: staticCredentials('main', {
    accessKeyId: 'AKIDEXAMPLE',
    secretAccessKey: 'wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY',
  }),
};
const DATE = new Date('2026-05-01T12:34:56Z');
const sha256 = (data: string | Buffer): string => createHash('sha256').update(data).digest('hex');

function request(extra: Partial<ConstructorParameters<typeof HttpRequest>[0]> = {}): HttpRequest {
  return new HttpRequest({
    method: 'GET',
    protocol: 'http:',
    hostname: '127.0.0.1',
    port: 7480,
    path: '/bucket/a%20key/%C3%A9.txt',
    query: { 'list-type': '2', prefix: 'dir/é', 'x-id': 'GetObject' },
    headers: { host: '127.0.0.1:7480', 'x-amz-user-agent': 'aws-sdk-js/3', 'amz-sdk-request': 'attempt=1' },
    ...extra,
  });
}

const sign = (req: HttpRequest) => latin1SdkSigner(ENDPOINT).sign(req, { signingDate: DATE });

describe('latin1SdkSigner', () => {
  test('signs an ASCII request exactly as the SDK S3 signer does', async () => {
    const sdk = new SignatureV4({
      credentials: ENDPOINT.credentials.current(),
      region: ENDPOINT.region,
      service: 's3',
      sha256: Sha256,
      uriEscapePath: false,
      applyChecksum: true,
    });
    const expected = await sdk.sign(request(), { signingDate: DATE });
    const signed = await sign(request());
    expect(signed.headers.authorization).toBe(expected.headers.authorization);
    expect(signed.headers['x-amz-content-sha256']).toBe(sha256(''));
  });

  test('signs non-ASCII header values as the bytes Node writes (latin1), 0x85 and 0xA0 included', async () => {
    const bytes = Buffer.from('attachment; filename="naïve Åsa à.txt"', 'utf8');
    const wire = bytes.toString('latin1');
    const signed = await sign(request({ headers: { host: '127.0.0.1:7480', 'content-disposition': wire } }));
    const direct = new RequestSigner(ENDPOINT).sign(
      {
        method: 'GET',
        path: '/bucket/a%20key/%C3%A9.txt',
        query: [
          ['list-type', '2'],
          ['prefix', 'dir/é'],
          ['x-id', 'GetObject'],
        ],
        headers: { 'content-disposition': wire, 'x-amz-content-sha256': sha256('') },
      },
      DATE,
    );
    expect(signed.headers.authorization).toBe(direct.authorization);
    expect(signed.headers['content-disposition']).toBe(wire);
  });

  test.each([
    ['a string', 'hello', sha256('hello')],
    ['bytes', Buffer.from('hello'), sha256('hello')],
    ['a subarray', Buffer.from('xhellox').subarray(1, 6), sha256('hello')],
    ['an ArrayBuffer', new Uint8Array(Buffer.from('hello')).buffer, sha256('hello')],
    ['a stream', Readable.from(['hello']), 'UNSIGNED-PAYLOAD'],
  ])('a body that is %s: the payload hash the SDK would choose', async (_name, body, hash) => {
    const signed = await sign(request({ method: 'PUT', body }));
    expect(signed.headers['x-amz-content-sha256']).toBe(hash);
    expect(signed.body).toBe(body);
  });

  test('a payload hash the SDK already set is kept', async () => {
    const signed = await sign(
      request({ headers: { 'X-Amz-Content-Sha256': 'UNSIGNED-PAYLOAD' }, body: 'x' }),
    );
    expect(signed.headers['x-amz-content-sha256']).toBe('UNSIGNED-PAYLOAD');
  });

  test('a retry is signed afresh; the request given is left as it was', async () => {
    const original = request();
    const first = await sign(original);
    expect(original.headers.authorization).toBeUndefined();
    const again = await latin1SdkSigner(ENDPOINT).sign(first as HttpRequest, {
      signingDate: new Date(DATE.getTime() + 1000),
    });
    expect(again.headers.authorization).not.toBe(first.headers.authorization);
    expect(again.headers.authorization).toMatch(/SignedHeaders=amz-sdk-request;host;x-amz-content-sha256;/);
    expect(again.headers['x-amz-date']).toBe('20260501T123457Z');
  });
});
