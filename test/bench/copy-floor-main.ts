import { measureCopyFloor } from './copy-floor';

/**
 * Child-process entry for the copy floor (copy-floor.ts), so its CPU is its own:
 * `MAIN_URL=… MIRROR_URL=… POSTGRES_URL=… BUCKET=… [COPIES=3000] [CONCURRENCY=16] [SIZE=4096] node copy-floor-main.js`.
 * Prints one JSON line: CPU ms per operation of each phase.
 */
const env = (name: string, fallback?: string): string => {
  const value = process.env[name] ?? fallback;
  if (value === undefined) throw new Error(`${name} is required`);
  return value;
};

measureCopyFloor({
  mainUrl: env('MAIN_URL'),
  mirrorUrl: env('MIRROR_URL'),
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
