import type { SandboxS3 } from './backends';

export interface TryItInput {
  backends: 's3rver' | 'rgw';
  /** http://host:port of the proxy's data port. */
  proxy: string;
  admin: string;
  bucket: string;
  mirror: SandboxS3;
  inventoryUrl: string;
}

export const TRY_IT_BEGIN = '----- try it (copy and paste) -----';
export const TRY_IT_END = '----- end -----';

/** Double quotes for a shell: the scripts below use single quotes and no `$`, backtick, `!` or `"`. */
const shellQuote = (text: string): string => {
  if (/[$`!"\\]/.test(text)) throw new Error(`cannot double-quote for a shell: ${text}`);
  return `"${text}"`;
};

/**
 * The commands the sandbox prints. Each non-comment line is one shell command that works as printed from
 * the repository root; the sandbox test runs every one of them.
 */
export function tryItText(t: TryItInput): string {
  const sdkThroughProxy =
    "const {S3Client,PutObjectCommand,GetObjectCommand}=require('@aws-sdk/client-s3');" +
    'const s3=new S3Client({});' +
    `s3.send(new PutObjectCommand({Bucket:'${t.bucket}',Key:'sdk/hello.txt',Body:'Hello from the SDK'}))` +
    `.then(()=>s3.send(new GetObjectCommand({Bucket:'${t.bucket}',Key:'sdk/hello.txt'})))` +
    '.then(r=>r.Body.transformToString()).then(console.log)';
  const readMirror =
    "const {S3Client,GetObjectCommand}=require('@aws-sdk/client-s3');" +
    `new S3Client({endpoint:'${t.mirror.endpoint}',region:'us-east-1',forcePathStyle:true,` +
    `credentials:{accessKeyId:'${t.mirror.accessKeyId}',secretAccessKey:'${t.mirror.secretAccessKey}'}})` +
    `.send(new GetObjectCommand({Bucket:'${t.bucket}',Key:'hello.txt'}))` +
    '.then(r=>r.Body.transformToString()).then(console.log)';
  return [
    '',
    `The sandbox is up: proxy ${t.proxy} (admin ${t.admin}), main and mirror on ${t.backends},`,
    `inventory in PostgreSQL. Bucket "${t.bucket}" exists on main. Ctrl-C stops everything.`,
    '',
    TRY_IT_BEGIN,
    '# Write and read through the proxy; it signs every request itself, so curl needs no credentials.',
    `curl -sf -X PUT ${t.proxy}/${t.bucket}/hello.txt -H 'Content-Type: text/plain' --data-binary 'Hello World'`,
    `curl -sf ${t.proxy}/${t.bucket}/hello.txt`,
    '# An unchanged AWS SDK app: point it at the proxy; any credentials do (the proxy replaces them).',
    `AWS_ENDPOINT_URL=${t.proxy} AWS_REGION=us-east-1 AWS_ACCESS_KEY_ID=any AWS_SECRET_ACCESS_KEY=any node -e ${shellQuote(sdkThroughProxy)}`,
    '# The mirror holds its own copy within a second or so (read straight from the mirror S3):',
    `node -e ${shellQuote(readMirror)}`,
    '# The inventory row (is_backed_up turns true once mirrored):',
    `psql ${shellQuote(t.inventoryUrl)} -c 'SELECT path, size, content_type, is_backed_up, deleted FROM files ORDER BY path'`,
    '# Health and mirror metrics live on the admin port:',
    `curl -sf ${t.admin}/readyz`,
    `curl -sf ${t.admin}/metrics | grep '^s3mirror_mirror_'`,
    TRY_IT_END,
    '',
  ].join('\n');
}

/** The command lines between the markers, comments dropped. */
export function tryItCommands(printed: string): string[] {
  const begin = printed.indexOf(TRY_IT_BEGIN);
  const end = printed.indexOf(TRY_IT_END, begin);
  if (begin === -1 || end === -1) return [];
  return printed
    .slice(begin + TRY_IT_BEGIN.length, end)
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l !== '' && !l.startsWith('#'));
}
