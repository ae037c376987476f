import { S3Error, s3Errors } from '../s3/errors';
import {
  checksumAlgorithmFromHeader,
  checksumHeaderName,
  createChecksumHasher,
  isWellFormedChecksum,
  type ChecksumAlgorithm,
  type ChecksumHasher,
} from './checksums';

export interface AwsChunkedOptions {
  /** `x-amz-decoded-content-length`: the exact number of payload bytes. */
  decodedLength: number;
  /** Chunk headers carry `;chunk-signature=<hex>` (signed variants). Signatures are parsed and dropped. */
  signedChunks: boolean;
  /** A trailer section may follow the terminator (`...-TRAILER` variants). */
  trailer: boolean;
  /** Lower-cased names declared in `x-amz-trailer`; each must arrive in the trailer and is verified. */
  trailerNames?: readonly string[];
  /** Checksums sent as plain request headers; verified against the payload. */
  headerChecksums?: Partial<Record<ChecksumAlgorithm, string>>;
  /** Longest chunk-header or trailer line, CRLF included. Default 4096. */
  maxLineLength?: number;
  /** Largest trailer section in bytes. Default 16384. */
  maxTrailerBytes?: number;
}

const enum State {
  Header,
  Data,
  DataCR,
  DataLF,
  Trailer,
  Done,
}

const CR = 0x0d;
const LF = 0x0a;
// HMAC-SHA256 signatures are 64 hex digits; SigV4a (ECDSA P-256) ones are hex DER, padded with
// '*' to a fixed width. Signatures cannot be verified here, so any such shape is accepted and dropped.
const signaturePattern = '(?=[0-9a-fA-F*]{64,256}$)[0-9a-fA-F]{64,}\\**';
const signedHeader = new RegExp(`^([0-9a-fA-F]{1,16});chunk-signature=${signaturePattern}$`);
const unsignedHeader = /^([0-9a-fA-F]{1,16})$/;
const signatureValue = new RegExp(`^${signaturePattern}$`);

/**
 * The pure incremental aws-chunked state machine. `feed()` returns payload slices that are safe
 * to send on; the most recent payload slice is always held back, and only `finish()` (after the
 * terminator, the length and every checksum have been validated) returns it. So when decoding
 * fails, the caller has never seen the last payload byte, and a downstream request with
 * `Content-Length = decodedLength` can never complete.
 *
 * Every error is an S3Error; after one, the parser stays failed. Input buffers must not be
 * mutated by the caller after being fed (output slices share their memory).
 */
export class AwsChunkedParser {
  private state = State.Header;
  private readonly lineBuf: Buffer;
  private lineLen = 0;
  private remaining = 0;
  private received = 0;
  private held: Buffer | null = null;
  private sawTerminator = false;
  private trailerBytes = 0;
  private trailerSignature = false;
  private readonly trailerValues = new Map<string, string>();
  private readonly declared: ReadonlySet<string>;
  private readonly hashers = new Map<ChecksumAlgorithm, ChecksumHasher>();
  private readonly verified: Partial<Record<ChecksumAlgorithm, string>> = {};
  private failure: S3Error | null = null;
  private finished = false;
  private readonly maxTrailerBytes: number;

  constructor(private readonly options: AwsChunkedOptions) {
    const { decodedLength } = options;
    if (!Number.isSafeInteger(decodedLength) || decodedLength < 0) {
      throw s3Errors.invalidArgument(`Invalid x-amz-decoded-content-length: ${decodedLength}`);
    }
    this.lineBuf = Buffer.alloc(options.maxLineLength ?? 4096);
    this.maxTrailerBytes = options.maxTrailerBytes ?? 16384;
    const declared = new Set<string>();
    for (const raw of options.trailerNames ?? []) {
      const name = raw.trim().toLowerCase();
      const alg = checksumAlgorithmFromHeader(name);
      if (!alg) throw s3Errors.invalidArgument(`Unsupported x-amz-trailer value: ${name}`);
      if (!options.trailer) {
        throw s3Errors.invalidArgument('x-amz-trailer is only allowed with a -TRAILER payload');
      }
      declared.add(name);
      this.hasherFor(alg);
    }
    this.declared = declared;
    for (const [alg, value] of Object.entries(options.headerChecksums ?? {})) {
      const a = alg as ChecksumAlgorithm;
      if (value === undefined) continue;
      if (!isWellFormedChecksum(a, value)) {
        throw s3Errors.invalidRequest(`Value for ${checksumHeaderName(a)} header is invalid.`);
      }
      this.hasherFor(a);
    }
  }

  /** Payload bytes accepted so far (including the held-back slice). */
  get receivedBytes(): number {
    return this.received;
  }

  /** True once the final CRLF after the terminator/trailers has been read. */
  get complete(): boolean {
    return this.state === State.Done;
  }

  /** Verified checksums (base64), available after a successful `finish()`. */
  verifiedChecksums(): Partial<Record<ChecksumAlgorithm, string>> {
    return this.finished ? { ...this.verified } : {};
  }

  feed(input: Buffer): Buffer[] {
    if (this.failure) throw this.failure;
    if (this.finished) throw this.fail(s3Errors.invalidRequest('Data after the end of the body'));
    const out: Buffer[] = [];
    try {
      this.run(input, out);
    } catch (err) {
      throw this.fail(err);
    }
    return out;
  }

  /** Call at end of input. Returns the held-back payload slice once everything validated. */
  finish(): Buffer[] {
    if (this.failure) throw this.failure;
    if (this.finished) return [];
    try {
      if (this.state !== State.Done) {
        // Lenient: the last CRLF after the terminator or trailers may be missing, but only on a
        // line boundary (no partial line pending).
        if (this.state === State.Trailer && this.sawTerminator && this.lineLen === 0) {
          this.validateEnd();
        } else {
          throw s3Errors.incompleteBody();
        }
      }
    } catch (err) {
      throw this.fail(err);
    }
    this.finished = true;
    const last = this.held;
    this.held = null;
    return last ? [last] : [];
  }

  private fail(err: unknown): S3Error {
    this.failure =
      err instanceof S3Error
        ? err
        : new S3Error('InternalError', `aws-chunked decoder failure: ${String(err)}`, 500);
    this.held = null;
    return this.failure;
  }

  private hasherFor(alg: ChecksumAlgorithm): ChecksumHasher {
    let h = this.hashers.get(alg);
    if (!h) {
      h = createChecksumHasher(alg);
      this.hashers.set(alg, h);
    }
    return h;
  }

  private run(input: Buffer, out: Buffer[]): void {
    let i = 0;
    const len = input.length;
    while (i < len) {
      switch (this.state) {
        case State.Header:
        case State.Trailer: {
          const nl = input.indexOf(LF, i);
          const end = nl === -1 ? len : nl;
          const n = end - i;
          if (this.lineLen + n + 1 > this.lineBuf.length) {
            throw this.state === State.Header
              ? s3Errors.invalidRequest('aws-chunked chunk header line is too long')
              : s3Errors.malformedTrailer('aws-chunked trailer line is too long');
          }
          input.copy(this.lineBuf, this.lineLen, i, end);
          this.lineLen += n;
          if (this.state === State.Trailer) {
            this.trailerBytes += n + (nl === -1 ? 0 : 1);
            if (this.trailerBytes > this.maxTrailerBytes) {
              throw s3Errors.malformedTrailer('aws-chunked trailer section is too large');
            }
          }
          if (nl === -1) {
            i = len;
            break;
          }
          i = nl + 1;
          if (this.lineLen === 0 || this.lineBuf[this.lineLen - 1] !== CR) {
            throw this.state === State.Header
              ? s3Errors.invalidRequest('aws-chunked chunk header is not terminated by CRLF')
              : s3Errors.malformedTrailer('aws-chunked trailer line is not terminated by CRLF');
          }
          const line = this.lineBuf.toString('latin1', 0, this.lineLen - 1);
          this.lineLen = 0;
          if (this.state === State.Header) this.onChunkHeader(line);
          else this.onTrailerLine(line);
          break;
        }
        case State.Data: {
          const n = Math.min(this.remaining, len - i);
          const slice = input.subarray(i, i + n);
          i += n;
          this.remaining -= n;
          this.received += n;
          for (const h of this.hashers.values()) h.update(slice);
          if (this.held) out.push(this.held);
          this.held = slice;
          if (this.remaining === 0) this.state = State.DataCR;
          break;
        }
        case State.DataCR:
          if (input[i] !== CR) throw s3Errors.invalidRequest('aws-chunked chunk data not followed by CRLF');
          i++;
          this.state = State.DataLF;
          break;
        case State.DataLF:
          if (input[i] !== LF) throw s3Errors.invalidRequest('aws-chunked chunk data not followed by CRLF');
          i++;
          this.state = State.Header;
          break;
        case State.Done:
          throw s3Errors.invalidRequest('Data after the end of the aws-chunked body');
      }
    }
  }

  private onChunkHeader(line: string): void {
    const m = (this.options.signedChunks ? signedHeader : unsignedHeader).exec(line);
    if (!m) {
      throw s3Errors.invalidRequest(
        this.options.signedChunks
          ? 'Malformed aws-chunked chunk header: expected <hex-size>;chunk-signature=<signature>'
          : 'Malformed aws-chunked chunk header: expected <hex-size>',
      );
    }
    const size = parseInt(m[1]!, 16);
    if (!Number.isSafeInteger(size)) throw s3Errors.invalidRequest('aws-chunked chunk size too large');
    if (size === 0) {
      if (this.received !== this.options.decodedLength) throw s3Errors.incompleteBody();
      this.sawTerminator = true;
      this.state = State.Trailer;
      return;
    }
    if (this.received + size > this.options.decodedLength) {
      throw s3Errors.invalidRequest('The aws-chunked body is longer than x-amz-decoded-content-length');
    }
    this.remaining = size;
    this.state = State.Data;
  }

  private onTrailerLine(line: string): void {
    if (line === '') {
      this.validateEnd();
      this.state = State.Done;
      return;
    }
    if (!this.options.trailer) {
      throw s3Errors.invalidRequest('Unexpected data after the aws-chunked terminator');
    }
    const colon = line.indexOf(':');
    if (colon <= 0) throw s3Errors.malformedTrailer();
    const name = line.slice(0, colon).trim().toLowerCase();
    const value = line.slice(colon + 1).trim();
    if (this.trailerSignature) {
      throw s3Errors.malformedTrailer('Trailer after x-amz-trailer-signature');
    }
    if (name === 'x-amz-trailer-signature') {
      if (!this.options.signedChunks || !signatureValue.test(value)) throw s3Errors.malformedTrailer();
      this.trailerSignature = true;
      return;
    }
    if (!this.declared.has(name)) {
      throw s3Errors.invalidRequest(`Trailer ${name} was not declared in x-amz-trailer`);
    }
    if (this.trailerValues.has(name)) throw s3Errors.malformedTrailer(`Duplicate trailer ${name}`);
    this.trailerValues.set(name, value);
  }

  private validateEnd(): void {
    if (!this.sawTerminator) throw s3Errors.incompleteBody();
    if (this.options.trailer && this.options.signedChunks && !this.trailerSignature) {
      throw s3Errors.malformedTrailer('Missing x-amz-trailer-signature');
    }
    const expected = new Map<ChecksumAlgorithm, string[]>();
    for (const name of this.declared) {
      const value = this.trailerValues.get(name);
      const alg = checksumAlgorithmFromHeader(name)!;
      if (value === undefined) throw s3Errors.malformedTrailer(`Missing declared trailer ${name}`);
      if (!isWellFormedChecksum(alg, value)) {
        throw s3Errors.invalidRequest(`Value for ${name} trailing header is invalid.`);
      }
      expected.set(alg, [...(expected.get(alg) ?? []), value]);
    }
    for (const [alg, value] of Object.entries(this.options.headerChecksums ?? {})) {
      if (value === undefined) continue;
      const a = alg as ChecksumAlgorithm;
      expected.set(a, [...(expected.get(a) ?? []), value]);
    }
    for (const [alg, values] of expected) {
      const actual = this.hashers.get(alg)!.digest();
      for (const v of values) {
        if (v !== actual) {
          throw s3Errors.badDigest(`The ${alg} you specified did not match the calculated checksum.`);
        }
      }
      this.verified[alg] = actual;
    }
  }
}
