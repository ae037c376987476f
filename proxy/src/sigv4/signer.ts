import { SignatureV4 } from '@smithy/signature-v4';
import type { S3Endpoint } from '../config';
import { NodeSha256 } from './sha256';

export type HeaderMap = Record<string, string>;

export interface UnsignedRequest {
  method: string;
  /** Wire path, already URI-encoded once; it is signed as is. */
  path: string;
  query: readonly [string, string | null][];
  /** Lower-case names. Must include `x-amz-content-sha256`. `date` is dropped: x-amz-date supersedes it. */
  headers: HeaderMap;
}

/** Signs requests for one endpoint with SigV4 (service s3). */
export class RequestSigner {
  private readonly signer: SignatureV4;
  readonly hostHeader: string;

  constructor(private readonly endpoint: S3Endpoint) {
    this.signer = new SignatureV4({
      credentials: { accessKeyId: endpoint.accessKeyId, secretAccessKey: endpoint.secretAccessKey },
      region: endpoint.region,
      service: 's3',
      sha256: NodeSha256,
      // S3 signs the path as sent: we encode it exactly once ourselves.
      uriEscapePath: false,
      applyChecksum: false,
    });
    this.hostHeader = endpoint.url.host;
  }

  /** Returns the headers to send: the input plus host, x-amz-date and authorization. */
  async sign(request: UnsignedRequest, signingDate?: Date): Promise<HeaderMap> {
    // A value-less subresource (`?uploads`) is signed as `uploads=`; smithy would drop a null value.
    // No prototype: a parameter named `toString` or `__proto__` is just a parameter.
    const query: Record<string, string | string[]> = Object.create(null) as Record<string, string | string[]>;
    for (const [name, raw] of request.query) {
      const value = raw ?? '';
      const existing = query[name];
      if (existing === undefined) query[name] = value;
      else if (Array.isArray(existing)) existing.push(value);
      else query[name] = [existing, value];
    }
    const signed = await this.signer.sign(
      {
        method: request.method,
        protocol: this.endpoint.url.protocol,
        hostname: this.endpoint.url.hostname,
        port: this.endpoint.url.port ? Number(this.endpoint.url.port) : undefined,
        path: request.path,
        query,
        headers: { ...request.headers, host: this.hostHeader },
      },
      signingDate ? { signingDate } : {},
    );
    return signed.headers as HeaderMap;
  }
}
