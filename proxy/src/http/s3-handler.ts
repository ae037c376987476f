import type { IncomingMessage, ServerResponse } from 'node:http';
import { randomBytes } from 'node:crypto';
import { PassThrough } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { Dispatcher } from 'undici';
import type { ProxyConfig } from '../config';
import type { WriteEvent, WriteSink } from '../events';
import type { Logger } from '../log';
import type { ProxyMetrics } from '../metrics';
import { S3Error, renderS3ErrorXml, s3Errors } from '../s3/errors';
import { downstreamResponseHeaders, payloadHashFor, upstreamRequestHeaders } from '../s3/forward-headers';
import { classifyOperation, type S3Operation } from '../s3/operation';
import {
  copySourceBucket,
  parseRequestTarget,
  upstreamPath,
  upstreamQuery,
  type RequestTarget,
} from '../s3/request-target';
import { isErrorDocument, parseDeletedKeys } from '../s3/response-body';
import type { RequestSigner } from '../sigv4/signer';
import { prepareUpstreamBody, type UpstreamBody } from './request-body';

export interface S3HandlerDeps {
  config: ProxyConfig;
  signer: RequestSigner;
  upstream: Dispatcher;
  sink: WriteSink;
  logger: Logger;
  metrics: ProxyMetrics;
}

/** Responses whose body decides what was written; they are small XML documents. */
const BODY_TRACKED = new Set(['CopyObject', 'CompleteMultipartUpload', 'DeleteObjects']);
const MAX_TRACKED_BODY_BYTES = 4 * 1024 * 1024;

function header(req: IncomingMessage, name: string): string | undefined {
  const v = req.headers[name];
  return Array.isArray(v) ? v.join(', ') : v;
}

function checkAllowed(config: ProxyConfig, target: RequestTarget, req: IncomingMessage): void {
  if (config.allowedBuckets.length === 0) return;
  if (target.bucket !== undefined && !config.allowedBuckets.includes(target.bucket)) {
    throw s3Errors.accessDenied(`This sidecar is not allowed to access bucket ${target.bucket}.`);
  }
  // A copy reads its source with main's credentials too: the source bucket must be allowed as well.
  const copySource = req.headers['x-amz-copy-source'];
  if (copySource === undefined) return;
  const source = copySourceBucket(copySource);
  if (source === undefined || !config.allowedBuckets.includes(source)) {
    throw s3Errors.accessDenied('This sidecar is not allowed to copy from that source.');
  }
}

function writeEvents(
  op: S3Operation,
  target: RequestTarget,
  req: IncomingMessage,
  upstream: Dispatcher.ResponseData,
  body: UpstreamBody,
  responseText: string | undefined,
): WriteEvent[] {
  if (!op.tracks || upstream.statusCode < 200 || upstream.statusCode > 299) return [];
  if (responseText !== undefined && isErrorDocument(responseText)) return [];
  const bucket = target.bucket!;
  const acknowledgedAt = new Date();
  if (op.tracks === 'multi-delete') {
    return parseDeletedKeys(responseText ?? '').map((d) => ({
      bucket,
      key: d.key,
      kind: 'delete' as const,
      operation: op.name,
      acknowledgedAt,
      ...(d.versionId ? { versionId: d.versionId } : {}),
    }));
  }
  const h = upstream.headers;
  const str = (v: string | string[] | undefined) => (Array.isArray(v) ? v[0] : v);
  const versionId =
    str(h['x-amz-version-id']) ?? target.query.find(([n]) => n === 'versionId')?.[1] ?? undefined;
  const event: WriteEvent = { bucket, key: target.key!, kind: op.tracks, operation: op.name, acknowledgedAt };
  if (versionId) event.versionId = versionId;
  if (op.name === 'PutObject') {
    const etag = str(h.etag);
    if (etag) event.etag = etag;
    if (body.contentLength !== undefined) event.size = body.contentLength;
    const contentType = header(req, 'content-type');
    if (contentType) event.contentType = contentType;
    const checksums: Record<string, string> = { ...(body.decoder?.verifiedChecksums() ?? {}) };
    for (const [name, value] of Object.entries(req.headers)) {
      const alg = /^x-amz-checksum-(crc32|crc32c|crc64nvme|sha1|sha256)$/.exec(name)?.[1];
      if (alg && typeof value === 'string') checksums[alg.toUpperCase()] = value;
    }
    if (Object.keys(checksums).length > 0) event.checksums = checksums;
  }
  return [event];
}

/** Copies the upstream body to the app, keeping a bounded copy when the proxy must read it. */
async function relayBody(upstream: Dispatcher.ResponseData, res: ServerResponse, keepCopy: boolean) {
  let copied = 0;
  const kept: Buffer[] = [];
  const counter = new PassThrough({
    transform(chunk: Buffer, _enc, cb) {
      copied += chunk.length;
      if (keepCopy && copied <= MAX_TRACKED_BODY_BYTES) kept.push(chunk);
      cb(null, chunk);
    },
  });
  await pipeline(upstream.body, counter, res);
  return { bytes: copied, text: keepCopy ? Buffer.concat(kept).toString('utf8') : undefined };
}

function sendError(
  res: ServerResponse,
  error: S3Error,
  resource: string,
  requestId: string,
  closeAfter: boolean,
) {
  if (res.headersSent) {
    res.destroy(error);
    return;
  }
  const body = renderS3ErrorXml(error, resource, requestId);
  res.writeHead(error.statusCode, {
    'content-type': 'application/xml',
    'content-length': Buffer.byteLength(body),
    'x-amz-request-id': requestId,
    ...(closeAfter ? { connection: 'close' } : {}),
  });
  res.end(body);
}

export function createS3Handler(deps: S3HandlerDeps) {
  const { config, signer, upstream, sink, logger, metrics } = deps;
  const origin = config.main.url.origin;

  return async function handleS3Request(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const started = process.hrtime.bigint();
    const requestId = randomBytes(8).toString('hex').toUpperCase();
    const method = req.method ?? 'GET';
    let op: S3Operation = { name: 'Unknown' };
    let target: RequestTarget | undefined;
    let body: UpstreamBody | undefined;
    let bytesOut = 0;
    let outcome = 'ok';
    metrics.inFlight.inc();

    // Aborted when the app goes away or its body turns out bad: upstream must never complete the write.
    const abort = new AbortController();
    let clientGone = false;
    res.on('close', () => {
      metrics.inFlight.dec();
      if (!res.writableFinished) {
        clientGone = true;
        outcome = 'client-aborted';
        abort.abort(new Error('client went away'));
      }
      const status = res.writableFinished ? res.statusCode : 499;
      metrics.requests.inc({ operation: op.name, status: String(status) });
      const bytesIn = body?.bytesForwarded() ?? 0;
      metrics.requestBytes.inc(bytesIn);
      metrics.responseBytes.inc(bytesOut);
      logger.info('request', {
        requestId,
        operation: op.name,
        method,
        bucket: target?.bucket,
        key: target?.key,
        status,
        bytesIn,
        bytesOut,
        durationMs: Number(process.hrtime.bigint() - started) / 1e6,
        outcome,
      });
    });

    try {
      if (method === 'CONNECT' || method === 'TRACE' || method === 'OPTIONS')
        throw s3Errors.methodNotAllowed();
      target = parseRequestTarget({
        rawUrl: req.url ?? '/',
        host: req.headers.host,
        virtualHostBases: config.virtualHostBases,
      });
      op = classifyOperation(method, target, req.headers['x-amz-copy-source'] !== undefined);
      checkAllowed(config, target, req);

      body = await prepareUpstreamBody(req, (err) => abort.abort(err));
      const path = upstreamPath(target);
      const headers = upstreamRequestHeaders(req.headers, {
        ...(body.decoder ? { decodedAwsChunked: { contentEncoding: body.contentEncoding ?? null } } : {}),
        ...(body.contentLength !== undefined ? { contentLength: body.contentLength } : {}),
        payloadHash: payloadHashFor(req.headers, body.decoder === undefined),
      });
      const signed = await signer.sign({ method, path, query: target.query, headers });

      const upstreamStarted = process.hrtime.bigint();
      const response = await upstream.request({
        origin,
        path: path + upstreamQuery(target.query),
        method: method as Dispatcher.HttpMethod,
        headers: signed,
        body: body.stream,
        signal: abort.signal,
      });
      metrics.upstreamDuration.observe(
        { operation: op.name },
        Number(process.hrtime.bigint() - upstreamStarted) / 1e9,
      );

      const trackBody = op.tracks !== undefined && BODY_TRACKED.has(op.name) && response.statusCode < 300;
      res.writeHead(response.statusCode, downstreamResponseHeaders(response.headers));
      const relayed = await relayBody(response, res, trackBody);
      bytesOut = relayed.bytes;
      for (const event of writeEvents(op, target, req, response, body, relayed.text)) sink.record(event);
    } catch (caught) {
      if (clientGone) return;
      const err = body?.failure() ?? caught;
      const resource = target?.bucket ? `/${target.bucket}${target.key ? '/' + target.key : ''}` : '/';
      if (err instanceof S3Error) {
        outcome = 'rejected';
        metrics.rejected.inc({ code: err.code });
        sendError(res, err, resource, requestId, !req.complete);
        return;
      }
      outcome = 'upstream-error';
      logger.warn('upstream request failed', {
        requestId,
        operation: op.name,
        error: (err as Error).message,
      });
      sendError(
        res,
        s3Errors.serviceUnavailable('The proxy could not complete the request to the main S3 endpoint.'),
        resource,
        requestId,
        !req.complete,
      );
    }
  };
}
