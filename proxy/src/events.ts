/**
 * A write that main S3 acknowledged (2xx). The proxy hands these to the write tracker, which records them in
 * the inventory and schedules mirroring. Events are hints: the tracker mirrors what main holds now.
 */
export interface WriteEvent {
  bucket: string;
  key: string;
  kind: 'put' | 'delete';
  /** S3 operation that caused it, e.g. PutObject, CopyObject, CompleteMultipartUpload, DeleteObject. */
  operation: string;
  /** From main's response headers when present. */
  versionId?: string;
  etag?: string;
  size?: number;
  contentType?: string;
  /** Checksums the app sent (header or trailer) and the proxy verified, e.g. { crc32: 'base64' }. */
  checksums?: Record<string, string>;
  /** When main acknowledged the write. */
  acknowledgedAt: Date;
}

/** Receives acknowledged writes. Must return at once and never throw: the app's request does not wait on it. */
export interface WriteSink {
  record(event: WriteEvent): void;
}
