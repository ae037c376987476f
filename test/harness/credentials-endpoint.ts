/**
 * Loopback stand-ins for where AWS workloads get temporary credentials: a container credentials endpoint
 * (ECS / EKS Pod Identity: GET with the token file's content as Authorization, JSON answer) and STS
 * AssumeRole (the query protocol's XML answer). Each hands out whatever `issue` gives at the time.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';

import type { S3Credentials } from './ceph';
import { recordSecrets } from './secret-scan';

export interface Issued extends S3Credentials {
  sessionToken: string;
  expiration: Date;
}

export interface CredentialsEndpoint {
  /** AWS_CONTAINER_CREDENTIALS_FULL_URI */
  containerUri: string;
  /** AWS_ENDPOINT_URL_STS */
  stsUrl: string;
  /** Answers so far, and refusals (a wrong Authorization token, an unknown action). */
  counts: { container: number; assumeRole: number; refused: number };
  /** Access key ids that signed AssumeRole requests (the base identity the role is assumed with). */
  assumeRoleSigners: Set<string>;
  /**
   * The session tokens handed out with `accessKeyId` (`''`: none), undefined for a key id never handed out:
   * a signature audit relay's `issuedTokens`.
   */
  tokensIssuedWith(accessKeyId: string): ReadonlySet<string> | undefined;
  close(): Promise<void>;
}

const xmlEscape = (s: string): string => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');

export async function startCredentialsEndpoint(opts: {
  token: string;
  container: () => Issued;
  assumeRole: (roleArn: string) => Issued;
}): Promise<CredentialsEndpoint> {
  const counts = { container: 0, assumeRole: 0, refused: 0 };
  const assumeRoleSigners = new Set<string>();
  const issued = new Map<string, Set<string>>();
  // Every secret handed out goes to the suite's secret scan before it leaves: a process printing one fails.
  const handOut = (source: string, c: Issued): Issued => {
    recordSecrets(`${source} secret key or session token`, [c.secretAccessKey, c.sessionToken]);
    const tokens = issued.get(c.accessKeyId) ?? new Set<string>();
    issued.set(c.accessKeyId, tokens.add(c.sessionToken));
    return c;
  };
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      if (req.method === 'GET' && req.url === '/credentials') {
        if (req.headers.authorization !== opts.token) {
          counts.refused += 1;
          res.writeHead(401, { 'content-type': 'application/json' }).end('{"Code":"Unauthorized"}');
          return;
        }
        counts.container += 1;
        const c = handOut('container credentials endpoint', opts.container());
        res.writeHead(200, { 'content-type': 'application/json' }).end(
          JSON.stringify({
            AccessKeyId: c.accessKeyId,
            SecretAccessKey: c.secretAccessKey,
            Token: c.sessionToken,
            Expiration: c.expiration.toISOString(),
          }),
        );
        return;
      }
      const form = new URLSearchParams(Buffer.concat(chunks).toString('utf8'));
      const signer = /Credential=([^/]+)\//.exec(req.headers.authorization ?? '')?.[1];
      if (req.method !== 'POST' || form.get('Action') !== 'AssumeRole' || signer === undefined) {
        counts.refused += 1;
        res
          .writeHead(400, { 'content-type': 'text/xml' })
          .end('<ErrorResponse><Error><Code>InvalidAction</Code></Error></ErrorResponse>');
        return;
      }
      counts.assumeRole += 1;
      assumeRoleSigners.add(signer);
      const roleArn = form.get('RoleArn') ?? '';
      const c = handOut('loopback STS', opts.assumeRole(roleArn));
      res
        .writeHead(200, { 'content-type': 'text/xml' })
        .end(
          `<AssumeRoleResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/"><AssumeRoleResult>` +
            `<Credentials><AccessKeyId>${c.accessKeyId}</AccessKeyId>` +
            `<SecretAccessKey>${xmlEscape(c.secretAccessKey)}</SecretAccessKey>` +
            `<SessionToken>${xmlEscape(c.sessionToken)}</SessionToken>` +
            `<Expiration>${c.expiration.toISOString()}</Expiration></Credentials>` +
            `<AssumedRoleUser><Arn>${xmlEscape(roleArn)}/${xmlEscape(form.get('RoleSessionName') ?? '')}</Arn>` +
            `<AssumedRoleId>AROATEST:session</AssumedRoleId></AssumedRoleUser>` +
            `</AssumeRoleResult><ResponseMetadata><RequestId>test</RequestId></ResponseMetadata></AssumeRoleResponse>`,
        );
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    containerUri: `http://127.0.0.1:${port}/credentials`,
    stsUrl: `http://127.0.0.1:${port}`,
    counts,
    assumeRoleSigners,
    tokensIssuedWith: (accessKeyId) => issued.get(accessKeyId),
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
