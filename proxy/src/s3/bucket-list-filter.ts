/**
 * ListBuckets through a sidecar with an allow-list (ALLOWED_BUCKETS): the answer names only the allowed
 * buckets, as a bucket-scoped IAM policy would, instead of every bucket of the main account.
 */

const BUCKET_ENTRY = /<Bucket>([\s\S]*?)<\/Bucket>\s*/g;
const NAME = /<Name>([\s\S]*?)<\/Name>/;

function xmlText(s: string): string {
  return s
    .replace(/&lt;/g, '<')
    .replace(/&gt;/g, '>')
    .replace(/&quot;/g, '"')
    .replace(/&apos;/g, "'")
    .replace(/&amp;/g, '&');
}

/** The ListAllMyBucketsResult document with the `<Bucket>` entries whose name is not allowed removed. */
export function filterBucketList(xml: string, allowed: readonly string[]): string {
  const keep = new Set(allowed);
  return xml.replace(BUCKET_ENTRY, (entry: string, inner: string) => {
    const name = NAME.exec(inner)?.[1];
    return name !== undefined && keep.has(xmlText(name)) ? entry : '';
  });
}
