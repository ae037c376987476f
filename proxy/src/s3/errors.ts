import { parseErrorDocument } from './response-body';

/** An error the proxy itself answers with, in S3's XML error format. */
export class S3Error extends Error {
  constructor(
    readonly code: string,
    message: string,
    readonly statusCode: number,
  ) {
    super(message);
    this.name = 'S3Error';
  }
}

export const s3Errors = {
  accessDenied: (msg = 'Access Denied') => new S3Error('AccessDenied', msg, 403),
  badDigest: (msg = 'The checksum you specified did not match what was received.') =>
    new S3Error('BadDigest', msg, 400),
  incompleteBody: (
    msg = 'You did not provide the number of bytes specified by the Content-Length HTTP header.',
  ) => new S3Error('IncompleteBody', msg, 400),
  malformedTrailer: (msg = 'An error occurred while parsing the HTTP request trailer.') =>
    new S3Error('MalformedTrailerError', msg, 400),
  missingContentLength: (msg = 'You must provide the Content-Length HTTP header.') =>
    new S3Error('MissingContentLength', msg, 411),
  invalidArgument: (msg: string) => new S3Error('InvalidArgument', msg, 400),
  invalidRequest: (msg: string) => new S3Error('InvalidRequest', msg, 400),
  invalidUri: (msg = 'Could not parse the specified URI.') => new S3Error('InvalidURI', msg, 400),
  invalidBucketName: (msg = 'The specified bucket is not valid.') =>
    new S3Error('InvalidBucketName', msg, 400),
  methodNotAllowed: (msg = 'The specified method is not allowed against this resource.') =>
    new S3Error('MethodNotAllowed', msg, 405),
  notImplemented: (msg: string) => new S3Error('NotImplemented', msg, 501),
  requestTimeout: (
    msg = 'Your socket connection to the server was not read from or written to within the timeout period.',
  ) => new S3Error('RequestTimeout', msg, 400),
  serviceUnavailable: (msg = 'Please reduce your request rate.') =>
    new S3Error('ServiceUnavailable', msg, 503),
  internalError: (msg = 'We encountered an internal error. Please try again.') =>
    new S3Error('InternalError', msg, 500),
  badGateway: (msg = 'The proxy could not reach the main S3 endpoint.') =>
    new S3Error('InternalError', msg, 502),
  malformedPostRequest: (msg = 'The body of your POST request is not well-formed multipart/form-data.') =>
    new S3Error('MalformedPOSTRequest', msg, 400),
  maxPostPreDataLengthExceeded: (
    msg = 'Your POST request fields preceding the upload file were too large.',
  ) => new S3Error('MaxPostPreDataLengthExceededError', msg, 400),
  invalidPolicyDocument: (msg = 'Invalid Policy: Invalid JSON.') =>
    new S3Error('InvalidPolicyDocument', msg, 400),
  entityTooLarge: (msg = 'Your proposed upload exceeds the maximum allowed size.') =>
    new S3Error('EntityTooLarge', msg, 400),
};

const xmlEscapes: Record<string, string> = {
  '&': '&amp;',
  '<': '&lt;',
  '>': '&gt;',
  '"': '&quot;',
  "'": '&apos;',
};

export function escapeXml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => xmlEscapes[c]!);
}

/** Renders the body S3 sends for an error; `resource` is the request path. */
export function renderS3ErrorXml(error: S3Error, resource: string, requestId: string): string {
  return (
    '<?xml version="1.0" encoding="UTF-8"?>\n' +
    `<Error><Code>${escapeXml(error.code)}</Code><Message>${escapeXml(error.message)}</Message>` +
    `<Resource>${escapeXml(resource)}</Resource><RequestId>${escapeXml(requestId)}</RequestId></Error>`
  );
}

/**
 * An error answer of main or the mirror to one of the proxy's own requests (mirror copies). Named by its S3
 * code, as the AWS SDK names its errors, so logs, `last_error` and the parked-rows metric read the same.
 */
export class S3ResponseError extends Error {
  constructor(
    readonly statusCode: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
    this.name = code;
  }
}

/** Codes for answers without an error document (HEAD never has a body). */
const CODE_OF_STATUS: Record<number, string> = {
  301: 'PermanentRedirect',
  307: 'TemporaryRedirect',
  400: 'BadRequest',
  403: 'Forbidden',
  404: 'NotFound',
  405: 'MethodNotAllowed',
  409: 'Conflict',
  412: 'PreconditionFailed',
  500: 'InternalError',
  501: 'NotImplemented',
  503: 'ServiceUnavailable',
};

/** The error an S3 answer with `statusCode` and (the start of) `body` means. */
export function s3ResponseError(statusCode: number, body: string): S3ResponseError {
  const doc = parseErrorDocument(body);
  const code = doc.code || CODE_OF_STATUS[statusCode] || `Http${statusCode}`;
  const message =
    doc.message || `S3 answered HTTP ${statusCode}${doc.code ? '' : ' without an error document'}`;
  return new S3ResponseError(statusCode, code, message.slice(0, 1000));
}
