import { createHash } from 'node:crypto';

/** Postgres truncates identifiers at 63 bytes (NAMEDATALEN - 1). */
export const MAX_IDENTIFIER_BYTES = 63;
export const DATABASE_PREFIX = 's3_mirror_';
const HASH_CHARS = 10;

/**
 * The inventory database for a bucket. Pure.
 *
 * - A bucket made only of `[a-z0-9]` whose name fits keeps the seed's `s3_mirror_<bucket>`.
 * - Anything else is lower-cased, every other character becomes `_`, the result is cut so that the whole
 *   name fits in 63 bytes, and `_<10 hex of sha256(bucket)>` is appended. Plain names never contain `_`
 *   after the prefix, hashed names always do, so the two forms cannot collide; two hashed names collide
 *   only if sha256 prefixes (40 bits) do.
 */
export function databaseNameFor(bucket: string): string {
  if (bucket.length === 0) throw new Error('bucket name is empty');
  const plain = `${DATABASE_PREFIX}${bucket}`;
  if (/^[a-z0-9]+$/.test(bucket) && plain.length <= MAX_IDENTIFIER_BYTES) return plain;
  const hash = createHash('sha256').update(bucket, 'utf8').digest('hex').slice(0, HASH_CHARS);
  const room = MAX_IDENTIFIER_BYTES - DATABASE_PREFIX.length - 1 - HASH_CHARS;
  const sanitised = bucket
    .toLowerCase()
    .replace(/[^a-z0-9]/g, '_')
    .slice(0, room);
  return `${DATABASE_PREFIX}${sanitised}_${hash}`;
}

/** True for names this module could have produced (used when scanning pg_database). */
export function isInventoryDatabaseName(name: string): boolean {
  return name.startsWith(DATABASE_PREFIX) && /^[a-z0-9_]+$/.test(name) && name.length <= MAX_IDENTIFIER_BYTES;
}
