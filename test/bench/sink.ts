import { createHash } from 'node:crypto';
import http from 'node:http';

/**
 * A minimal S3 backend for isolating the proxy's own cost: it accepts any request without checking
 * signatures, streams uploaded bytes away (keeping small objects in memory so GETs return them), and serves
 * large objects from one repeated in-memory pattern. It speaks just enough S3 for the benchmark clients and
 * for the proxy's mirror copier (PutObject, multipart upload, GetObject, HeadObject, tagging, versioning,
 * DeleteObject, CreateBucket).
 */
export interface SinkStats {
  requests: number;
  bytesIn: number;
  bytesOut: number;
}

interface StoredObject {
  size: number;
  etag: string;
  contentType: string;
  lastModified: string;
  /** The bytes for objects up to KEEP_BYTES; larger ones are served from the pattern. */
  bytes?: Buffer;
}

/** Objects up to this size keep their bytes. */
const KEEP_BYTES = 1024 * 1024;
/**
 * A single PUT's ETag is the MD5 of its body, as S3 answers; the proxy checks its upload spool against it.
 * Computed up to this size (the proxy's default spool limit for one object) and skipped above it, where the
 * hashing would cost the sink more CPU than the proxy spends; larger objects get an opaque ETag.
 */
const MD5_ETAG_BYTES = 64 * 1024 * 1024;
/** Bounded memory: the oldest keys are forgotten beyond this. */
const MAX_KEYS = 200_000;
const PATTERN = Buffer.alloc(1024 * 1024, 'sink-pattern-');

const XML = { 'content-type': 'application/xml' };

function xmlError(res: http.ServerResponse, status: number, code: string): void {
  const body = `<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>${code}</Code><Message>${code}</Message></Error>`;
  res.writeHead(status, { ...XML, 'content-length': Buffer.byteLength(body) });
  res.end(body);
}

function xmlOk(res: http.ServerResponse, body: string, extra: http.OutgoingHttpHeaders = {}): void {
  const text = `<?xml version="1.0" encoding="UTF-8"?>\n${body}`;
  res.writeHead(200, { ...XML, 'content-length': Buffer.byteLength(text), ...extra });
  res.end(text);
}

/** Writes `size` bytes of the pattern with backpressure. */
function writePattern(res: http.ServerResponse, size: number, onBytes: (n: number) => void): void {
  let left = size;
  const pump = (): void => {
    while (left > 0) {
      const chunk = left >= PATTERN.length ? PATTERN : PATTERN.subarray(0, left);
      left -= chunk.length;
      onBytes(chunk.length);
      if (!res.write(chunk)) {
        res.once('drain', pump);
        return;
      }
    }
    res.end();
  };
  pump();
}

export function createSinkServer(): { server: http.Server; stats: SinkStats } {
  const stats: SinkStats = { requests: 0, bytesIn: 0, bytesOut: 0 };
  const objects = new Map<string, StoredObject>();
  const uploads = new Map<string, number>();
  let counter = 0;

  const store = (key: string, obj: StoredObject): void => {
    objects.delete(key);
    objects.set(key, obj);
    if (objects.size > MAX_KEYS) objects.delete(objects.keys().next().value!);
  };

  /** Consumes the request body, keeping it only when small; `md5` when it was hashed. */
  const drain = (
    req: http.IncomingMessage,
    keep: boolean,
    done: (size: number, bytes?: Buffer, md5?: string) => void,
  ) => {
    let size = 0;
    const kept: Buffer[] = [];
    const declared = Number(req.headers['content-length'] ?? NaN);
    const hash = keep && declared <= MD5_ETAG_BYTES ? createHash('md5') : undefined;
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      hash?.update(chunk);
      if (keep && size <= KEEP_BYTES) kept.push(chunk);
    });
    req.on('end', () => {
      stats.bytesIn += size;
      done(size, keep && size <= KEEP_BYTES ? Buffer.concat(kept) : undefined, hash?.digest('hex'));
    });
  };

  const server = http.createServer({ keepAliveTimeout: 60_000 }, (req, res) => {
    stats.requests++;
    const url = new URL(req.url ?? '/', 'http://sink');
    const q = url.searchParams;
    const [, bucket = '', ...rest] = url.pathname.split('/');
    const key = rest.join('/');
    const id = `${bucket}/${key}`;
    const method = req.method ?? 'GET';
    const etag = (): string => `"${(++counter).toString(16).padStart(32, '0')}"`;

    if (!bucket || !key) {
      // Bucket-level requests: create, versioning, listing. None of them matter to the benchmark.
      req.resume();
      if (method === 'GET' && q.has('versioning')) {
        return xmlOk(res, '<VersioningConfiguration xmlns="http://s3.amazonaws.com/doc/2006-03-01/"/>');
      }
      if (method === 'GET') {
        return xmlOk(
          res,
          `<ListBucketResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Name>${bucket}</Name><KeyCount>0</KeyCount><IsTruncated>false</IsTruncated></ListBucketResult>`,
        );
      }
      res.writeHead(200, { 'content-length': 0 }).end();
      return;
    }

    if (method === 'POST' && q.has('uploads')) {
      req.resume();
      const uploadId = `u${++counter}`;
      uploads.set(uploadId, 0);
      return xmlOk(
        res,
        `<InitiateMultipartUploadResult><Bucket>${bucket}</Bucket><Key>${key}</Key><UploadId>${uploadId}</UploadId></InitiateMultipartUploadResult>`,
      );
    }
    if (method === 'PUT' && q.has('uploadId')) {
      const uploadId = q.get('uploadId')!;
      return drain(req, false, (size) => {
        uploads.set(uploadId, (uploads.get(uploadId) ?? 0) + size);
        res.writeHead(200, { etag: etag(), 'content-length': 0 }).end();
      });
    }
    if (method === 'POST' && q.has('uploadId')) {
      const uploadId = q.get('uploadId')!;
      return drain(req, false, () => {
        const size = uploads.get(uploadId) ?? 0;
        uploads.delete(uploadId);
        const tag = etag();
        store(id, {
          size,
          etag: tag,
          contentType: 'application/octet-stream',
          lastModified: new Date().toUTCString(),
        });
        xmlOk(
          res,
          `<CompleteMultipartUploadResult><Bucket>${bucket}</Bucket><Key>${key}</Key><ETag>${tag}</ETag></CompleteMultipartUploadResult>`,
        );
      });
    }
    if (method === 'DELETE' && q.has('uploadId')) {
      req.resume();
      uploads.delete(q.get('uploadId')!);
      res.writeHead(204).end();
      return;
    }
    if (method === 'PUT' && q.has('tagging')) {
      req.resume();
      res.writeHead(200, { 'content-length': 0 }).end();
      return;
    }
    if (method === 'PUT') {
      return drain(req, true, (size, bytes, md5) => {
        const tag = md5 ? `"${md5}"` : etag();
        store(id, {
          size,
          etag: tag,
          contentType: String(req.headers['content-type'] ?? 'application/octet-stream'),
          lastModified: new Date().toUTCString(),
          ...(bytes ? { bytes } : {}),
        });
        res.writeHead(200, { etag: tag, 'content-length': 0 }).end();
      });
    }
    req.resume();
    if (method === 'DELETE') {
      objects.delete(id);
      res.writeHead(204).end();
      return;
    }
    const obj = objects.get(id);
    if (!obj) return xmlError(res, 404, 'NoSuchKey');
    if (method === 'GET' && q.has('tagging')) {
      return xmlOk(res, '<Tagging><TagSet></TagSet></Tagging>');
    }
    const headers = {
      'content-length': obj.size,
      'content-type': obj.contentType,
      etag: obj.etag,
      'last-modified': obj.lastModified,
    };
    if (method === 'HEAD') {
      res.writeHead(200, headers).end();
      return;
    }
    res.writeHead(200, headers);
    if (obj.bytes) {
      stats.bytesOut += obj.bytes.length;
      res.end(obj.bytes);
    } else {
      writePattern(res, obj.size, (n) => (stats.bytesOut += n));
    }
  });
  return { server, stats };
}
