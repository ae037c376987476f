/**
 * Main and mirror over HTTPS, as in production, with a private CA that the proxy trusts through Node's
 * NODE_EXTRA_CA_CERTS (an in-cluster Ceph RGW or MinIO behind an internal CA). TLS terminators in front of the
 * harness's gateways offer h2 by ALPN: the proxy's clients must still speak HTTP/1.1.
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import tls from 'node:tls';

import {
  CreateBucketCommand,
  GetObjectCommand,
  HeadObjectCommand,
  PutObjectCommand,
  S3Client,
} from '@aws-sdk/client-s3';

import { generateCa, generateServingCert, type PemPair } from '../../webhook/src/tls/pki';
import { jsonLogLines } from '../harness/json-lines';
import { loadedOnExitHook } from '../harness/loaded-on-exit';
import {
  appClient,
  directClient,
  POD_NODE_ENV,
  proxyEnv,
  startProxyProcess,
  type ProxyInstance,
  untilReplicated,
} from '../harness/proxy';
import { loadServices, type TestServices } from '../harness/services';

jest.setTimeout(300_000);

interface TlsTerminator {
  url: string;
  /** The protocol ALPN settled on for each connection (false or null: none). */
  protocols: (string | false | null)[];
  close(): Promise<void>;
}

/** HTTPS in front of an http:// gateway: TLS ends here and the bytes go on as they are. */
async function startTlsTerminator(cert: PemPair, target: string): Promise<TlsTerminator> {
  const { hostname, port } = new URL(target);
  const protocols: (string | false | null)[] = [];
  const sockets = new Set<net.Socket>();
  const server = tls.createServer(
    { cert: cert.certPem, key: cert.keyPem, ALPNProtocols: ['h2', 'http/1.1'] },
    (client) => {
      protocols.push(client.alpnProtocol);
      const upstream = net.connect(Number(port), hostname);
      for (const s of [client, upstream]) {
        sockets.add(s);
        s.on('close', () => sockets.delete(s));
        s.on('error', () => undefined);
      }
      client.pipe(upstream).pipe(client);
    },
  );
  server.on('tlsClientError', () => undefined);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `https://127.0.0.1:${(server.address() as net.AddressInfo).port}`,
    protocols,
    close: () =>
      new Promise((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}

let services: TestServices;
let dir: string;
let caFile: string;
let main: TlsTerminator;
let mirror: TlsTerminator;
/** Straight at the gateways, over http. */
let directMain: S3Client;
let directMirror: S3Client;
const bucket = `https-${Date.now().toString(36)}`;

beforeAll(async () => {
  services = loadServices();
  directMain = directClient(services.ceph.mainEndpoint, services.ceph.main);
  directMirror = directClient(services.ceph.mirrorEndpoint, services.ceph.mirror);
  await directMain.send(new CreateBucketCommand({ Bucket: bucket }));
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 's3m-https-'));
  const ca = generateCa('s3-mirror test CA', Date.now(), 3600);
  const serving = generateServingCert(ca, ['127.0.0.1'], Date.now(), 3600);
  caFile = path.join(dir, 'ca.pem');
  fs.writeFileSync(caFile, ca.certPem);
  main = await startTlsTerminator(serving, services.ceph.proxyMainEndpoint);
  mirror = await startTlsTerminator(serving, services.ceph.mirrorEndpoint);
});

afterAll(async () => {
  directMain?.destroy();
  directMirror?.destroy();
  await main?.close();
  await mirror?.close();
  fs.rmSync(dir, { recursive: true, force: true });
});

/** The proxy's log lines with this message. */
const jsonLines = (proxy: ProxyInstance, message: string) => jsonLogLines(proxy.process.stdout(), message);

/** A proxy whose main and mirror are the HTTPS terminators. */
const httpsProxy = (extra: Record<string, string>): Promise<ProxyInstance> =>
  startProxyProcess(
    proxyEnv(services, { MAIN_S3_ENDPOINT: main.url, MIRROR_S3_ENDPOINT: mirror.url, ...extra }),
  );

test('a proxy trusting the CA writes, reads and mirrors over HTTPS, over HTTP/1.1 though h2 is offered', async () => {
  const hook = loadedOnExitHook(dir, 'builtins');
  const proxy = await httpsProxy({
    NODE_EXTRA_CA_CERTS: caFile,
    NODE_OPTIONS: `${POD_NODE_ENV.NODE_OPTIONS} ${hook.nodeOption}`,
  });
  const body = crypto.randomBytes(256 * 1024 + 3);
  try {
    const app = appClient(proxy.url);
    await app.send(new PutObjectCommand({ Bucket: bucket, Key: 'over/tls.bin', Body: body }));
    const read = await app.send(new GetObjectCommand({ Bucket: bucket, Key: 'over/tls.bin' }));
    expect(Buffer.from(await read.Body!.transformToByteArray()).equals(body)).toBe(true);
    await untilReplicated(app, bucket, 'over/tls.bin');
  } finally {
    await proxy.stop();
  }
  // The log says which CA the proxy trusts, so an operator can see the mount took effect.
  expect(jsonLines(proxy, 'trusting extra CA certificates')).toEqual([
    expect.objectContaining({
      file: caFile,
      count: 1,
      certificates: [{ subject: 'CN=s3-mirror test CA', ca: true, validTo: expect.any(String) }],
    }),
  ]);
  // Both sides hold the bytes, read straight from the gateways.
  const fromGateway = async (client: S3Client): Promise<Buffer> => {
    const got = await client.send(new GetObjectCommand({ Bucket: bucket, Key: 'over/tls.bin' }));
    return Buffer.from(await got.Body!.transformToByteArray());
  };
  expect((await fromGateway(directMain)).equals(body)).toBe(true);
  expect((await fromGateway(directMirror)).equals(body)).toBe(true);
  // Every connection to either side was TLS, and none took the h2 the terminators offered.
  expect(main.protocols.length).toBeGreaterThan(0);
  expect(mirror.protocols.length).toBeGreaterThan(0);
  expect(new Set([...main.protocols, ...mirror.protocols])).toEqual(new Set(['http/1.1']));
  const builtins = hook.read();
  expect(builtins).toContain('NativeModule tls');
  expect(builtins.filter((m) => m.includes('http2'))).toEqual([]);
});

test('without the CA, the app gets ServiceUnavailable, the log names the certificate problem, and nothing is written', async () => {
  const proxy = await httpsProxy({ NODE_EXTRA_CA_CERTS: '' });
  try {
    const app = appClient(proxy.url, { maxAttempts: 1 });
    const put = app.send(new PutObjectCommand({ Bucket: bucket, Key: 'untrusted', Body: 'x' }));
    await expect(put).rejects.toMatchObject({
      name: 'ServiceUnavailable',
      $metadata: { httpStatusCode: 503 },
    });
  } finally {
    await proxy.stop();
  }
  const failures = jsonLines(proxy, 'upstream request failed');
  expect(failures).toEqual([expect.objectContaining({ error: expect.stringMatching(/certificate/) })]);
  await expect(
    directMain.send(new HeadObjectCommand({ Bucket: bucket, Key: 'untrusted' })),
  ).rejects.toMatchObject({
    $metadata: { httpStatusCode: 404 },
  });
});
