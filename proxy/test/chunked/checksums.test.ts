import { createHash, randomBytes } from 'node:crypto';
import { crc32c } from '@aws-crypto/crc32c';
import { Crc64NvmeJs } from '@aws-sdk/checksums/crc';
import {
  checksumAlgorithmFromHeader,
  checksumAlgorithms,
  computeChecksum,
  createChecksumHasher,
  isWellFormedChecksum,
} from '../../src/chunked/checksums';

const check = Buffer.from('123456789');
const hex = (b64: string) => Buffer.from(b64, 'base64').toString('hex');

describe('checksum check values ("123456789")', () => {
  test.each([
    ['CRC32', 'cbf43926'],
    ['CRC32C', 'e3069283'],
    ['CRC64NVME', 'ae8b14860a799888'],
    ['SHA1', 'f7c3bc1d808e04732adf679965ccc34ca7ae3441'],
    ['SHA256', '15e2b0d3c33891ebb0f1ef609ec419420c20e320ce94c65fbc8c3312448eb225'],
  ] as const)('%s', (alg, expected) => {
    expect(hex(computeChecksum(alg, check))).toBe(expected);
  });

  test('empty input', () => {
    expect(hex(computeChecksum('CRC32', Buffer.alloc(0)))).toBe('00000000');
    expect(hex(computeChecksum('CRC64NVME', Buffer.alloc(0)))).toBe('0000000000000000');
  });
});

async function sdkCrc64(data: Uint8Array, pieces: number[]): Promise<string> {
  const h = new Crc64NvmeJs();
  let off = 0;
  for (const p of pieces) {
    h.update(data.subarray(off, off + p));
    off += p;
  }
  h.update(data.subarray(off));
  return Buffer.from(await h.digest()).toString('base64');
}

describe('agreement with the AWS SDK and @aws-crypto', () => {
  test('CRC64NVME equals @aws-sdk/checksums Crc64NvmeJs on random data and splits', async () => {
    for (const len of [0, 1, 7, 8, 9, 15, 16, 17, 63, 64, 65, 1000, 4097, 65536 + 3]) {
      const data = randomBytes(len);
      const mine = createChecksumHasher('CRC64NVME');
      const cut = Math.floor(len / 3);
      mine.update(data.subarray(0, cut));
      mine.update(data.subarray(cut, cut + 5));
      mine.update(data.subarray(cut + 5));
      expect(mine.digest()).toBe(await sdkCrc64(data, [len]));
      expect(computeChecksum('CRC64NVME', data)).toBe(await sdkCrc64(data, [1, 3]));
    }
  });

  test('CRC32C equals @aws-crypto/crc32c', () => {
    for (const len of [0, 1, 3, 8, 9, 100, 4099]) {
      const data = randomBytes(len);
      const b = Buffer.alloc(4);
      b.writeUInt32BE(crc32c(data));
      expect(computeChecksum('CRC32C', data)).toBe(b.toString('base64'));
    }
  });

  test('SHA digests are the base64 of the raw digest', () => {
    const data = randomBytes(999);
    expect(computeChecksum('SHA256', data)).toBe(createHash('sha256').update(data).digest('base64'));
  });

  test('incremental equals one-shot for every algorithm, split at every offset', () => {
    const data = randomBytes(40);
    for (const alg of checksumAlgorithms) {
      const whole = computeChecksum(alg, data);
      for (let i = 0; i <= data.length; i++) {
        const h = createChecksumHasher(alg);
        h.update(data.subarray(0, i));
        h.update(data.subarray(i));
        expect(h.digest()).toBe(whole);
      }
    }
  });
});

test('header names and value shapes', () => {
  expect(checksumAlgorithmFromHeader('X-Amz-Checksum-CRC64NVME')).toBe('CRC64NVME');
  expect(checksumAlgorithmFromHeader('x-amz-checksum-md5')).toBeUndefined();
  expect(checksumAlgorithmFromHeader('x-amz-checksum-type')).toBeUndefined();
  expect(isWellFormedChecksum('CRC32', 'DUoRhQ==')).toBe(true);
  expect(isWellFormedChecksum('CRC32', 'DUoRhQ')).toBe(false);
  expect(isWellFormedChecksum('CRC32', 'DUoRhQA=')).toBe(false);
  expect(isWellFormedChecksum('CRC64NVME', 'jSnVw/bqjr4=')).toBe(true);
  expect(isWellFormedChecksum('SHA256', 'jSnVw/bqjr4=')).toBe(false);
});

test('throughput on 64 MiB (reported, not asserted)', () => {
  const data = randomBytes(64 << 20);
  const rates: string[] = [];
  for (const alg of checksumAlgorithms) {
    const t = process.hrtime.bigint();
    computeChecksum(alg, data);
    const s = Number(process.hrtime.bigint() - t) / 1e9;
    rates.push(`${alg} ${(64 / s).toFixed(0)} MiB/s`);
  }
  process.stdout.write(`checksum throughput: ${rates.join(', ')}\n`);
  expect(rates).toHaveLength(checksumAlgorithms.length);
});
