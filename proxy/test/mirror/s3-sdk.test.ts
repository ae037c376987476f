/**
 * The AWS SDK is loaded at its first use, not at start (mirror/s3-sdk.ts): a proxy on static keys that
 * copies through undici never needs it.
 */
const mockLoaded: string[] = [];
jest.mock('@aws-sdk/client-s3', () => {
  mockLoaded.push('@aws-sdk/client-s3');
  return jest.requireActual('@aws-sdk/client-s3');
});
jest.mock('@aws-sdk/lib-storage', () => {
  mockLoaded.push('@aws-sdk/lib-storage');
  return jest.requireActual('@aws-sdk/lib-storage');
});
jest.mock('@aws-sdk/credential-providers', () => {
  mockLoaded.push('@aws-sdk/credential-providers');
  return jest.requireActual('@aws-sdk/credential-providers');
});
jest.mock('@smithy/protocol-http', () => {
  mockLoaded.push('@smithy/protocol-http');
  return jest.requireActual('@smithy/protocol-http');
});

import { Readable } from 'node:stream';

import { loadConfig, secretsOf } from '../../src/config';
import { fetchedSecrets, startCredentials } from '../../src/credentials';
import { createLogger } from '../../src/log';
import { createMetrics } from '../../src/metrics';
import { askBucket, s3ClientFor } from '../../src/mirror/s3';
import type { S3Http } from '../../src/mirror/s3-http';
import '../../src/app';
import '../../src/tracking';
import { OFFLINE_ENV } from '../offline-config';

const config = loadConfig(OFFLINE_ENV);

test("takeover's HeadBucket goes over the undici client: the SDK stays unloaded", async () => {
  const asked: unknown[] = [];
  const answering = (status: number | Error): S3Http => ({
    send: (request) => {
      asked.push(request);
      if (status instanceof Error) return Promise.reject(status);
      return Promise.resolve({ statusCode: status, headers: {}, body: Readable.from([]) });
    },
  });
  expect(await askBucket(answering(200), 'b')).toBe('serves');
  expect(asked).toEqual([{ method: 'HEAD', bucket: 'b' }]);
  for (const status of [301, 403, 404]) expect(await askBucket(answering(status), 'b')).toBe('refuses');
  expect(await askBucket(answering(500), 'b')).toBe('unknown');
  expect(await askBucket(answering(new Error('ECONNREFUSED')), 'b')).toBe('unknown');
  expect(mockLoaded).toEqual([]);
});

test('a proxy on static keys loads no AWS SDK module until an SDK call', async () => {
  const logger = createLogger('off', fetchedSecrets(secretsOf(config)).values);
  await startCredentials(
    [config.main.credentials, config.mirror.credentials],
    logger,
    createMetrics(),
    () => {},
  );
  const client = s3ClientFor(config.mirror, logger);
  client.destroy();
  expect(mockLoaded).toEqual([]);

  const answer = await client.config.region();
  expect(answer).toBe(config.mirror.region);
  expect(mockLoaded).toContain('@aws-sdk/client-s3');
  client.destroy();
});
