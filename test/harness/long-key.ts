import { DeleteObjectCommand, PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';

/**
 * The longest key (≤ 1,024 bytes, S3's limit) that `s3` accepts in `bucket`: this RGW's memstore limits
 * object names by bucket name length. Says so on stderr when it is shorter than 1,024.
 */
export async function longestAcceptedKey(s3: S3Client, bucket: string): Promise<string> {
  const ok = async (n: number): Promise<boolean> => {
    const key = 'k'.repeat(n);
    try {
      await s3.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: 'probe' }));
      await s3.send(new DeleteObjectCommand({ Bucket: bucket, Key: key }));
      return true;
    } catch {
      return false;
    }
  };
  if (await ok(1024)) return 'k'.repeat(1024);
  let lo = 1;
  let hi = 1024;
  while (hi - lo > 1) {
    const mid = (lo + hi) >> 1;
    if (await ok(mid)) lo = mid;
    else hi = mid;
  }
  process.stderr.write(
    `[long-key] main rejects 1024-byte keys in a ${bucket.length}-char bucket; longest accepted: ${lo}\n`,
  );
  return 'k'.repeat(lo);
}

/**
 * The longest key each of `buckets` accepts. RGW's limit depends on the bucket's marker, which grows by a
 * digit as the gateway's bucket count does (10, 100, …): a key one bucket takes can be a byte too long for
 * the next one made.
 */
export async function longestKeyForAll(s3: S3Client, buckets: readonly string[]): Promise<string> {
  let shortest: string | undefined;
  for (const bucket of buckets) {
    const key = await longestAcceptedKey(s3, bucket);
    if (shortest === undefined || key.length < shortest.length) shortest = key;
  }
  return shortest ?? 'k'.repeat(1024);
}
