import type { RequestTarget } from './request-target';

/** What a request does, and whether a successful one changes an object the mirror must follow. */
export interface S3Operation {
  name: string;
  /** `put`: the object's current state changed; `delete`: it was removed; undefined: nothing to mirror. */
  tracks?: 'put' | 'delete' | 'multi-delete';
}

/** A loop, not query.some(): that would make a closure per test, and a GET tests up to five names. */
function has(target: RequestTarget, name: string): boolean {
  for (const pair of target.query) if (pair[0] === name) return true;
  return false;
}

function objectOperation(method: string, target: RequestTarget, hasCopySource: boolean): S3Operation {
  const upload = has(target, 'uploadId');
  switch (method) {
    case 'GET':
    case 'HEAD':
      if (has(target, 'tagging')) return { name: 'GetObjectTagging' };
      if (has(target, 'acl')) return { name: 'GetObjectAcl' };
      if (upload) return { name: 'ListParts' };
      if (has(target, 'attributes')) return { name: 'GetObjectAttributes' };
      return { name: method === 'GET' ? 'GetObject' : 'HeadObject' };
    case 'PUT':
      if (upload && has(target, 'partNumber'))
        return { name: hasCopySource ? 'UploadPartCopy' : 'UploadPart' };
      if (has(target, 'tagging')) return { name: 'PutObjectTagging', tracks: 'put' };
      if (has(target, 'acl')) return { name: 'PutObjectAcl' };
      if (has(target, 'retention') || has(target, 'legal-hold')) return { name: 'PutObjectLock' };
      return hasCopySource ? { name: 'CopyObject', tracks: 'put' } : { name: 'PutObject', tracks: 'put' };
    case 'POST':
      if (has(target, 'uploads')) return { name: 'CreateMultipartUpload' };
      if (upload) return { name: 'CompleteMultipartUpload', tracks: 'put' };
      if (has(target, 'restore')) return { name: 'RestoreObject' };
      if (has(target, 'select')) return { name: 'SelectObjectContent' };
      return { name: 'PostObject' };
    case 'DELETE':
      if (upload) return { name: 'AbortMultipartUpload' };
      if (has(target, 'tagging')) return { name: 'DeleteObjectTagging', tracks: 'put' };
      return { name: 'DeleteObject', tracks: 'delete' };
    default:
      return { name: 'Unknown' };
  }
}

/** Bucket subresources; the first one present names the operation (`?versioning` → GetBucketVersioning). */
const BUCKET_SUBRESOURCES = new Set([
  'accelerate',
  'acl',
  'analytics',
  'cors',
  'delete',
  'encryption',
  'intelligent-tiering',
  'inventory',
  'lifecycle',
  'list-type',
  'location',
  'logging',
  'metrics',
  'notification',
  'object-lock',
  'ownershipControls',
  'policy',
  'policyStatus',
  'publicAccessBlock',
  'replication',
  'requestPayment',
  'tagging',
  'uploads',
  'versioning',
  'versions',
  'website',
]);

function bucketOperation(method: string, target: RequestTarget): S3Operation {
  const sub = target.query.find(([n]) => BUCKET_SUBRESOURCES.has(n))?.[0];
  if (method === 'POST' && sub === 'delete') return { name: 'DeleteObjects', tracks: 'multi-delete' };
  // A browser form upload: the key is in the form.
  if (method === 'POST' && sub === undefined) return { name: 'PostObject', tracks: 'put' };
  const verb = { GET: 'Get', HEAD: 'Head', PUT: 'Put', DELETE: 'Delete', POST: 'Post' }[method] ?? 'Unknown';
  if (sub === undefined) {
    if (method === 'GET') return { name: 'ListObjects' };
    if (method === 'PUT') return { name: 'CreateBucket' };
    if (method === 'DELETE') return { name: 'DeleteBucket' };
    return { name: verb + 'Bucket' };
  }
  if (method === 'GET' && sub === 'list-type') return { name: 'ListObjectsV2' };
  if (method === 'GET' && sub === 'versions') return { name: 'ListObjectVersions' };
  if (method === 'GET' && sub === 'uploads') return { name: 'ListMultipartUploads' };
  const title = sub.replace(/(^|-)([a-z])/g, (_m, _d, c: string) => c.toUpperCase());
  return { name: `${verb}Bucket${title}` };
}

/** Classifies a request into the S3 operation it performs. Pure. */
export function classifyOperation(
  method: string,
  target: RequestTarget,
  hasCopySource: boolean,
): S3Operation {
  if (target.bucket === undefined) return { name: method === 'GET' ? 'ListBuckets' : 'Unknown' };
  if (target.key === undefined) return bucketOperation(method, target);
  return objectOperation(method, target, hasCopySource);
}
