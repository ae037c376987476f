/** Write events and copy results for tests that drive the inventory repository directly. */
import type { WriteEvent } from '../../proxy/src/events';
import type { MirrorResult } from '../../proxy/src/mirror/copier';

/** A write as the data path records it: a 3-byte PUT (ETag "e"), or a delete. */
export const writeEvent = (bucket: string, key: string, kind: 'put' | 'delete' = 'put'): WriteEvent => ({
  bucket,
  key,
  kind,
  operation: kind === 'put' ? 'PutObject' : 'DeleteObject',
  ...(kind === 'put' ? { size: 3, etag: '"e"' } : {}),
  acknowledgedAt: new Date(),
});

/** What a copy of such a PUT reports: main's object, now on the mirror as "m". */
export const copiedResult: MirrorResult = {
  exists: true,
  size: 3,
  etag: '"e"',
  mirrorEtag: '"m"',
  contentType: 'text/plain',
  lastModified: undefined,
  versionId: undefined,
};
