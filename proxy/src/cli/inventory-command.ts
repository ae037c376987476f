/**
 * The skeleton of a read-only inventory command (`parked`, `status`): the proxy's environment, one
 * repository, one result per `--bucket`, printed as text or `--json`. Exit code: what `exitCode` says of
 * the results, 2 for a usage, configuration or Postgres error.
 */
import { secretsOf } from '../config';
import { InventoryPools } from '../inventory/pools';
import { InventoryRepository } from '../inventory/repository';
import { createLogger } from '../log';
import { commandInput, parseBucketArgs } from './bucket-args';

export interface InventoryCommand<R> {
  name: string;
  read(inventory: InventoryRepository, bucket: string): Promise<R>;
  format(bucket: string, result: R): string;
  exitCode(results: R[]): number;
}

export function parseJsonArgs(argv: string[]): { buckets: string[]; json: boolean } {
  const { buckets, flags } = parseBucketArgs(argv, ['json']);
  return { buckets, json: flags.json };
}

const errorLine = (message: string): string => `${JSON.stringify({ level: 'error', message })}\n`;

export async function runInventoryCommand<R>(cmd: InventoryCommand<R>): Promise<number> {
  const input = commandInput(parseJsonArgs);
  if ('error' in input) {
    process.stderr.write(errorLine(`${cmd.name}: ${input.error}`));
    return 2;
  }
  const { args, config } = input;
  const logger = createLogger(config.logLevel === 'off' ? 'off' : 'warn', secretsOf(config));
  const pools = new InventoryPools(config.postgresUrl, logger);
  const inventory = new InventoryRepository(pools);
  try {
    const out: Record<string, R> = {};
    for (const bucket of args.buckets) {
      const result = await cmd.read(inventory, bucket);
      out[bucket] = result;
      if (!args.json) process.stdout.write(`${cmd.format(bucket, result)}\n`);
    }
    if (args.json) process.stdout.write(`${JSON.stringify(out)}\n`);
    return cmd.exitCode(Object.values(out));
  } catch (err) {
    logger.error(`${cmd.name}: reading the inventory failed`, {
      error: err instanceof Error ? err.message : String(err),
    });
    return 2;
  } finally {
    await pools.close();
  }
}

/** Runs the command as the process's main module: its exit code, or 2 for a failure outside it. */
export function runAsMain<R>(cmd: InventoryCommand<R>): void {
  runInventoryCommand(cmd).then(
    (code) => process.exit(code),
    (err: unknown) => {
      process.stderr.write(errorLine(`${cmd.name}: ${err instanceof Error ? err.message : String(err)}`));
      process.exit(2);
    },
  );
}
