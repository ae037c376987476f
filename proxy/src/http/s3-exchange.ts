/**
 * One app request through the proxy, as an explicit lifecycle: admit → read the body → forward (re-signed)
 * → record the write main acknowledged → relay main's answer; or fail with an S3-style error. The access
 * log line and the request metrics are written once, when the app's response closes.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Dispatcher } from 'undici';

import type { ProxyConfig } from '../config';
import type { WriteSink } from '../events';
import type { Logger } from '../log';
import type { ProxyMetrics } from '../metrics';
import type { RequestSigner } from '../sigv4/signer';
import { S3Error, s3Errors } from '../s3/errors';
import { downstreamResponseHeaders, payloadHashFor, upstreamRequestHeaders } from '../s3/forward-headers';
import { classifyOperation, type S3Operation } from '../s3/operation';
import { formBoundary } from '../s3/post-form';
import { parseRequestTarget, upstreamPath, upstreamQuery, type RequestTarget } from '../s3/request-target';
import type { SpoolEntry, UploadSpoolPort } from '../spool';
import { DeleteRequestKeys } from '../tracking/delete-request';
import { REPLICATION_STATUS_HEADER } from '../tracking/replication-status';
import { holdResponseBody, type HeldBody } from '../tracking/response-hold';
import {
  BODY_TRACKED_OPERATIONS,
  eventsFromHeaders,
  isTrackedSuccess,
  provisionalEvent,
  uncertainEvents,
} from '../tracking/write-events';
import type { AppActivity } from '../mirror/app-priority';
import { mainFailed, mayFailOver } from '../mirror/failover-rules';
import { checkAllowed, checkMethod } from './admission';
import { serveFromMirror, type FailoverDeps } from './failover-read';
import { preparePostObjectBody } from './post-object-body';
import { newRequestId } from './request-id';
import { relayBody } from './relay-body';
import { UpstreamCancel } from './upstream-cancel';
import { checkBodyFraming, prepareUpstreamBody, type UpstreamBody } from './request-body';
import {
  discard,
  drainBriefly,
  expectsContinue,
  header,
  MAX_HELD_BODY_BYTES,
  resourceOf,
  sendAllowedBucketList,
  sendError,
  writeResponseHead,
} from './response-writing';
import { finishWithoutApp, recordHeldBody, requestFacts, type BodyTracking } from './write-recording';

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
  /** GET/HEAD that main fails answered from the mirror (absent: FAILOVER_READS=off). */
  failover?: FailoverDeps;
  /** The replication status of a key this sidecar wrote, for x-amz-replication-status (a map lookup). */
  replicationStatus?: (bucket: string, key: string) => string | undefined;
  /** Told as each request starts and its response closes (catch-up copies give way meanwhile). */
  activity?: AppActivity;
}

/** The handler's edges with its settings resolved once, not per request. */
export type ExchangeDeps = S3HandlerDeps & {
  heldBodyMaxMs: number;
  /** Main's origin (a URL's `origin` getter builds a new string on every read). */
  mainOrigin: string;
};

const NOTHING_RECORDED: { held?: HeldBody; tracking?: BodyTracking } = Object.freeze({});

/** A form upload's headers: no header signature (the form carries main's), no payload hash. */
function formUploadHeaders(headers: Record<string, string>, host: string): Record<string, string> {
  const sent: Record<string, string> = { ...headers, host };
  delete sent['x-amz-content-sha256'];
  return sent;
}

export class S3Exchange {
  private readonly started = process.hrtime.bigint();
  private readonly requestId = newRequestId();
  private readonly method: string;
  private op: S3Operation = { name: 'Unknown' };
  private target: RequestTarget | undefined;
  /** The object a successful write changed: the target, or for a form upload the form's key. */
  private written: RequestTarget | undefined;
  private body: UpstreamBody | undefined;
  /** Set when the request is a browser form upload (PostObject with multipart/form-data). */
  private formBoundary: string | undefined;
  private spooled: SpoolEntry | undefined;
  private deleteRequest: DeleteRequestKeys | undefined;
  private bytesOut = 0;
  private outcome = 'ok';
  // Aborted when the app goes away mid-body or its body turns out bad: upstream must never complete a
  // partial write. A write whose whole request arrived is let finish instead: main may carry it out
  // whether or not the app waits for the answer, and then it must be recorded.
  private readonly abort = new UpstreamCancel();
  private clientGone = false;
  private keepUpstreamBody = false;
  /** Removed from the request when the response closes (see closed()). */
  private readonly onTimeout: () => void;

  constructor(
    private readonly deps: ExchangeDeps,
    private readonly req: IncomingMessage,
    private readonly res: ServerResponse,
  ) {
    this.method = req.method ?? 'GET';
    deps.metrics.inFlight.inc();
    deps.activity?.requestStarted();
    res.on('close', () => this.closed());
    // An upload that stalls (no byte for CLIENT_IDLE_TIMEOUT_MS) is answered as S3 does, then cut: the
    // answer goes out before the upstream abort, which destroys the request and with it the socket.
    const socket = req.socket; // undici detaches it from the request when the abort destroys the body
    const onTimeout = (): void => {
      if (res.headersSent) return void socket.destroy();
      this.outcome = 'client-timeout';
      sendError(res, s3Errors.requestTimeout(), resourceOf(this.target), this.requestId, true);
      const cut = (): void => {
        this.abort.abort(s3Errors.requestTimeout());
        socket.destroy();
      };
      res.once('finish', cut);
      setTimeout(cut, 1000).unref();
    };
    req.once('timeout', onTimeout);
    this.onTimeout = onTimeout;
  }

  async run(): Promise<void> {
    try {
      const target = this.admit();
      await this.readBody(target);
      const response = await this.forwardOrFailOver(target);
      if (!response) return; // answered from the mirror
      if (
        this.op.name === 'ListBuckets' &&
        response.statusCode === 200 &&
        this.deps.config.allowedBuckets.length > 0
      ) {
        this.bytesOut = await sendAllowedBucketList(this.res, response, this.deps.config.allowedBuckets);
        return;
      }
      // Most requests (reads) record nothing: no call to await for them.
      const { held, tracking } =
        this.op.tracks === undefined ? NOTHING_RECORDED : await this.record(target, response);
      if (this.clientGone) {
        // The app left after sending a whole write (see closed()): nobody to answer, but the rest of a
        // DeleteObjects result may still name deleted keys.
        finishWithoutApp(response.body, held, tracking);
        return;
      }
      await this.relay(response, held, tracking);
    } catch (caught) {
      await this.fail(caught);
    } finally {
      // Main did not acknowledge this body (error, refusal, app gone mid-upload): never a copy's source.
      this.spooled?.dropUncommitted('not_stored');
    }
  }

  /** Method, target, operation, allow-list, body framing; then invites the body (100 Continue). */
  private admit(): RequestTarget {
    const { req, deps } = this;
    checkMethod(this.method);
    const target = parseRequestTarget({
      rawUrl: req.url ?? '/',
      host: req.headers.host,
      virtualHostBases: deps.config.virtualHostBases,
    });
    this.target = target;
    this.op = classifyOperation(this.method, target, req.headers['x-amz-copy-source'] !== undefined);
    this.written = target;
    checkAllowed(deps.config, target, req.headers);
    checkBodyFraming(this.method, req.headers);
    // The server leaves `Expect: 100-continue` to us: invite the body only once the request is admitted.
    if (expectsContinue(req)) this.res.writeContinue();
    return target;
  }

  /** The body as it goes upstream: decoded aws-chunked, a form re-read, DeleteObjects keys or the spool tapped. */
  private async readBody(target: RequestTarget): Promise<void> {
    const { req, op } = this;
    const onBad = (err: Error): void => this.abort.abort(err);
    this.formBoundary = op.name === 'PostObject' ? formBoundary(header(req, 'content-type')) : undefined;
    if (this.formBoundary !== undefined) {
      // A browser form upload names its key in the form, and is authenticated by the form alone.
      const form = await preparePostObjectBody(req, this.formBoundary, this.deps.signer, onBad);
      this.body = form.body;
      if (form.key !== undefined) this.written = { ...target, key: form.key };
    } else if (op.tracks === 'multi-delete') {
      // Quiet mode answers without the deleted keys: they are read from the request on its way.
      const keys = new DeleteRequestKeys();
      this.deleteRequest = keys;
      this.body = await prepareUpstreamBody(req, onBad, () => (chunk) => keys.push(chunk));
      this.body.stream?.once('end', () => keys.end());
    } else {
      // A single PutObject's body is the whole object: tee it into the spool on its way to main.
      const spool = op.name === 'PutObject' ? this.deps.uploads : undefined;
      this.body = await prepareUpstreamBody(
        req,
        onBad,
        spool &&
          ((length) => {
            this.spooled = spool.begin(target.bucket!, target.key!, length, req.headers);
            return this.spooled?.tap;
          }),
      );
    }
  }

  /** Re-signed for main and sent; resolves with main's response head. */
  private async forward(target: RequestTarget): Promise<Dispatcher.ResponseData> {
    const { deps, method, req } = this;
    const body = this.body!;
    const path = upstreamPath(target);
    const headers = upstreamRequestHeaders(req.rawHeaders, {
      ...(body.decoder ? { decodedAwsChunked: { contentEncoding: body.contentEncoding ?? null } } : {}),
      ...(body.contentLength !== undefined ? { contentLength: body.contentLength } : {}),
      payloadHash: payloadHashFor(req.headers, body.decoder === undefined),
    });
    const signed =
      this.formBoundary !== undefined
        ? formUploadHeaders(headers, deps.signer.hostHeader)
        : deps.signer.sign({ method, path, query: target.query, headers });
    const upstreamStarted = process.hrtime.bigint();
    const response = await deps.upstream.request({
      origin: deps.mainOrigin,
      path: path + upstreamQuery(target.query),
      method: method as Dispatcher.HttpMethod,
      headers: signed,
      body: body.stream,
      signal: this.abort,
      // undici closes the connection after every HEAD (for servers that send a body with one) unless
      // told not to: S3 never does, and a HEAD must not cost a new (TLS) connection.
      ...(method === 'HEAD' ? { reset: false } : {}),
    });
    deps.metrics.upstreamDuration.observe(
      { operation: this.op.name },
      Number(process.hrtime.bigint() - upstreamStarted) / 1e9,
    );
    return response;
  }

  /**
   * Main's answer; or, for a GET/HEAD main failed (no answer, or a 5xx) that the mirror could answer,
   * undefined once the mirror's answer went out. Nothing was sent to the app before this decision.
   */
  private async forwardOrFailOver(target: RequestTarget): Promise<Dispatcher.ResponseData | undefined> {
    const failover = this.deps.failover;
    if (!failover || !mayFailOver(this.op, target, this.req.headers)) return this.forward(target);
    let response: Dispatcher.ResponseData;
    try {
      response = await this.forward(target);
    } catch (err) {
      if (err instanceof S3Error || this.clientGone || this.abort.aborted) throw err;
      if (await this.failOver(failover, target)) return undefined;
      throw err;
    }
    if (!mainFailed(response.statusCode) || !(await this.failOver(failover, target))) return response;
    discard(response.body);
    return undefined;
  }

  /** True when the mirror answered the app. */
  private async failOver(failover: FailoverDeps, target: RequestTarget): Promise<boolean> {
    const { deps } = this;
    const result = await serveFromMirror(
      failover,
      {
        method: this.method as 'GET' | 'HEAD',
        bucket: target.bucket!,
        key: target.key!,
        query: target.query,
        headers: this.req.headers,
        signal: this.abort.toAbortSignal(),
      },
      this.res,
      {
        decided: (r) => {
          deps.metrics.failoverReads.inc({ result: r });
          if (r === 'served') this.outcome = 'served-from-mirror';
        },
        countOut: (chunk) => {
          this.bytesOut += chunk.length;
        },
      },
    );
    return result === 'served';
  }

  /** A write main acknowledged is recorded (journaled) BEFORE the app sees the status. */
  private async record(
    target: RequestTarget,
    response: Dispatcher.ResponseData,
  ): Promise<{ held?: HeldBody; tracking?: BodyTracking }> {
    const { op, deps } = this;
    // DeleteObjects names its keys in the answer; every other tracked write needs the written key.
    const recordable = op.tracks === 'multi-delete' || this.written?.key !== undefined;
    if (!isTrackedSuccess(op, response.statusCode) || !recordable) return {};
    if (BODY_TRACKED_OPERATIONS.has(op.name)) {
      // Main has done the write: finish reading its answer even if the app goes away meanwhile.
      this.keepUpstreamBody = true;
      const held = await holdResponseBody(response.body, MAX_HELD_BODY_BYTES, deps.heldBodyMaxMs).catch(
        (err: unknown) => {
          // The answer broke off: a copy or completion may still have happened on main.
          const provisional = provisionalEvent(op, target, response.headers);
          if (provisional) deps.sink.record(provisional);
          throw err;
        },
      );
      return { held, tracking: recordHeldBody(op, target, response, held, deps.sink, this.deleteRequest) };
    }
    // Before the event: the copy that the event triggers must find the spooled body.
    if (op.name === 'PutObject')
      deps.uploads?.acknowledge(this.spooled, target.bucket!, target.key!, response.headers);
    for (const event of eventsFromHeaders(
      op,
      this.written ?? target,
      response.headers,
      requestFacts(this.req, this.body!),
    )) {
      deps.sink.record(event);
    }
    return {};
  }

  /** Main's status, headers and body to the app, streamed; a held body first, then the rest. */
  private async relay(
    response: Dispatcher.ResponseData,
    held: HeldBody | undefined,
    tracking: BodyTracking | undefined,
  ): Promise<void> {
    const { res } = this;
    writeResponseHead(res, response.statusCode, this.withReplicationStatus(response));
    // Counted as each chunk goes out: the response's 'close' (the access log, the metric) can come before
    // the relay's promise settles.
    const countOut = (chunk: Buffer): void => {
      this.bytesOut += chunk.length;
    };
    if (!held) {
      await relayBody(response.body, res, countOut);
      return;
    }
    for (const chunk of held.chunks) res.write(chunk);
    this.bytesOut = held.bytes;
    const onChunk = tracking?.onChunk;
    try {
      if (held.ended) res.end();
      else await relayBody(response.body, res, onChunk ? (c) => (countOut(c), onChunk(c)) : countOut);
    } finally {
      tracking?.finish();
    }
  }

  /**
   * Main's headers, and on a GET or HEAD of the current version of a key this sidecar wrote, its replication
   * status as AWS reports it (unless main, replicating itself, already sent one).
   */
  private withReplicationStatus(response: Dispatcher.ResponseData): Record<string, string | string[]> {
    const headers = downstreamResponseHeaders(response.headers);
    const { op, target } = this;
    const lookup = this.deps.replicationStatus;
    if (
      !lookup ||
      (op.name !== 'GetObject' && op.name !== 'HeadObject') ||
      (response.statusCode !== 200 && response.statusCode !== 206) ||
      headers[REPLICATION_STATUS_HEADER] !== undefined ||
      target?.key === undefined ||
      target.query.some(([name]) => name === 'versionId')
    ) {
      return headers;
    }
    const status = lookup(target.bucket!, target.key);
    if (status !== undefined) headers[REPLICATION_STATUS_HEADER] = status;
    return headers;
  }

  private async fail(caught: unknown): Promise<void> {
    const { req, res, op, deps, requestId } = this;
    const err = this.body?.failure() ?? caught;
    // The whole write reached main but its answer did not come back: main may have carried it out (also
    // when the app had already left: it may retry, or not).
    if (!(err instanceof S3Error) && op.tracks !== undefined && req.complete && this.body !== undefined) {
      this.deleteRequest?.end();
      for (const event of uncertainEvents(op, this.written ?? this.target!, this.deleteRequest?.keys)) {
        deps.sink.record(event);
      }
    }
    if (this.clientGone) return;
    const resource = resourceOf(this.target);
    if (err instanceof S3Error) {
      this.outcome = 'rejected';
      deps.metrics.rejected.inc({ code: err.code });
      // A client that sends its body without waiting would get a broken pipe instead of the answer: read
      // (and drop) a short rest of the body first, as S3 does, unless it waits for 100 Continue.
      if (!req.complete && !expectsContinue(req) && this.body === undefined) await drainBriefly(req);
      sendError(res, err, resource, requestId, !req.complete);
      return;
    }
    this.outcome = 'upstream-error';
    deps.logger.warn('upstream request failed', {
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

  /** The app's response closed (answered, or the app went away): metrics and the access log line. */
  private closed(): void {
    const { res, req, deps, op } = this;
    deps.metrics.inFlight.dec();
    deps.activity?.requestEnded();
    // The server's parser keeps a keep-alive connection's last request until the next one arrives: left on
    // it, the listener would keep the whole exchange (response, upstream body, handlers) alive that long.
    req.off('timeout', this.onTimeout);
    let cancelUpstream = false;
    if (!res.writableFinished) {
      this.clientGone = true;
      this.outcome = 'client-aborted';
      const writeSent = op.tracks !== undefined && req.complete && this.body?.failure() === undefined;
      cancelUpstream = !this.keepUpstreamBody && !writeSent;
    }
    const status = res.writableFinished ? res.statusCode : 499;
    deps.metrics.requests.inc({ operation: op.name, status: String(status) });
    const bytesIn = this.body?.bytesForwarded() ?? 0;
    deps.metrics.requestBytes.inc(bytesIn);
    deps.metrics.responseBytes.inc(this.bytesOut);
    deps.logger.info('request', {
      requestId: this.requestId,
      operation: op.name,
      method: this.method,
      bucket: this.target?.bucket,
      key: this.target?.key,
      status,
      bytesIn,
      bytesOut: this.bytesOut,
      durationMs: Number(process.hrtime.bigint() - this.started) / 1e6,
      outcome: this.outcome,
    });
    // Last: the cancel runs undici's listener synchronously, and nothing it might throw may cost the log line
    // and metrics above.
    if (cancelUpstream) this.abort.abort(new Error('client went away'));
  }
}
