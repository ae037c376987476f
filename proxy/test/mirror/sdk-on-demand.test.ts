/**
 * The AWS SDK stays out of a running proxy unless a copy over 5 GiB needs it: creating a missing mirror
 * bucket and the anti-entropy scan go over the signed client (mirror/mirror-bucket.ts,
 * mirror/object-requests.ts). Loaded, the SDK held about 30 MB of a proxy's memory for good.
 */
const mockLoaded: string[] = [];
for (const name of ['@aws-sdk/client-s3', '@aws-sdk/lib-storage'])
  jest.mock(name, () => {
    mockLoaded.push(name);
    return jest.requireActual(name);
  });

import { staticCredentials } from '../../src/credentials';
import { createLogger } from '../../src/log';
import { createMetrics } from '../../src/metrics';
import { sameBucketName } from '../../src/mirror/bucket-name';
import { mirrorKey } from '../../src/mirror/copier';
import { s3ClientFor } from '../../src/mirror/s3';
import { AntiEntropyScanner, type ScanInventory } from '../../src/scan/anti-entropy';
import { FakeS3 } from './fake-s3';

const endpoint = {
  url: new URL('http://127.0.0.1:9'),
  region: 'us-east-1',
  credentials: staticCredentials('mirror', { accessKeyId: 'a', secretAccessKey: 'b' }),
};

const inventory: ScanInventory = {
  takeScan: async () => ({ taken: true, cursor: null, last_complete: null, lease_left: null, due_in: null }),
  renewScan: async () => undefined,
  recordScanPage: async () => true,
  finishScan: async () => 1,
  releaseScan: async () => undefined,
  scanRows: async () => new Map(),
  requeue: async () => undefined,
};

test('a copy into a missing mirror bucket and a scan pass load no SDK; the mirror client made as the tracker makes it loads it at its first use', async () => {
  const main = new FakeS3('b');
  const mirror = new FakeS3();
  main.versioning.set('b', 'Enabled');
  main.put('b', 'k', 'hello');
  main.put('b', 'only-on-main', 'x');
  const mirrorSdk = s3ClientFor(endpoint);
  const clients = {
    main: { http: main },
    mirror: { http: mirror, sdk: mirrorSdk },
    mirrorBucket: sameBucketName,
    mirrorRegion: 'eu-west-1',
  };
  expect(await mirrorKey(clients, 'b', 'k')).toMatchObject({ exists: true });
  expect(mirror.versioning.get('b')).toBe('Enabled');

  const requeued: string[] = [];
  const scanner = new AntiEntropyScanner({
    main,
    mirror,
    mirrorBucket: sameBucketName,
    inventory: { ...inventory, requeue: async (_b, items) => void requeued.push(...items.map((i) => i.key)) },
    owner: 'me:1',
    settings: { intervalSeconds: 60, requestsPerSecond: 1000, settleSeconds: 0 },
    metrics: createMetrics(),
    logger: createLogger('off'),
    onRequeued: () => undefined,
  });
  expect(await scanner.scanPage('b')).toEqual({ kind: 'pass-complete' });
  // The fake inventory holds no rows: both keys are differences; only one is missing on the mirror.
  expect(requeued.sort()).toEqual(['k', 'only-on-main']);
  expect(mockLoaded).toEqual([]);

  // The detector works: touching the lazy client makes it, and loads the SDK.
  void mirrorSdk.config;
  expect(mockLoaded).toEqual(['@aws-sdk/client-s3']);
  mirrorSdk.destroy();
});
