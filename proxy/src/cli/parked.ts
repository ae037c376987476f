/**
 * `npm run parked -- --bucket B [--bucket C…] [--json]`: the writes whose mirror copy failed
 * MIRROR_MAX_ATTEMPTS times in a row and now wait for the anti-entropy scan (or a resync). Reads the
 * proxy's env (POSTGRES_URL). Exit code: 0 none parked, 1 some parked, 2 usage or configuration error.
 */
import { secretsOf } from '../config';
import { commandInput, parseBucketArgs } from './bucket-args';
import { InventoryPools } from '../inventory/pools';
import { InventoryRepository, type ParkedRow } from '../inventory/repository';
import { createLogger } from '../log';

export type { ParkedRow };

const LIMIT = 1000;

export function parseArgs(argv: string[]): { buckets: string[]; json: boolean } {
  const { buckets, flags } = parseBucketArgs(argv, ['json']);
  return { buckets, json: flags.json };
}

export function formatParked(bucket: string, rows: ParkedRow[]): string {
  if (rows.length === 0) return `bucket ${bucket}: no parked writes`;
  const lines = [`bucket ${bucket}: ${rows.length}${rows.length === LIMIT ? '+' : ''} parked write(s)`];
  for (const r of rows) {
    lines.push(
      `  ${JSON.stringify(r.path)} parked ${r.parked_at.toISOString()} after ${r.attempts} attempts` +
        ` (${r.last_operation ?? '?'}): ${r.last_error ?? ''}`,
    );
  }
  return lines.join('\n');
}

async function run(): Promise<number> {
  const input = commandInput(parseArgs);
  if ('error' in input) {
    process.stderr.write(`${JSON.stringify({ level: 'error', message: `parked: ${input.error}` })}\n`);
    return 2;
  }
  const { args, config } = input;
  const logger = createLogger(config.logLevel === 'off' ? 'off' : 'warn', secretsOf(config));
  const pools = new InventoryPools(config.postgresUrl, logger);
  const inventory = new InventoryRepository(pools);
  let parked = 0;
  try {
    const out: Record<string, ParkedRow[]> = {};
    for (const bucket of args.buckets) {
      const rows = await inventory.parkedRows(bucket, LIMIT);
      out[bucket] = rows;
      parked += rows.length;
      if (!args.json) process.stdout.write(`${formatParked(bucket, rows)}\n`);
    }
    if (args.json) process.stdout.write(`${JSON.stringify(out)}\n`);
  } catch (err) {
    logger.error('parked: listing failed', { error: err instanceof Error ? err.message : String(err) });
    return 2;
  } finally {
    await pools.close();
  }
  return parked > 0 ? 1 : 0;
}

if (require.main === module) {
  // run() turns failures into an exit code; a throw outside its try (building the pools) fails the same way.
  run().then(
    (code) => process.exit(code),
    (err: unknown) => {
      const message = `parked: listing failed: ${err instanceof Error ? err.message : String(err)}`;
      process.stderr.write(`${JSON.stringify({ level: 'error', message })}\n`);
      process.exit(2);
    },
  );
}
