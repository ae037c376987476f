import { createHash, type Hash } from 'node:crypto';
import type { crc32 as zlibCrc32 } from 'node:zlib';

/** The checksum algorithms S3 accepts in `x-amz-checksum-<alg>` headers and trailers. */
export const checksumAlgorithms = ['CRC32', 'CRC32C', 'SHA1', 'SHA256', 'CRC64NVME'] as const;
export type ChecksumAlgorithm = (typeof checksumAlgorithms)[number];

/** Digest length in bytes per algorithm. */
export const checksumDigestLength: Record<ChecksumAlgorithm, number> = {
  CRC32: 4,
  CRC32C: 4,
  SHA1: 20,
  SHA256: 32,
  CRC64NVME: 8,
};

/** An incremental hasher; `digest()` is the base64 of the big-endian digest, as S3 and the SDKs send it. */
export interface ChecksumHasher {
  readonly algorithm: ChecksumAlgorithm;
  update(data: Uint8Array): void;
  digest(): string;
}

/** `x-amz-checksum-crc32` → `CRC32`; undefined for anything else. */
export function checksumAlgorithmFromHeader(name: string): ChecksumAlgorithm | undefined {
  const lower = name.trim().toLowerCase();
  if (!lower.startsWith('x-amz-checksum-')) return undefined;
  const alg = lower.slice('x-amz-checksum-'.length).toUpperCase();
  return (checksumAlgorithms as readonly string[]).includes(alg) ? (alg as ChecksumAlgorithm) : undefined;
}

/** `CRC32` → `x-amz-checksum-crc32`. */
export function checksumHeaderName(alg: ChecksumAlgorithm): string {
  return `x-amz-checksum-${alg.toLowerCase()}`;
}

/** True when `value` is canonical base64 of a digest of the right length for `alg`. */
export function isWellFormedChecksum(alg: ChecksumAlgorithm, value: string): boolean {
  if (!/^[A-Za-z0-9+/]*={0,2}$/.test(value) || value.length % 4 !== 0) return false;
  const bytes = Buffer.from(value, 'base64');
  return bytes.length === checksumDigestLength[alg] && bytes.toString('base64') === value;
}

function u32be(value: number): string {
  const out = Buffer.alloc(4);
  out.writeUInt32BE(value >>> 0, 0);
  return out.toString('base64');
}

/** node:zlib loads at the first CRC32 checksum: loaded at start, it held 0.4 MB of an idle proxy's memory. */
let crc32: typeof zlibCrc32 | undefined;

class Crc32Hasher implements ChecksumHasher {
  readonly algorithm = 'CRC32' as const;
  private value = 0;
  update(data: Uint8Array): void {
    crc32 ??= process.getBuiltinModule('node:zlib').crc32;
    this.value = crc32(data, this.value);
  }
  digest(): string {
    return u32be(this.value);
  }
}

// CRC32C (Castagnoli, reflected 0x82f63b78), slicing-by-8. @aws-crypto/crc32c goes byte by byte
// (about 65 MiB/s); this is several times faster and is checked against it in the tests.
/** Slicing-by-8 lookup tables. */
type EightTables = [
  Uint32Array,
  Uint32Array,
  Uint32Array,
  Uint32Array,
  Uint32Array,
  Uint32Array,
  Uint32Array,
  Uint32Array,
];

let crc32cTables: Uint32Array[] | undefined;

function crc32cSlicingTables(): Uint32Array[] {
  if (crc32cTables) return crc32cTables;
  const t0 = new Uint32Array(256);
  for (let i = 0; i < 256; i++) {
    let c = i;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0x82f63b78 ^ (c >>> 1) : c >>> 1;
    t0[i] = c >>> 0;
  }
  const tables = [t0];
  for (let s = 1; s < 8; s++) {
    const prev = tables[s - 1]!;
    const t = new Uint32Array(256);
    for (let i = 0; i < 256; i++) t[i] = ((prev[i]! >>> 8) ^ t0[prev[i]! & 0xff]!) >>> 0;
    tables.push(t);
  }
  crc32cTables = tables;
  return tables;
}

export class Crc32cHasher implements ChecksumHasher {
  readonly algorithm = 'CRC32C' as const;
  private crc = 0xffffffff;
  update(data: Uint8Array): void {
    const [t0, t1, t2, t3, t4, t5, t6, t7] = crc32cSlicingTables() as EightTables;
    let crc = this.crc;
    let i = 0;
    const len = data.length;
    const end8 = len - (len % 8);
    while (i < end8) {
      const a = crc ^ (data[i]! | (data[i + 1]! << 8) | (data[i + 2]! << 16) | (data[i + 3]! << 24));
      crc =
        t7[a & 0xff]! ^
        t6[(a >>> 8) & 0xff]! ^
        t5[(a >>> 16) & 0xff]! ^
        t4[a >>> 24]! ^
        t3[data[i + 4]!]! ^
        t2[data[i + 5]!]! ^
        t1[data[i + 6]!]! ^
        t0[data[i + 7]!]!;
      i += 8;
    }
    while (i < len) {
      crc = (crc >>> 8) ^ t0[(crc ^ data[i]!) & 0xff]!;
      i++;
    }
    this.crc = crc >>> 0;
  }
  digest(): string {
    return u32be(this.crc ^ 0xffffffff);
  }
}

class ShaHasher implements ChecksumHasher {
  private readonly hash: Hash;
  constructor(readonly algorithm: 'SHA1' | 'SHA256') {
    this.hash = createHash(algorithm === 'SHA1' ? 'sha1' : 'sha256');
  }
  update(data: Uint8Array): void {
    this.hash.update(data);
  }
  digest(): string {
    return this.hash.digest('base64');
  }
}

// CRC64/NVME: reflected polynomial 0x9a6c9329ac4bc9b5, init and xorout all ones.
// Slicing-by-8 tables; each 64-bit entry is stored as two 32-bit halves (hi at 2i, lo at 2i+1),
// so the hot loop needs no BigInt.
const CRC64_POLY_HI = 0x9a6c9329;
const CRC64_POLY_LO = 0xac4bc9b5;
let crc64Tables: Uint32Array[] | undefined;

function crc64NvmeTables(): Uint32Array[] {
  if (crc64Tables) return crc64Tables;
  const tables: Uint32Array[] = [];
  const t0 = new Uint32Array(512);
  for (let i = 0; i < 256; i++) {
    let hi = 0;
    let lo = i;
    for (let k = 0; k < 8; k++) {
      const lsb = lo & 1;
      lo = ((lo >>> 1) | ((hi & 1) << 31)) >>> 0;
      hi = hi >>> 1;
      if (lsb) {
        hi = (hi ^ CRC64_POLY_HI) >>> 0;
        lo = (lo ^ CRC64_POLY_LO) >>> 0;
      }
    }
    t0[2 * i] = hi;
    t0[2 * i + 1] = lo;
  }
  tables.push(t0);
  for (let s = 1; s < 8; s++) {
    const prev = tables[s - 1]!;
    const t = new Uint32Array(512);
    for (let i = 0; i < 256; i++) {
      // t_s[i] = (t_{s-1}[i] >> 8) ^ t0[t_{s-1}[i] & 0xff]
      const hi = prev[2 * i]!;
      const lo = prev[2 * i + 1]!;
      const idx = (lo & 0xff) << 1;
      t[2 * i] = ((hi >>> 8) ^ t0[idx]!) >>> 0;
      t[2 * i + 1] = (((lo >>> 8) | ((hi & 0xff) << 24)) ^ t0[idx + 1]!) >>> 0;
    }
    tables.push(t);
  }
  crc64Tables = tables;
  return tables;
}

export class Crc64NvmeHasher implements ChecksumHasher {
  readonly algorithm = 'CRC64NVME' as const;
  private hi = 0xffffffff;
  private lo = 0xffffffff;

  update(data: Uint8Array): void {
    const [t0, t1, t2, t3, t4, t5, t6, t7] = crc64NvmeTables() as EightTables;
    let hi = this.hi;
    let lo = this.lo;
    let i = 0;
    const len = data.length;
    const end8 = len - (len % 8);
    while (i < end8) {
      // Little-endian bytes: the low word meets the first four bytes.
      const a0 = ((lo ^ data[i]!) & 0xff) << 1;
      const a1 = (((lo >>> 8) ^ data[i + 1]!) & 0xff) << 1;
      const a2 = (((lo >>> 16) ^ data[i + 2]!) & 0xff) << 1;
      const a3 = (((lo >>> 24) ^ data[i + 3]!) & 0xff) << 1;
      const a4 = ((hi ^ data[i + 4]!) & 0xff) << 1;
      const a5 = (((hi >>> 8) ^ data[i + 5]!) & 0xff) << 1;
      const a6 = (((hi >>> 16) ^ data[i + 6]!) & 0xff) << 1;
      const a7 = (((hi >>> 24) ^ data[i + 7]!) & 0xff) << 1;
      hi = t7[a0]! ^ t6[a1]! ^ t5[a2]! ^ t4[a3]! ^ t3[a4]! ^ t2[a5]! ^ t1[a6]! ^ t0[a7]!;
      lo =
        t7[a0 + 1]! ^
        t6[a1 + 1]! ^
        t5[a2 + 1]! ^
        t4[a3 + 1]! ^
        t3[a4 + 1]! ^
        t2[a5 + 1]! ^
        t1[a6 + 1]! ^
        t0[a7 + 1]!;
      i += 8;
    }
    while (i < len) {
      const idx = ((lo ^ data[i]!) & 0xff) << 1;
      lo = ((lo >>> 8) | ((hi & 0xff) << 24)) ^ t0[idx + 1]!;
      hi = (hi >>> 8) ^ t0[idx]!;
      i++;
    }
    this.hi = hi >>> 0;
    this.lo = lo >>> 0;
  }

  digest(): string {
    const out = Buffer.alloc(8);
    out.writeUInt32BE((this.hi ^ 0xffffffff) >>> 0, 0);
    out.writeUInt32BE((this.lo ^ 0xffffffff) >>> 0, 4);
    return out.toString('base64');
  }
}

export function createChecksumHasher(alg: ChecksumAlgorithm): ChecksumHasher {
  switch (alg) {
    case 'CRC32':
      return new Crc32Hasher();
    case 'CRC32C':
      return new Crc32cHasher();
    case 'SHA1':
    case 'SHA256':
      return new ShaHasher(alg);
    case 'CRC64NVME':
      return new Crc64NvmeHasher();
  }
}

/** One-shot convenience: base64 checksum of `data`. */
export function computeChecksum(alg: ChecksumAlgorithm, data: Uint8Array): string {
  const h = createChecksumHasher(alg);
  h.update(data);
  return h.digest();
}
