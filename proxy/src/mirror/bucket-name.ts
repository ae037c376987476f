/**
 * The name of main bucket B's copy on the mirror (MIRROR_BUCKET_TEMPLATE). Pure. On AWS bucket names are
 * global within a partition, so a mirror in another account of the same partition cannot reuse main's
 * name: `{bucket}-backup` gives it one of its own. The inventory stays keyed by main's name.
 */

export const BUCKET_PLACEHOLDER = '{bucket}';
/** Main's own name: right for RGW, MinIO or another partition (the seed's behaviour). */
export const DEFAULT_MIRROR_BUCKET_TEMPLATE = BUCKET_PLACEHOLDER;

/** Main bucket name → mirror bucket name. */
export type MirrorBucketName = (bucket: string) => string;

/** S3 bucket names are at most 63 characters; main's own name has at least 3. */
const MAX_LITERAL_LENGTH = 63 - 3;

/**
 * Why `template` cannot name mirror buckets, or undefined. Only the literal parts can be checked (main's
 * name fills in the rest): S3's characters, no `..`, a prefix that starts and a suffix that ends with a
 * letter or digit, and room left for main's name.
 */
export function mirrorBucketTemplateProblem(template: string): string | undefined {
  const parts = template.split(BUCKET_PLACEHOLDER);
  if (parts.length !== 2) return `must contain ${BUCKET_PLACEHOLDER} exactly once, e.g. {bucket}-backup`;
  const [prefix, suffix] = parts as [string, string];
  if (!/^[a-z0-9.-]*$/.test(prefix + suffix)) {
    return `may hold only lowercase letters, digits, '-' and '.' besides ${BUCKET_PLACEHOLDER}`;
  }
  if (prefix !== '' && !/^[a-z0-9]/.test(prefix)) return 'must start with a letter or digit';
  if (suffix !== '' && !/[a-z0-9]$/.test(suffix)) return 'must end with a letter or digit';
  // Main's name starts and ends with a letter or digit, so only a literal part can hold two dots in a row.
  if (prefix.includes('..') || suffix.includes('..')) return "must not contain '..'";
  if (prefix.length + suffix.length > MAX_LITERAL_LENGTH) {
    return `leaves no room for the bucket name (at most ${MAX_LITERAL_LENGTH} characters besides ${BUCKET_PLACEHOLDER})`;
  }
  return undefined;
}

/** The mirror bucket of main's `bucket` under `template` (a template mirrorBucketTemplateProblem accepts). */
export function mirrorBucketFor(template: string, bucket: string): string {
  const at = template.indexOf(BUCKET_PLACEHOLDER);
  return template.slice(0, at) + bucket + template.slice(at + BUCKET_PLACEHOLDER.length);
}

/** mirrorBucketFor with the template bound. */
export function mirrorBucketNamer(template: string): MirrorBucketName {
  return (bucket) => mirrorBucketFor(template, bucket);
}

/** The default template's namer: the mirror bucket has main's name. */
export const sameBucketName: MirrorBucketName = (bucket) => bucket;
