/**
 * A TCP relay in front of main that checks, for every request that passes, that the headers which arrive
 * are exactly the headers the SigV4 Authorization signed: each signed header present, and nothing else
 * but framing and hop headers (which any hop may change, and which the proxy deliberately leaves unsigned).
 * Bytes pass through untouched both ways; a copy of what the client sends is parsed by Node's own HTTP
 * parser on the side, so the check sees what main sees. The harness puts it between every proxy it starts
 * and RGW; the global teardown fails the run on any violation.
 */
import http from 'node:http';
import net from 'node:net';
import { Duplex } from 'node:stream';

/** Headers that may arrive unsigned (the proxy's UNSIGNED_HEADERS, and what every HTTP client adds). */
export const MAY_ARRIVE_UNSIGNED: ReadonlySet<string> = new Set([
  'content-length',
  'transfer-encoding',
  'connection',
  'keep-alive',
  'expect',
  'te',
  'trailer',
  'upgrade',
  'user-agent',
  'x-amzn-trace-id',
]);

export interface AuditFinding {
  request: string;
  problem: string;
}

/** Checks one request's raw header list (name, value, name, value…). Pure. */
export function auditSignedHeaders(rawHeaders: readonly string[]): string | undefined {
  const names: string[] = [];
  let authorization: string | undefined;
  for (let i = 0; i < rawHeaders.length; i += 2) {
    const name = rawHeaders[i]!.toLowerCase();
    names.push(name);
    if (name === 'authorization') authorization = rawHeaders[i + 1];
  }
  // Presigned, anonymous and form-authenticated requests carry no header signature.
  if (authorization === undefined || !authorization.startsWith('AWS4-HMAC-SHA256 ')) return undefined;
  const signed = /SignedHeaders=([^,\s]+)/.exec(authorization)?.[1]?.split(';');
  if (!signed) return 'no SignedHeaders in the Authorization header';
  const arrived = new Set(names);
  const missing = signed.filter((name) => !arrived.has(name));
  const unsigned = [...arrived].filter(
    (name) => name !== 'authorization' && !signed.includes(name) && !MAY_ARRIVE_UNSIGNED.has(name),
  );
  const repeated = signed.filter((name) => names.filter((n) => n === name).length > 1);
  const problems = [
    missing.length > 0 ? `signed but not received: ${missing.join(', ')}` : '',
    unsigned.length > 0 ? `received but not signed: ${unsigned.join(', ')}` : '',
    repeated.length > 0 ? `signed and sent more than once: ${repeated.join(', ')}` : '',
  ].filter(Boolean);
  return problems.length > 0 ? problems.join('; ') : undefined;
}

/**
 * The session tokens issued together with `accessKeyId` by a test's own credentials endpoint or STS; undefined
 * for a key id it never issued (not checked). `''` in the set: issued without a token.
 */
export type IssuedTokens = (accessKeyId: string) => ReadonlySet<string> | undefined;

/**
 * Checks that a request signed with an access key id a test's endpoint issued carries exactly a session token
 * issued with that key id (RGW accepts any x-amz-security-token on plain keys, so only this catches a stale
 * or missing token). Never prints a token. Pure.
 */
export function auditSessionToken(
  rawHeaders: readonly string[],
  url: string,
  issued: IssuedTokens,
): string | undefined {
  let authorization: string | undefined;
  const tokens: string[] = [];
  for (let i = 0; i < rawHeaders.length; i += 2) {
    const name = rawHeaders[i]!.toLowerCase();
    if (name === 'authorization') authorization = rawHeaders[i + 1];
    if (name === 'x-amz-security-token') tokens.push(rawHeaders[i + 1]!);
  }
  const query = new URL(url, 'http://relay').searchParams;
  const keyId =
    /Credential=([^/,\s]+)\//.exec(authorization ?? '')?.[1] ??
    query.get('X-Amz-Credential')?.split('/')[0] ??
    undefined;
  if (keyId === undefined) return undefined;
  const expected = issued(keyId);
  if (expected === undefined) return undefined;
  tokens.push(...query.getAll('X-Amz-Security-Token'));
  if (tokens.length > 1) return `signed with issued key ${keyId}: ${tokens.length} session tokens`;
  const token = tokens[0] ?? '';
  if (expected.has(token)) return undefined;
  return token === ''
    ? `signed with issued key ${keyId} but carries no session token`
    : `signed with issued key ${keyId} but carries a session token not issued with it`;
}

export interface SignatureAuditRelay {
  /** http://127.0.0.1:PORT: give it to a proxy as MAIN_S3_ENDPOINT. */
  url: string;
  /** Requests parsed and checked so far. */
  readonly audited: number;
  readonly findings: readonly AuditFinding[];
  /** With `issuedTokens`: requests whose key id was issued by the test, and those with the wrong token. */
  readonly tokensChecked: number;
  readonly tokenFindings: readonly AuditFinding[];
  close(): Promise<void>;
}

/** A socket for the side parser: it is fed the client's bytes, and whatever is written to it is dropped. */
function sideSocket(): Duplex {
  return new Duplex({
    read() {
      /* fed by push() */
    },
    write(_chunk, _encoding, done) {
      done();
    },
  });
}

export async function startSignatureAuditRelay(
  target: string,
  options: { issuedTokens?: IssuedTokens } = {},
): Promise<SignatureAuditRelay> {
  const { hostname, port } = new URL(target);
  const findings: AuditFinding[] = [];
  const tokenFindings: AuditFinding[] = [];
  let audited = 0;
  let tokensChecked = 0;
  // Never times out or answers for real: it only reads requests, as main would frame them.
  const parser = http.createServer(
    { requestTimeout: 0, headersTimeout: 0, keepAliveTimeout: 0 },
    (req, res) => {
      audited++;
      const problem = auditSignedHeaders(req.rawHeaders);
      if (problem && findings.length < 100) findings.push({ request: `${req.method} ${req.url}`, problem });
      const { issuedTokens } = options;
      if (issuedTokens) {
        const counted: IssuedTokens = (keyId) => {
          const tokens = issuedTokens(keyId);
          if (tokens) tokensChecked++;
          return tokens;
        };
        const wrong = auditSessionToken(req.rawHeaders, req.url ?? '/', counted);
        if (wrong && tokenFindings.length < 100)
          // The path only: a presigned query would carry the token itself.
          tokenFindings.push({ request: `${req.method} ${(req.url ?? '/').split('?')[0]}`, problem: wrong });
      }
      req.resume();
      req.once('end', () => res.end());
    },
  );
  parser.timeout = 0;
  parser.on('clientError', (_err, socket) => socket.destroy());

  const sockets = new Set<net.Socket>();
  const server = net.createServer((client) => {
    const upstream = net.connect({ host: hostname, port: Number(port) });
    const side = sideSocket();
    sockets.add(client).add(upstream);
    parser.emit('connection', side);
    client.on('data', (chunk: Buffer) => void side.push(chunk));
    client.pipe(upstream).pipe(client);
    const close = (): void => {
      client.destroy();
      upstream.destroy();
      side.destroy();
      sockets.delete(client);
      sockets.delete(upstream);
    };
    client.on('error', close).on('close', close);
    upstream.on('error', close).on('close', close);
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  server.unref();
  const address = server.address() as net.AddressInfo;
  return {
    url: `http://127.0.0.1:${address.port}`,
    get audited() {
      return audited;
    },
    findings,
    get tokensChecked() {
      return tokensChecked;
    },
    tokenFindings,
    async close() {
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      parser.close();
    },
  };
}
