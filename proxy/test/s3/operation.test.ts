import { classifyOperation } from '../../src/s3/operation';
import { parseRequestTarget } from '../../src/s3/request-target';

const classify = (method: string, url: string, copySource = false) =>
  classifyOperation(
    method,
    parseRequestTarget({ rawUrl: url, host: undefined, virtualHostBases: [] }),
    copySource,
  );

describe('classifyOperation', () => {
  test.each([
    ['GET', '/', false, 'ListBuckets', undefined],
    ['GET', '/bkt', false, 'ListObjects', undefined],
    ['GET', '/bkt?list-type=2&prefix=a', false, 'ListObjectsV2', undefined],
    ['GET', '/bkt?versions', false, 'ListObjectVersions', undefined],
    ['GET', '/bkt?uploads', false, 'ListMultipartUploads', undefined],
    ['GET', '/bkt?versioning', false, 'GetBucketVersioning', undefined],
    ['PUT', '/bkt?versioning', false, 'PutBucketVersioning', undefined],
    ['GET', '/bkt?object-lock', false, 'GetBucketObjectLock', undefined],
    ['PUT', '/bkt', false, 'CreateBucket', undefined],
    ['DELETE', '/bkt', false, 'DeleteBucket', undefined],
    ['HEAD', '/bkt', false, 'HeadBucket', undefined],
    ['POST', '/bkt?delete', false, 'DeleteObjects', 'multi-delete'],
    ['POST', '/bkt', false, 'PostObject', 'put'],
    ['GET', '/bkt/k', false, 'GetObject', undefined],
    ['HEAD', '/bkt/k', false, 'HeadObject', undefined],
    ['GET', '/bkt/k?tagging', false, 'GetObjectTagging', undefined],
    ['GET', '/bkt/k?acl', false, 'GetObjectAcl', undefined],
    ['GET', '/bkt/k?uploadId=u', false, 'ListParts', undefined],
    ['GET', '/bkt/k?attributes', false, 'GetObjectAttributes', undefined],
    ['PUT', '/bkt/k', false, 'PutObject', 'put'],
    ['PUT', '/bkt/k', true, 'CopyObject', 'put'],
    ['PUT', '/bkt/k?partNumber=1&uploadId=u', false, 'UploadPart', undefined],
    ['PUT', '/bkt/k?partNumber=1&uploadId=u', true, 'UploadPartCopy', undefined],
    ['PUT', '/bkt/k?tagging', false, 'PutObjectTagging', 'put'],
    ['PUT', '/bkt/k?acl', false, 'PutObjectAcl', undefined],
    ['PUT', '/bkt/k?retention', false, 'PutObjectLock', undefined],
    ['POST', '/bkt/k?uploads', false, 'CreateMultipartUpload', undefined],
    ['POST', '/bkt/k?uploadId=u', false, 'CompleteMultipartUpload', 'put'],
    ['POST', '/bkt/k?restore', false, 'RestoreObject', undefined],
    ['DELETE', '/bkt/k', false, 'DeleteObject', 'delete'],
    ['DELETE', '/bkt/k?versionId=v', false, 'DeleteObject', 'delete'],
    ['DELETE', '/bkt/k?uploadId=u', false, 'AbortMultipartUpload', undefined],
    ['DELETE', '/bkt/k?tagging', false, 'DeleteObjectTagging', 'put'],
    ['PATCH', '/bkt/k', false, 'Unknown', undefined],
  ])('%s %s (copy source: %s) is %s, tracked as %s', (method, url, copy, name, tracks) => {
    const op = classifyOperation(
      method,
      parseRequestTarget({ rawUrl: url, host: undefined, virtualHostBases: [] }),
      copy,
    );
    expect(op.name).toBe(name);
    expect(op.tracks).toBe(tracks);
  });

  test('only operations that change an object are tracked', () => {
    const tracked = [
      'PUT /bkt/k',
      'POST /bkt/k?uploadId=u',
      'DELETE /bkt/k',
      'POST /bkt?delete',
      'POST /bkt',
    ];
    const untracked = [
      'PUT /bkt/k?partNumber=2&uploadId=u',
      'POST /bkt/k?uploads',
      'PUT /bkt?acl',
      'GET /bkt/k',
    ];
    for (const line of tracked)
      expect(classify(...(line.split(' ') as [string, string])).tracks).toBeDefined();
    for (const line of untracked)
      expect(classify(...(line.split(' ') as [string, string])).tracks).toBeUndefined();
  });
});
