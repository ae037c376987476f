import type { IncomingMessage, ServerResponse } from 'node:http';
import { randomBytes } from 'node:crypto';
import type { Readable } from 'node:stream';
import { StringDecoder } from 'node:string_decoder';
import type { Dispatcher } from 'undici';
import type { ProxyConfig } from '../config';
import type { WriteEvent, WriteSink } from '../events';
import type { Logger } from '../log';
import type { ProxyMetrics } from '../metrics';
import { filterBucketList } from '../s3/bucket-list-filter';
import { S3Error, renderS3ErrorXml, s3Errors } from '../s3/errors';
import { isErrorDocument } from '../s3/response-body';
import { downstreamResponseHeaders, payloadHashFor, upstreamRequestHeaders } from '../s3/forward-headers';
import { classifyOperation, type S3Operation } from '../s3/operation';
import {
  copySourceBucket,
  parseRequestTarget,
  upstreamPath,
  upstreamQuery,
  type RequestTarget,
} from '../s3/request-target';
import type { RequestSigner } from '../sigv4/signer';
import type { SpoolFile, UploadSpoolPort } from '../spool';
import { DeleteRequestKeys, failedKeys } from '../tracking/delete-request';
import { holdResponseBody, type HeldBody } from '../tracking/response-hold';
import {
  BODY_TRACKED_OPERATIONS,
  DeletedEntryScanner,
  deletedEvents,
  eventsFromBody,
  eventsFromHeaders,
  isTrackedSuccess,
  provisionalEvent,
  uncertainEvents,
  type RequestFacts,
} from '../tracking/write-events';
import { formBoundary } from '../s3/post-form';
import { preparePostObjectBody } from './post-object-body';
import { relayBody } from './relay-body';
import { checkBodyFraming, prepareUpstreamBody, type UpstreamBody } from './request-body';

export interface S3HandlerDeps {
  config: ProxyConfig;
  signer: RequestSigner;
  upstream: Dispatcher;
  sink: WriteSink;
  logger: Logger;
  metrics: ProxyMetrics;
  /** Keeps single PutObject bodies on local disk for the mirror copy (absent: every copy reads main). */
  uploads?: UploadSpoolPort;
  /** How long a tracked write's answer is held before its status goes out (tests shorten it). */
  heldBodyMaxMs?: number;
}

/**
 * Bounds on reading a tracked response body before relaying it: a DeleteObjects result of 1,000 keys of
 * 1,024 bytes (XML-escaped) fits; the wait covers S3's whitespace keep-alive during long operations.
 */
const MAX_HELD_BODY_BYTES = 8 * 1024 * 1024;
const MAX_HELD_BODY_MS = 10_000;

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

/**
 * Answers a ListBuckets through a sidecar with an allow-list with only the allowed buckets. The document is
 * small (S3 lists at most 10,000 buckets); one too large or compressed to read is refused, never passed on.
 * Returns the bytes sent.
 */
async function sendAllowedBucketList(
  res: ServerResponse,
  upstream: Dispatcher.ResponseData,
  allowed: readonly string[],
): Promise<number> {
  const encoding = upstream.headers['content-encoding'];
  const held =
    encoding === undefined || encoding === 'identity'
      ? await holdResponseBody(upstream.body, MAX_HELD_BODY_BYTES, MAX_HELD_BODY_MS)
      : undefined;
  if (!held?.ended) {
    discard(upstream.body);
    throw s3Errors.accessDenied('This sidecar cannot filter the bucket list to its allowed buckets.');
  }
  const xml = filterBucketList(Buffer.concat(held.chunks).toString('utf8'), allowed);
  const headers = downstreamResponseHeaders(upstream.headers);
  delete headers['content-md5'];
  writeResponseHead(res, upstream.statusCode, {
    ...headers,
    'content-length': String(Buffer.byteLength(xml)),
  });
  res.end(xml);
  return Buffer.byteLength(xml);
}

/** A form upload's headers: no header signature (the form carries main's), no payload hash. */
function formUploadHeaders(headers: Record<string, string>, host: string): Record<string, string> {
  const sent: Record<string, string> = { ...headers, host };
  delete sent['x-amz-content-sha256'];
  return sent;
}

/** Bounds on reading the body of a request refused before its body was used. */
const REFUSED_BODY_MAX_BYTES = 1024 * 1024;
const REFUSED_BODY_MAX_MS = 2_000;

/** Reads and drops what is left of a refused request's body, within bounds; never fails. */
function drainBriefly(req: IncomingMessage): Promise<void> {
  return new Promise((resolve) => {
    let bytes = 0;
    const done = (): void => {
      clearTimeout(timer);
      req.off('data', count);
      req.pause();
      resolve();
    };
    const count = (chunk: Buffer): void => {
      bytes += chunk.length;
      if (bytes > REFUSED_BODY_MAX_BYTES) done();
    };
    const timer = setTimeout(done, REFUSED_BODY_MAX_MS);
    req.on('data', count).once('end', done).once('error', done).once('close', done);
    req.resume();
  });
}

function expectsContinue(req: IncomingMessage): boolean {
  return /\b100-continue\b/i.test(header(req, 'expect') ?? '');
}

/**
 * Sends main's status and headers byte for byte (header values are latin1 strings: one char per byte).
 * Content-Disposition goes first: a Content-Disposition that Node meets after Content-Length is re-encoded
 * as UTF-8 (nodejs/node#46528), which refuses or garbles a value with non-ASCII bytes, such as an object
 * stored with a UTF-8 file name.
 */
function writeResponseHead(
  res: ServerResponse,
  statusCode: number,
  headers: Record<string, string | string[]>,
): void {
  const disposition = headers['content-disposition'];
  res.writeHead(
    statusCode,
    disposition === undefined ? headers : { 'content-disposition': disposition, ...headers },
  );
}

function requestFacts(req: IncomingMessage, body: UpstreamBody): RequestFacts {
  const facts: RequestFacts = {};
  if (body.contentLength !== undefined) facts.contentLength = body.contentLength;
  const contentType = header(req, 'content-type');
  if (contentType) facts.contentType = contentType;
  const checksums: Record<string, string> = { ...(body.decoder?.verifiedChecksums() ?? {}) };
  for (const [name, value] of Object.entries(req.headers)) {
    const alg = /^x-amz-checksum-(crc32|crc32c|crc64nvme|sha1|sha256)$/.exec(name)?.[1];
    if (alg && typeof value === 'string') checksums[alg.toUpperCase()] = value;
  }
  if (Object.keys(checksums).length > 0) facts.checksums = checksums;
  return facts;
}

/** Reads what is left of main's answer for tracking only, when the app is gone. */
function finishWithoutApp(source: Readable, held: HeldBody | undefined, tracking: BodyTracking | undefined) {
  if (held && !held.ended && tracking?.onChunk) {
    let finished = false;
    const finish = (): void => {
      if (!finished) tracking.finish();
      finished = true;
    };
    source.on('data', tracking.onChunk).once('end', finish).once('error', finish);
    source.resume();
    return;
  }
  tracking?.finish();
  discard(source);
}

function discard(source: Readable): void {
  source.on('error', () => undefined); // destroying an unread undici body emits an abort error
  source.destroy();
}

/** Tracking of the part of a response body relayed after the hold (DeleteObjects entries read on the way). */
interface BodyTracking {
  onChunk?: (chunk: Buffer) => void;
  /** After the last byte was relayed (or the relay failed). */
  finish(): void;
}

/**
 * Records what a tracked response body says was written. The whole (small) body is normally read before
 * the app gets the status. Past the hold's bounds the status goes out: a copy or completion is then
 * recorded at once (provisionally), and DeleteObjects entries as they are relayed.
 */
function recordHeldBody(
  op: S3Operation,
  target: RequestTarget,
  upstream: Dispatcher.ResponseData,
  held: HeldBody,
  sink: WriteSink,
  requested: DeleteRequestKeys | undefined,
): BodyTracking {
  const recorded = new Set<string>();
  const record = (events: WriteEvent[]): void => {
    for (const event of events) {
      recorded.add(event.key);
      sink.record(event);
    }
  };
  // Keys the request named that the answer did not list as deleted: all of them in quiet mode (S3 lists
  // only failures then). Failed keys are left out when known; recording one anyway would only cost a copy
  // of main's unchanged state (the copier is level-triggered).
  const recordUnlisted = (failed: Set<string>): void => {
    if (!requested) return;
    requested.end();
    const rest = requested.keys.filter((k) => !recorded.has(k) && !failed.has(k));
    record(
      deletedEvents(
        op,
        target.bucket!,
        [...new Set(rest)].map((key) => ({ key })),
      ),
    );
  };
  if (held.ended) {
    const text = Buffer.concat(held.chunks).toString('utf8');
    record(eventsFromBody(op, target, upstream.headers, text));
    if (op.tracks === 'multi-delete' && !isErrorDocument(text)) recordUnlisted(failedKeys(text));
    return { finish: () => undefined };
  }
  if (op.tracks === 'multi-delete') {
    const scanner = new DeletedEntryScanner();
    const decoder = new StringDecoder('utf8');
    const scan = (text: string): void => record(deletedEvents(op, target.bucket!, scanner.push(text)));
    for (const chunk of held.chunks) scan(decoder.write(chunk));
    return {
      onChunk: (chunk) => scan(decoder.write(chunk)),
      finish: () => {
        scan(decoder.end());
        recordUnlisted(new Set());
      },
    };
  }
  const provisional = provisionalEvent(op, target, upstream.headers);
  if (provisional) sink.record(provisional);
  return { finish: () => undefined };
}

function resourceOf(target: RequestTarget | undefined): string {
  return target?.bucket ? `/${target.bucket}${target.key ? '/' + target.key : ''}` : '/';
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
  const { config, signer, upstream, sink, logger, metrics, uploads } = deps;
  const heldBodyMaxMs = deps.heldBodyMaxMs ?? MAX_HELD_BODY_MS;
  const origin = config.main.url.origin;

  return async function handleS3Request(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const started = process.hrtime.bigint();
    const requestId = randomBytes(8).toString('hex').toUpperCase();
    const method = req.method ?? 'GET';
    let op: S3Operation = { name: 'Unknown' };
    let target: RequestTarget | undefined;
    /** The object a successful write changed: the target, or for a form upload the form's key. */
    let written: RequestTarget | undefined;
    let body: UpstreamBody | undefined;
    let spooled: SpoolFile | undefined;
    let deleteRequest: DeleteRequestKeys | undefined;
    let bytesOut = 0;
    let outcome = 'ok';
    metrics.inFlight.inc();

    // Aborted when the app goes away mid-body or its body turns out bad: upstream must never complete a
    // partial write. A write whose whole request arrived is let finish instead: main may carry it out
    // whether or not the app waits for the answer, and then it must be recorded.
    const abort = new AbortController();
    let clientGone = false;
    let keepUpstreamBody = false;
    res.on('close', () => {
      metrics.inFlight.dec();
      if (!res.writableFinished) {
        clientGone = true;
        outcome = 'client-aborted';
        const writeSent = op.tracks !== undefined && req.complete && body?.failure() === undefined;
        if (!keepUpstreamBody && !writeSent) abort.abort(new Error('client went away'));
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

    // An upload that stalls (no byte for CLIENT_IDLE_TIMEOUT_MS) is answered as S3 does, then cut: the
    // answer goes out before the upstream abort, which destroys the request and with it the socket.
    const socket = req.socket; // undici detaches it from the request when the abort destroys the body
    req.once('timeout', () => {
      if (res.headersSent) return void socket.destroy();
      outcome = 'client-timeout';
      sendError(res, s3Errors.requestTimeout(), resourceOf(target), requestId, true);
      const cut = (): void => {
        abort.abort(s3Errors.requestTimeout());
        socket.destroy();
      };
      res.once('finish', cut);
      setTimeout(cut, 1000).unref();
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
      written = target;
      checkAllowed(config, target, req);
      checkBodyFraming(method, req.headers);
      // The server leaves `Expect: 100-continue` to us: invite the body only once the request is admitted.
      if (expectsContinue(req)) res.writeContinue();

      // A single PutObject's body is the whole object: tee it into the spool on its way to main.
      const spool = op.name === 'PutObject' ? uploads : undefined;
      const bucket = target.bucket!;
      const key = target.key!;
      // A browser form upload names its key in the form, and is authenticated by the form alone.
      const formBoundaryOfPost =
        op.name === 'PostObject' ? formBoundary(header(req, 'content-type')) : undefined;
      if (formBoundaryOfPost !== undefined) {
        const form = await preparePostObjectBody(req, formBoundaryOfPost, signer, (err) => abort.abort(err));
        body = form.body;
        if (form.key !== undefined) written = { ...target, key: form.key };
      } else if (op.tracks === 'multi-delete') {
        // Quiet mode answers without the deleted keys: they are read from the request on its way.
        const keys = new DeleteRequestKeys();
        deleteRequest = keys;
        body = await prepareUpstreamBody(
          req,
          (err) => abort.abort(err),
          () => (chunk) => keys.push(chunk),
        );
        body.stream?.once('end', () => keys.end());
      } else {
        body = await prepareUpstreamBody(
          req,
          (err) => abort.abort(err),
          spool &&
            ((length) => {
              spooled = spool.begin(bucket, key, length, req.headers);
              return spooled?.tap;
            }),
        );
      }
      const path = upstreamPath(target);
      const headers = upstreamRequestHeaders(req.headersDistinct, {
        ...(body.decoder ? { decodedAwsChunked: { contentEncoding: body.contentEncoding ?? null } } : {}),
        ...(body.contentLength !== undefined ? { contentLength: body.contentLength } : {}),
        payloadHash: payloadHashFor(req.headers, body.decoder === undefined),
      });
      const signed =
        formBoundaryOfPost !== undefined
          ? formUploadHeaders(headers, signer.hostHeader)
          : signer.sign({ method, path, query: target.query, headers });

      const upstreamStarted = process.hrtime.bigint();
      const response = await upstream.request({
        origin,
        path: path + upstreamQuery(target.query),
        method: method as Dispatcher.HttpMethod,
        headers: signed,
        body: body.stream,
        signal: abort.signal,
        // undici closes the connection after every HEAD (for servers that send a body with one) unless
        // told not to: S3 never does, and a HEAD must not cost a new (TLS) connection.
        ...(method === 'HEAD' ? { reset: false } : {}),
      });
      metrics.upstreamDuration.observe(
        { operation: op.name },
        Number(process.hrtime.bigint() - upstreamStarted) / 1e9,
      );

      if (op.name === 'ListBuckets' && response.statusCode === 200 && config.allowedBuckets.length > 0) {
        bytesOut = await sendAllowedBucketList(res, response, config.allowedBuckets);
        return;
      }

      // A write main acknowledged is recorded (journaled) BEFORE the app sees the status.
      let tracking: BodyTracking | undefined;
      let held: HeldBody | undefined;
      // DeleteObjects names its keys in the answer; every other tracked write needs the written key.
      const recordable = op.tracks === 'multi-delete' || written?.key !== undefined;
      if (isTrackedSuccess(op, response.statusCode) && recordable) {
        if (BODY_TRACKED_OPERATIONS.has(op.name)) {
          // Main has done the write: finish reading its answer even if the app goes away meanwhile.
          keepUpstreamBody = true;
          held = await holdResponseBody(response.body, MAX_HELD_BODY_BYTES, heldBodyMaxMs).catch(
            (err: unknown) => {
              // The answer broke off: a copy or completion may still have happened on main.
              const provisional = provisionalEvent(op, target!, response.headers);
              if (provisional) sink.record(provisional);
              throw err;
            },
          );
          tracking = recordHeldBody(op, target, response, held, sink, deleteRequest);
        } else {
          // Before the event: the copy that the event triggers must find the spooled body.
          if (op.name === 'PutObject')
            uploads?.acknowledge(spooled, target.bucket!, target.key!, response.headers);
          for (const event of eventsFromHeaders(op, written, response.headers, requestFacts(req, body))) {
            sink.record(event);
          }
        }
      }
      if (clientGone) {
        // The app left after sending a whole write (see the 'close' handler): nobody to answer, but the
        // rest of a DeleteObjects result may still name deleted keys.
        finishWithoutApp(response.body, held, tracking);
        return;
      }
      writeResponseHead(res, response.statusCode, downstreamResponseHeaders(response.headers));
      // Counted as each chunk goes out: the response's 'close' (the access log, the metric) can come
      // before the relay's promise settles.
      const countOut = (chunk: Buffer): void => {
        bytesOut += chunk.length;
      };
      if (held) {
        for (const chunk of held.chunks) res.write(chunk);
        bytesOut = held.bytes;
        const onChunk = tracking?.onChunk;
        try {
          if (held.ended) res.end();
          else await relayBody(response.body, res, onChunk ? (c) => (countOut(c), onChunk(c)) : countOut);
        } finally {
          tracking?.finish();
        }
      } else {
        await relayBody(response.body, res, countOut);
      }
    } catch (caught) {
      const err = body?.failure() ?? caught;
      // The whole write reached main but its answer did not come back: main may have carried it out
      // (also when the app had already left: it may retry, or not).
      if (!(err instanceof S3Error) && op.tracks !== undefined && req.complete && body !== undefined) {
        deleteRequest?.end();
        for (const event of uncertainEvents(op, written ?? target!, deleteRequest?.keys)) sink.record(event);
      }
      if (clientGone) return;
      const resource = resourceOf(target);
      if (err instanceof S3Error) {
        outcome = 'rejected';
        metrics.rejected.inc({ code: err.code });
        // A client that sends its body without waiting would get a broken pipe instead of the answer: read
        // (and drop) a short rest of the body first, as S3 does, unless it waits for 100 Continue.
        if (!req.complete && !expectsContinue(req) && body === undefined) await drainBriefly(req);
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
    } finally {
      // Main did not acknowledge this body (error, refusal, app gone mid-upload): never a copy's source.
      spooled?.dropUncommitted('not_stored');
    }
  };
}
