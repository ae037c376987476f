import { measureCopyFloor } from './copy-floor';

/**
 * Child-process entry for the copy floor (copy-floor.ts), so its CPU is its own:
 * `MAIN_URL=… MIRROR_URL=… POSTGRES_URL=… BUCKET=… [MAIN_ACCESS_KEY/MAIN_SECRET_KEY, MIRROR_…]
 * [COPIES=3000] [CONCURRENCY=16] [SIZE=4096] node copy-floor-main.js`.
 * Prints one JSON line: CPU ms per operation of each phase.
 */
const env = (name: string, fallback?: string): string => {
  const value = process.env[name] ?? fallback;
  if (value === undefined) throw new Error(`${name} is required`);
  return value;
};

/** `{ mainKeys }` or `{ mirrorKeys }` when PREFIX_ACCESS_KEY and PREFIX_SECRET_KEY are set. */
const keys = (side: 'main' | 'mirror', prefix: string) => {
  const accessKeyId = process.env[`${prefix}_ACCESS_KEY`];
  const secretAccessKey = process.env[`${prefix}_SECRET_KEY`];
  return accessKeyId && secretAccessKey ? { [`${side}Keys`]: { accessKeyId, secretAccessKey } } : {};
};

measureCopyFloor({
  mainUrl: env('MAIN_URL'),
  mirrorUrl: env('MIRROR_URL'),
  ...keys('main', 'MAIN'),
  ...keys('mirror', 'MIRROR'),
  postgresUrl: env('POSTGRES_URL'),
  bucket: env('BUCKET'),
  copies: Number(env('COPIES', '3000')),
  concurrency: Number(env('CONCURRENCY', '16')),
  size: Number(env('SIZE', '4096')),
}).then(
  (floor) => process.stdout.write(`${JSON.stringify(floor)}\n`),
  (err: unknown) => {
    process.stderr.write(`${String(err)}\n`);
    process.exit(1);
  },
);
