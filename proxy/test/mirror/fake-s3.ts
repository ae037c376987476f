/**
 * An in-memory S3 endpoint behind the copier's one-method client (S3Http), answering as S3 and RGW do for
 * the calls a copy and the scan make: HEAD, GET (object and ?tagging), PUT (Content-Length and Content-MD5
 * checked, the object stored only once its whole body arrived), DELETE; on a bucket: CreateBucket,
 * Get/PutBucketVersioning, ListObjectsV2 (keys URL-encoded as RGW does when asked). Records every request.
 */
import { createHash } from 'node:crypto';
import { Readable } from 'node:stream';

import type { S3Client } from '@aws-sdk/client-s3';

import { sameBucketName } from '../../src/mirror/bucket-name';
import type { CopyClients } from '../../src/mirror/copier';
import type { S3Http, S3HttpRequest, S3HttpResponse } from '../../src/mirror/s3-http';

export interface StoredObject {
  body: Buffer;
  /** Object headers as stored (content-type, x-amz-meta-*, …), byte strings. */
  headers: Record<string, string>;
  tags?: { Key: string; Value: string }[];
  versionId?: string;
}

const STORED_HEADERS =
  /^(content-type|content-encoding|cache-control|content-disposition|content-language|expires|x-amz-meta-.*)$/;

export const md5Hex = (data: Buffer | string): string => createHash('md5').update(data).digest('hex');

const xml = (text: string): string =>
  text.replace(/[&<>]/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;' })[c]!);

function answer(
  statusCode: number,
  headers: Record<string, string> = {},
  body: Buffer | Readable = Buffer.alloc(0),
) {
  return {
    statusCode,
    headers,
    body: body instanceof Readable ? body : Readable.from(body.length > 0 ? [body] : []),
  };
}

function errorAnswer(statusCode: number, code: string, message: string): S3HttpResponse {
  const doc = `<?xml version="1.0" encoding="UTF-8"?><Error><Code>${code}</Code><Message>${xml(message)}</Message></Error>`;
  return answer(statusCode, { 'content-type': 'application/xml' }, Buffer.from(doc));
}

async function readAll(body: Readable | Buffer | undefined): Promise<Buffer> {
  if (body === undefined) return Buffer.alloc(0);
  // A buffer body (a small spooled upload) is sent as it is, as undici sends it.
  if (Buffer.isBuffer(body)) return body;
  const chunks: Buffer[] = [];
  for await (const chunk of body) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

export class FakeS3 implements S3Http {
  readonly buckets = new Set<string>();
  readonly objects = new Map<string, StoredObject>();
  readonly requests: Omit<S3HttpRequest, 'body' | 'signal'>[] = [];
  /** Bucket → the LocationConstraint its CreateBucket named ('' for none). */
  readonly createdIn = new Map<string, string>();
  /** Bucket → its versioning status, once set. */
  readonly versioning = new Map<string, string>();
  /** Answers a request before the store does (a fault); undefined lets the store answer. */
  intercept?: (request: S3HttpRequest) => S3HttpResponse | Promise<S3HttpResponse> | undefined;
  /** A GET's body: the stored bytes, unless a test replaces the stream (a source that breaks off). */
  getBody: (object: StoredObject) => Readable = (object) => Readable.from([object.body]);
  /** Called while a PUT body is being read (to abort a copy mid-upload). */
  onPutStarted?: () => void;
  /** Whether a PUT's Content-MD5 is checked (BadDigest), as S3 does; false: a store that ignores it. */
  checksContentMd5 = true;
  private versions = 0;

  constructor(...buckets: string[]) {
    for (const b of buckets) this.buckets.add(b);
  }

  put(
    bucket: string,
    key: string,
    body: Buffer | string,
    headers: Record<string, string> = {},
    tags?: StoredObject['tags'],
  ) {
    this.buckets.add(bucket);
    this.objects.set(`${bucket}/${key}`, {
      body: Buffer.from(body),
      headers: { 'content-type': 'binary/octet-stream', ...headers },
      ...(tags ? { tags } : {}),
      versionId: `v${++this.versions}`,
    });
  }

  object(bucket: string, key: string): StoredObject | undefined {
    return this.objects.get(`${bucket}/${key}`);
  }

  count(method: string, query?: string): number {
    return this.requests.filter(
      (r) => r.method === method && (query === undefined || r.query?.[0]?.[0] === query),
    ).length;
  }

  async send(request: S3HttpRequest): Promise<S3HttpResponse> {
    const { method, bucket, key, query, headers } = request;
    // As undici: an aborted signal sends nothing.
    request.signal?.throwIfAborted();
    this.requests.push({ method, bucket, key, ...(query ? { query } : {}), ...(headers ? { headers } : {}) });
    const intercepted = await this.intercept?.(request);
    if (intercepted) return intercepted;
    if (key === undefined && method === 'PUT' && !query) return this.createBucket(bucket, request.body);
    if (!this.buckets.has(bucket)) {
      if (request.body instanceof Readable) request.body.destroy();
      return method === 'HEAD'
        ? answer(404)
        : errorAnswer(404, 'NoSuchBucket', 'The specified bucket does not exist');
    }
    if (key === undefined) return this.onBucket(request);
    const id = `${bucket}/${key}`;
    const stored = this.objects.get(id);
    switch (method) {
      case 'HEAD':
      case 'GET': {
        if (!stored) return method === 'HEAD' ? answer(404) : errorAnswer(404, 'NoSuchKey', 'no such key');
        if (query?.[0]?.[0] === 'tagging') {
          const tags = (stored.tags ?? [])
            .map((t) => `<Tag><Key>${xml(t.Key)}</Key><Value>${xml(t.Value)}</Value></Tag>`)
            .join('');
          return answer(200, {}, Buffer.from(`<Tagging><TagSet>${tags}</TagSet></Tagging>`));
        }
        const head: Record<string, string> = {
          ...stored.headers,
          'content-length': String(stored.body.length),
          etag: `"${md5Hex(stored.body)}"`,
          'last-modified': 'Wed, 02 Dec 2026 10:00:00 GMT',
          ...(stored.versionId ? { 'x-amz-version-id': stored.versionId } : {}),
          ...(stored.tags?.length ? { 'x-amz-tagging-count': String(stored.tags.length) } : {}),
        };
        return method === 'HEAD' ? answer(200, head) : answer(200, head, this.getBody(stored));
      }
      case 'PUT': {
        this.onPutStarted?.();
        const length = Number(headers?.['content-length']);
        // A body that fails, or is aborted, fails the request as undici does: nothing is stored.
        const body = await abortable(readAll(request.body), request.signal);
        if (body.length !== length) throw new Error(`body of ${body.length} bytes, content-length ${length}`);
        const md5 = headers?.['content-md5'];
        const badDigest = md5 !== undefined && Buffer.from(md5, 'base64').toString('hex') !== md5Hex(body);
        if (badDigest && this.checksContentMd5) {
          return errorAnswer(
            400,
            'BadDigest',
            'The Content-MD5 you specified did not match what was received.',
          );
        }
        const kept: Record<string, string> = {};
        for (const [name, value] of Object.entries(headers ?? {}))
          if (STORED_HEADERS.test(name)) kept[name] = value;
        const tagging = headers?.['x-amz-tagging'];
        const tags = tagging
          ? [...new URLSearchParams(tagging)].map(([Key, Value]) => ({ Key, Value }))
          : undefined;
        this.objects.set(id, { body, headers: kept, ...(tags ? { tags } : {}) });
        return answer(200, { etag: `"${md5Hex(body)}"` });
      }
      case 'DELETE':
        this.objects.delete(id);
        return answer(204);
    }
  }

  private async createBucket(bucket: string, body: S3HttpRequest['body']): Promise<S3HttpResponse> {
    const config = (await readAll(body)).toString();
    if (this.buckets.has(bucket))
      return errorAnswer(
        409,
        'BucketAlreadyOwnedByYou',
        'Your previous request to create the named bucket succeeded',
      );
    this.buckets.add(bucket);
    this.createdIn.set(bucket, /<LocationConstraint>(.*)<\/LocationConstraint>/.exec(config)?.[1] ?? '');
    return answer(200);
  }

  private async onBucket(request: S3HttpRequest): Promise<S3HttpResponse> {
    const { method, bucket } = request;
    const query = new Map(request.query ?? []);
    if (method === 'HEAD') return answer(200);
    if (query.has('versioning') && method === 'PUT') {
      const status = /<Status>(.*)<\/Status>/.exec((await readAll(request.body)).toString())?.[1];
      if (status) this.versioning.set(bucket, status);
      return answer(200);
    }
    if (query.has('versioning') && method === 'GET') {
      const status = this.versioning.get(bucket);
      const doc = `<VersioningConfiguration>${status ? `<Status>${status}</Status>` : ''}</VersioningConfiguration>`;
      return answer(200, {}, Buffer.from(doc));
    }
    if (query.get('list-type') === '2' && method === 'GET') return this.list(bucket, query);
    return errorAnswer(501, 'NotImplemented', method);
  }

  /** ListObjectsV2: keys in UTF-8 byte order after start-after; URL-encoded (as RGW: %20, %2B) when asked. */
  private list(bucket: string, query: Map<string, string | null>): S3HttpResponse {
    const after = query.get('start-after') ?? undefined;
    const max = Number(query.get('max-keys') ?? 1000);
    const url = query.get('encoding-type') === 'url';
    const keys = [...this.objects.keys()]
      .filter((id) => id.startsWith(`${bucket}/`))
      .map((id) => id.slice(bucket.length + 1))
      .filter((k) => after === undefined || Buffer.compare(Buffer.from(k), Buffer.from(after)) > 0)
      .sort((a, b) => Buffer.compare(Buffer.from(a), Buffer.from(b)));
    const page = keys.slice(0, max);
    const contents = page
      .map((k) => {
        const o = this.objects.get(`${bucket}/${k}`)!;
        const name = url ? encodeURIComponent(k) : xml(k);
        return `<Contents><Key>${name}</Key><LastModified>2026-12-02T10:00:00.000Z</LastModified><ETag>&quot;${md5Hex(o.body)}&quot;</ETag><Size>${o.body.length}</Size></Contents>`;
      })
      .join('');
    const doc =
      `<ListBucketResult><Name>${bucket}</Name>${url ? '<EncodingType>url</EncodingType>' : ''}` +
      `<IsTruncated>${keys.length > max}</IsTruncated>${contents}</ListBucketResult>`;
    return answer(200, { 'content-type': 'application/xml' }, Buffer.from(doc));
  }
}

function abortable<T>(work: Promise<T>, signal: AbortSignal | undefined): Promise<T> {
  if (!signal) return work;
  return new Promise<T>((resolve, reject) => {
    const onAbort = (): void => reject(signal.reason as Error);
    if (signal.aborted) return onAbort();
    signal.addEventListener('abort', onAbort, { once: true });
    const done = (): void => signal.removeEventListener('abort', onAbort);
    work.then(
      (value) => (done(), resolve(value)),
      (err: unknown) => (done(), reject(err as Error)),
    );
  });
}

/** An S3Client stand-in for the SDK calls the copier still makes, answering by command name. */
export function fakeSdk(answers: Record<string, (input: Record<string, unknown>) => unknown> = {}) {
  const sent: { name: string; input: Record<string, unknown> }[] = [];
  const client = {
    // What lib-storage's Upload reads of a client's configuration.
    config: {
      endpoint: () => Promise.resolve({ protocol: 'http:', hostname: 'mirror', port: 80, path: '/' }),
      forcePathStyle: true,
    },
    send: async (cmd: { input: Record<string, unknown> }) => {
      const name = cmd.constructor.name;
      sent.push({ name, input: cmd.input });
      const reply = answers[name];
      if (!reply) throw new Error(`unexpected ${name}`);
      return reply(cmd.input);
    },
  };
  return { client: client as unknown as S3Client, sent, names: () => sent.map((s) => s.name) };
}

/**
 * A copier's clients over two fake endpoints, the mirror bucket named as main's. Only multipart copies over
 * 5 GiB go through the SDK: any other call it gets fails the test.
 */
export function fakeCopyClients(main: FakeS3, mirror: FakeS3) {
  const mirrorSdk = fakeSdk();
  const clients: CopyClients = {
    main: { http: main },
    mirror: { http: mirror, sdk: mirrorSdk.client },
    mirrorBucket: sameBucketName,
    mirrorRegion: 'us-east-1',
  };
  return { clients, mirrorSdk };
}
