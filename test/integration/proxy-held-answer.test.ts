/**
 * Main slower than the proxy's hold on a tracked write's answer (issue 11): CopyObject and
 * CompleteMultipartUpload whose head comes at once and whose body (the result XML) comes only after the
 * hold's bound. The proxy must relay the status, then the rest of the body: the app (JS SDK v3) gets its
 * answer, and the write is recorded and mirrored. The proxy runs in this process, so the hold's bound
 * (10 s) can be shortened; main is RGW behind the signature audit relay, behind a fault proxy.
 */
import crypto from 'node:crypto';

import {
  CompleteMultipartUploadCommand,
  CopyObjectCommand,
  CreateBucketCommand,
  CreateMultipartUploadCommand,
  PutObjectCommand,
  UploadPartCommand,
  type S3Client,
} from '@aws-sdk/client-s3';

import { startProxy, type RunningProxy } from '../../proxy/src/app';
import { loadConfig, secretsOf } from '../../proxy/src/config';
import { createLogger } from '../../proxy/src/log';
import { createMetrics } from '../../proxy/src/metrics';
import { createWriteTracker } from '../../proxy/src/tracking';
import { startHttpFaultProxy, type HttpFaultProxy, type SeenRequest } from '../harness/http-fault-proxy';
import { inventoryRows } from '../harness/inventory-rows';
import { appClient, proxyEnv } from '../harness/proxy';
import { loadServices, type TestServices } from '../harness/services';
import { waitForThreeWayEqual } from '../harness/three-way';

const services: TestServices = loadServices();
const bucket = `held-${crypto.randomBytes(4).toString('hex')}`;

/** The proxy's hold, shortened; main's body comes well after it. */
const HOLD_MS = 200;
const BODY_DELAY_MS = 10 * HOLD_MS;

let slowMain: HttpFaultProxy;
let proxy: RunningProxy;
let app: S3Client;

beforeAll(async () => {
  slowMain = await startHttpFaultProxy(services.ceph.proxyMainEndpoint);
  const config = loadConfig(
    proxyEnv(services, {
      LISTEN_ADDR: '127.0.0.1:0',
      ADMIN_ADDR: '127.0.0.1:0',
      STATE_DIR: 'off',
      ALLOWED_BUCKETS: bucket,
      LOG_LEVEL: 'warn',
      // A relay that never finishes is cut by the idle timeout: a failure, well within the test's timeout.
      CLIENT_IDLE_TIMEOUT_MS: '20000',
    }),
  );
  const logger = createLogger(config.logLevel, secretsOf(config));
  const metrics = createMetrics();
  // Only the data path goes through the slow main; the mirror copier reads main as usual.
  const tracker = createWriteTracker({ config, logger, metrics });
  proxy = await startProxy(
    { ...config, main: { ...config.main, url: new URL(slowMain.url) } },
    logger,
    metrics,
    tracker,
    { heldBodyMaxMs: HOLD_MS },
  );
  app = appClient(`http://127.0.0.1:${proxy.dataAddress.port}`);
  await app.send(new CreateBucketCommand({ Bucket: bucket }));
});

afterAll(async () => {
  app?.destroy();
  await proxy?.shutdown();
  await slowMain?.close();
});

/** Runs `send` with main's answers (head at once, body after the hold) slow; the exchange main saw. */
async function withSlowAnswers<T>(send: () => Promise<T>): Promise<T> {
  slowMain.setFaults({ bodyDelayMs: BODY_DELAY_MS });
  try {
    return await send();
  } finally {
    slowMain.clearFaults();
  }
}

/** The one exchange with main that matches, which must have delivered its whole (delayed) answer. */
function slowExchange(match: (request: SeenRequest) => boolean): void {
  const seen = slowMain.requests.filter(match);
  expect(seen).toHaveLength(1);
  expect(seen[0]).toMatchObject({ status: 200, downloadCut: false, done: true });
}

test('CopyObject answered after the hold: the app gets the result, the copy is recorded and mirrored', async () => {
  await app.send(new PutObjectCommand({ Bucket: bucket, Key: 'source', Body: 'copied while main is slow' }));
  const copied = await withSlowAnswers(() =>
    app.send(new CopyObjectCommand({ Bucket: bucket, Key: 'copy', CopySource: `${bucket}/source` })),
  );
  // The result document reached the app (RGW sends this ETag without quotes).
  expect(copied.CopyObjectResult?.ETag).toMatch(/[0-9a-f]{32}/);
  slowExchange((r) => r.method === 'PUT' && r.url.startsWith(`/${bucket}/copy?`));
  await waitForThreeWayEqual(services, bucket);
  expect((await inventoryRows(services, bucket)).get('copy')).toMatchObject({
    deleted: false,
    is_backed_up: true,
    last_operation: 'CopyObject',
  });
});

test('CompleteMultipartUpload answered after the hold: the app gets the result, the object is recorded and mirrored', async () => {
  const { UploadId } = await app.send(new CreateMultipartUploadCommand({ Bucket: bucket, Key: 'mpu' }));
  const part = await app.send(
    new UploadPartCommand({ Bucket: bucket, Key: 'mpu', UploadId, PartNumber: 1, Body: 'one part' }),
  );
  const completed = await withSlowAnswers(() =>
    app.send(
      new CompleteMultipartUploadCommand({
        Bucket: bucket,
        Key: 'mpu',
        UploadId,
        MultipartUpload: { Parts: [{ PartNumber: 1, ETag: part.ETag }] },
      }),
    ),
  );
  // The result document reached the app (RGW leaves its ETag empty; Bucket and Key are there).
  expect(completed).toMatchObject({ Bucket: bucket, Key: 'mpu' });
  slowExchange((r) => r.method === 'POST' && r.url.startsWith(`/${bucket}/mpu?uploadId=`));
  await waitForThreeWayEqual(services, bucket);
  expect((await inventoryRows(services, bucket)).get('mpu')).toMatchObject({
    deleted: false,
    is_backed_up: true,
    last_operation: 'CompleteMultipartUpload',
  });
});
