import { s3Errors } from './errors';

/**
 * Browser form uploads (POST Object): the multipart/form-data fields before the file, parsed and rebuilt.
 * Pure. S3 takes every field before the part named `file` and ignores the ones after it, so the proxy only
 * ever rewrites that prefix; the file's bytes pass through unread.
 */

/** One form field: its part's header lines (raw, without the delimiter line) and its value. */
export interface FormField {
  name: string;
  headers: Buffer;
  value: Buffer;
}

export interface FormPrefix {
  fields: FormField[];
  /** The file part's delimiter line and headers, up to and including the blank line. */
  fileHead: Buffer;
  /** The file name the browser gave, for `${filename}` in the key. */
  filename?: string;
  /** Bytes of the body the prefix took. */
  consumed: number;
}

const CRLF = Buffer.from('\r\n');
const HEADER_END = Buffer.from('\r\n\r\n');

/** The boundary of a multipart/form-data Content-Type, or undefined for any other type. */
export function formBoundary(contentType: string | undefined): string | undefined {
  if (!contentType || !/^\s*multipart\/form-data\s*;/i.test(contentType)) return undefined;
  const match = /;\s*boundary=(?:"([^"]+)"|([^;\s]+))/i.exec(contentType);
  return match?.[1] ?? match?.[2];
}

function dispositionParam(headers: string, param: string): string | undefined {
  const line = /^content-disposition:(.*)$/im.exec(headers)?.[1];
  if (line === undefined) return undefined;
  const match = new RegExp(`;\\s*${param}="([^"]*)"|;\\s*${param}=([^;\\s]*)`, 'i').exec(line);
  return match?.[1] ?? match?.[2];
}

/**
 * Scans the body read so far. Returns the prefix once the file part's headers are in, undefined when more
 * bytes are needed; throws MalformedPOSTRequest for a body that cannot hold a file part.
 */
export function scanFormPrefix(body: Buffer, boundary: string): FormPrefix | undefined {
  const delimiter = Buffer.from(`--${boundary}`);
  // A preamble before the first delimiter is allowed and dropped.
  let at = body.indexOf(delimiter);
  if (at === -1) return undefined;
  if (at > 0 && body.indexOf(Buffer.concat([CRLF, delimiter])) !== at - 2)
    throw s3Errors.malformedPostRequest();
  const fields: FormField[] = [];
  for (;;) {
    const afterDelimiter = at + delimiter.length;
    if (body.length < afterDelimiter + 2) return undefined;
    if (body.subarray(afterDelimiter, afterDelimiter + 2).toString() === '--')
      throw s3Errors.malformedPostRequest();
    const headerEnd = body.indexOf(HEADER_END, afterDelimiter);
    if (headerEnd === -1) return undefined;
    const headers = body.subarray(afterDelimiter + 2, headerEnd);
    const text = headers.toString('latin1');
    const name = dispositionParam(text, 'name');
    if (name === undefined) throw s3Errors.malformedPostRequest();
    const valueStart = headerEnd + HEADER_END.length;
    if (name.toLowerCase() === 'file') {
      const filename = dispositionParam(text, 'filename');
      return {
        fields,
        fileHead: body.subarray(at, valueStart),
        ...(filename !== undefined ? { filename: Buffer.from(filename, 'latin1').toString('utf8') } : {}),
        consumed: valueStart,
      };
    }
    const next = body.indexOf(Buffer.concat([CRLF, delimiter]), valueStart);
    if (next === -1) return undefined;
    fields.push({ name, headers, value: body.subarray(valueStart, next) });
    at = next + CRLF.length;
  }
}

/** A field as a browser would write it. */
export function formField(name: string, value: string): FormField {
  return {
    name,
    headers: Buffer.from(`Content-Disposition: form-data; name="${name}"`),
    value: Buffer.from(value, 'utf8'),
  };
}

/** The rewritten prefix: every field, then the file part's head, with the same boundary. */
export function renderFormPrefix(fields: readonly FormField[], fileHead: Buffer, boundary: string): Buffer {
  const pieces: Buffer[] = [];
  for (const field of fields) {
    pieces.push(Buffer.from(`--${boundary}\r\n`), field.headers, HEADER_END, field.value, CRLF);
  }
  pieces.push(fileHead);
  return Buffer.concat(pieces);
}

/** The field's value as text, by case-insensitive name (S3 form field names are case-insensitive). */
export function fieldValue(fields: readonly FormField[], name: string): string | undefined {
  const field = fields.find((f) => f.name.toLowerCase() === name);
  return field?.value.toString('utf8');
}
