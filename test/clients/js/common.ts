/**
 * Shared by the JS drivers of the client matrix; the TypeScript twin of `test/clients/py/common.py` (read its
 * docstring for the contract). The constants must stay equal to the Python ones: `test/clients/matrix.test.ts`
 * checks that.
 */
import crypto from 'node:crypto';
import { Readable } from 'node:stream';
import { parseArgs } from 'node:util';

export const SPECIAL_KEYS = [
  'with space.txt',
  'ünïcödé-日本.txt',
  'plus+sign.txt',
  'percent%41.txt',
  'hash#tag.txt',
];
export const DOT_SEGMENT_KEYS = ['x/./y', 'x/../y', '..'];
export const NON_ASCII_DISPOSITION = 'attachment; filename="résumé-日本.pdf"';
export const LIST_KEY_COUNT = 1100;

export function smallBody(tag = 'small'): Buffer {
  return Buffer.from(`hello from the client matrix: ${tag}\n`.repeat(20));
}

export function sha256(data: Buffer | Uint8Array): string {
  return crypto.createHash('sha256').update(data).digest('hex');
}

export interface DriverArgs {
  endpoint: string;
  accessKey: string;
  secretKey: string;
  region: string;
  bucket: string;
  listBucket: string;
  workdir: string;
  /** Driver-specific flavour (e.g. the SDK's checksum settings); undefined when not given. */
  variant: string | undefined;
}

export function parseDriverArgs(argv: string[] = process.argv.slice(2)): DriverArgs {
  const { values } = parseArgs({
    args: argv,
    options: {
      endpoint: { type: 'string' },
      'access-key': { type: 'string' },
      'secret-key': { type: 'string' },
      region: { type: 'string', default: 'us-east-1' },
      bucket: { type: 'string' },
      'list-bucket': { type: 'string' },
      workdir: { type: 'string' },
      variant: { type: 'string' },
    },
  });
  const need = (name: keyof typeof values): string => {
    const v = values[name];
    if (typeof v !== 'string') throw new Error(`--${name} is required`);
    return v;
  };
  return {
    endpoint: need('endpoint'),
    accessKey: need('access-key'),
    secretKey: need('secret-key'),
    region: need('region'),
    bucket: need('bucket'),
    listBucket: need('list-bucket'),
    workdir: need('workdir'),
    variant: values.variant,
  };
}

/** A JSON value as drivers print it. */
export type Json = null | boolean | number | string | Json[] | { [key: string]: Json };
export type Outcome = { [key: string]: Json };

/** Runs named operations in order; an operation that throws is recorded, never fatal to the driver. */
export class Recorder {
  readonly results: { op: string; outcome: Outcome }[] = [];

  constructor(
    readonly client: string,
    /** Maps an error to an outcome such as `{status: 404, code: 'NoSuchKey'}`, or undefined if unknown. */
    private readonly errorOutcome: (err: unknown) => Outcome | undefined,
  ) {}

  async op(name: string, fn: () => Promise<Outcome>): Promise<Outcome> {
    process.stderr.write(`[${this.client}] ${name}\n`);
    let outcome: Outcome;
    try {
      outcome = await fn();
    } catch (err) {
      outcome = this.errorOutcome(err) ?? exceptionOutcome(err);
    }
    this.results.push({ op: name, outcome });
    return outcome;
  }

  emit(): void {
    process.stdout.write(`${JSON.stringify({ client: this.client, results: this.results })}\n`);
  }
}

/** An error the client did not map to an S3 status: its type and a short message. */
export function exceptionOutcome(err: unknown): Outcome {
  process.stderr.write(`${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  const name = err instanceof Error ? err.name : typeof err;
  const message = err instanceof Error ? err.message : String(err);
  return { exception: name, message: message.slice(0, 300) };
}

/** Drops undefined fields, so an outcome is plain JSON. */
export function defined(fields: Record<string, Json | undefined>): Outcome {
  const out: Outcome = {};
  for (const [k, v] of Object.entries(fields)) if (v !== undefined) out[k] = v;
  return out;
}

/** Reads a Node stream (or web stream-ish body) to one buffer. */
export async function readAll(body: AsyncIterable<Uint8Array | string>): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of body) chunks.push(typeof c === 'string' ? Buffer.from(c) : Buffer.from(c));
  return Buffer.concat(chunks);
}

/** A deterministic body of `size` bytes (so multipart ETags and checksums agree between two runs). */
export function patternBody(size: number): Buffer {
  const seed = Buffer.from('client-matrix-multipart-0123456789abcdef\n');
  const out = Buffer.alloc(size);
  for (let off = 0; off < size; off += seed.length) seed.copy(out, off);
  return out;
}

/** `data` as a file stream delivers it: 64 KiB chunks. */
export function fileLikeStream(data: Buffer, chunk = 64 * 1024): Readable {
  const chunks: Buffer[] = [];
  for (let off = 0; off < data.length; off += chunk) chunks.push(data.subarray(off, off + chunk));
  return Readable.from(chunks);
}
