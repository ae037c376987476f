import type { S3Client } from '@aws-sdk/client-s3';
import { Readable } from 'node:stream';

import { mirrorKey } from '../../src/mirror/copier';
import type { SpooledBody } from '../../src/spool';

const noSuchBucket = (): Error =>
  Object.assign(new Error('The specified bucket does not exist'), { name: 'NoSuchBucket' });

/** An S3Client stand-in answering by command name; records every command sent. */
function fakeClient(answers: Record<string, (input: Record<string, unknown>) => unknown>) {
  const sent: string[] = [];
  const client = {
    send: async (cmd: { input: Record<string, unknown> }) => {
      const name = cmd.constructor.name;
      sent.push(name);
      const answer = answers[name];
      if (!answer) throw new Error(`unexpected ${name}`);
      return answer(cmd.input);
    },
  };
  return { client: client as unknown as S3Client, sent };
}

/** Main holding one small object. */
const main = () =>
  fakeClient({
    GetObjectCommand: () => ({ Body: Readable.from([Buffer.from('hello')]), ContentLength: 5, ETag: '"e"' }),
    GetBucketVersioningCommand: () => ({}),
  });

const count = (sent: string[], name: string): number => sent.filter((n) => n === name).length;

describe('mirrorKey and a missing mirror bucket', () => {
  test('creates the bucket once and copies again', async () => {
    let created = false;
    const mirror = fakeClient({
      PutObjectCommand: () => {
        if (!created) throw noSuchBucket();
        return { ETag: '"e"' };
      },
      CreateBucketCommand: () => void (created = true),
    });
    const result = await mirrorKey(main().client, mirror.client, 'b', 'k');
    expect(result).toMatchObject({ exists: true, size: 5, mirrorEtag: '"e"', source: 'main' });
    expect(mirror.sent).toEqual(['PutObjectCommand', 'CreateBucketCommand', 'PutObjectCommand']);
  });

  test('a mirror still answering NoSuchBucket after CreateBucket fails with a clear error, after one retry', async () => {
    const mirror = fakeClient({
      PutObjectCommand: (input) => {
        // A guard for the test itself: without a bound, mirrorKey would loop on microtasks forever.
        if (count(mirror.sent, 'PutObjectCommand') > 5) throw new Error(`looping on ${String(input.Key)}`);
        throw noSuchBucket();
      },
      CreateBucketCommand: () => ({}),
    });
    await expect(mirrorKey(main().client, mirror.client, 'b', 'k')).rejects.toThrow(
      /mirror bucket b.*still.*NoSuchBucket/,
    );
    expect(count(mirror.sent, 'CreateBucketCommand')).toBe(1);
    expect(count(mirror.sent, 'PutObjectCommand')).toBe(2);
  });

  test('the same bound holds when the bytes come from the upload spool', async () => {
    const mainWithHead = fakeClient({
      HeadObjectCommand: () => ({ ContentLength: 5, ETag: '"5d41402abc4b2a76b9719d911017c592"' }),
      GetBucketVersioningCommand: () => ({}),
    });
    const mirror = fakeClient({
      PutObjectCommand: () => {
        if (count(mirror.sent, 'PutObjectCommand') > 5) throw new Error('looping');
        throw noSuchBucket();
      },
      CreateBucketCommand: () => ({}),
    });
    const spooled: SpooledBody = {
      etag: '"5d41402abc4b2a76b9719d911017c592"',
      md5: '5d41402abc4b2a76b9719d911017c592',
      size: 5,
      open: () => Readable.from([Buffer.from('hello')]),
    };
    await expect(mirrorKey(mainWithHead.client, mirror.client, 'b', 'k', undefined, spooled)).rejects.toThrow(
      /NoSuchBucket/,
    );
    expect(count(mirror.sent, 'CreateBucketCommand')).toBe(1);
    expect(count(mirror.sent, 'PutObjectCommand')).toBe(2);
  });
});
