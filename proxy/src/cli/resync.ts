/**
 * `npm run resync -- --bucket B [--bucket C…] [--dry-run]`: compares main, mirror and inventory for each
 * bucket, repairs every difference (unless --dry-run) and prints what it changed. Reads the proxy's env.
 * Exit code: 0 all done, 1 some repair failed, 2 usage or configuration error.
 */
import { secretsOf } from '../config';
import { commandInput, parseBucketArgs } from './bucket-args';
import { fetchedSecrets, startCredentials } from '../credentials';
import { InventoryPools } from '../inventory/pools';
import { InventoryRepository } from '../inventory/repository';
import { createLogger } from '../log';
import { mirrorBucketNamer } from '../mirror/bucket-name';
import { resyncBucket, type ResyncReport } from '../mirror/resync';
import { s3ClientFor } from '../mirror/s3';
import { signedS3Http } from '../mirror/s3-http';

export function parseArgs(argv: string[]): { buckets: string[]; dryRun: boolean } {
  const { buckets, flags } = parseBucketArgs(argv, ['dry-run']);
  return { buckets, dryRun: flags['dry-run'] };
}

export function formatReport(r: ResyncReport): string {
  const lines = [
    `bucket ${r.bucket}${r.dryRun ? ' (dry run: nothing changed)' : ''}: main ${r.counts.main} objects, ` +
      `mirror ${r.mirrorBucket === r.bucket ? '' : `${r.mirrorBucket} `}${r.counts.mirror}` +
      `${r.mirrorBucketExisted ? '' : ' (bucket missing)'}, inventory ${r.counts.inventoryRows} rows`,
  ];
  for (const a of r.actions) {
    const state = r.dryRun ? 'would' : a.done ? 'done' : 'FAILED';
    lines.push(
      `  ${state} ${a.action} ${JSON.stringify(a.key)} (${a.reason})${a.error ? `: ${a.error}` : ''}`,
    );
  }
  if (r.actions.length === 0) lines.push('  in sync');
  return lines.join('\n');
}

async function run(): Promise<number> {
  const input = commandInput(parseArgs);
  if ('error' in input) {
    process.stderr.write(`resync: ${input.error}\n`);
    return 2;
  }
  const { args, config } = input;
  // Fetched credentials are redacted as in the proxy (main.ts): the same start, the same redactor.
  const secrets = fetchedSecrets(secretsOf(config));
  const logger = createLogger(config.logLevel === 'off' ? 'off' : 'warn', secrets.values);
  const pools = new InventoryPools(config.postgresUrl, logger);
  // Temporary credentials are fetched before the first request and refreshed while the resync runs.
  await startCredentials(
    [config.main.credentials, config.mirror.credentials],
    logger,
    undefined,
    secrets.add,
  );
  const main = s3ClientFor(config.main, logger);
  const mirror = s3ClientFor(config.mirror, logger);
  const http = {
    main: signedS3Http(config.main, { logger }),
    mirror: signedS3Http(config.mirror, { logger }),
  };
  let failed = false;
  try {
    for (const bucket of args.buckets) {
      const report = await resyncBucket(
        {
          main,
          mirror,
          mirrorBucket: mirrorBucketNamer(config.mirrorBucketTemplate),
          inventory: new InventoryRepository(pools, config.deletePolicy),
          deletePolicy: config.deletePolicy,
          logger,
          http,
        },
        bucket,
        { dryRun: args.dryRun },
      );
      process.stdout.write(`${formatReport(report)}\n`);
      if (report.actions.some((a) => !report.dryRun && !a.done)) failed = true;
    }
  } catch (err) {
    logger.error('resync failed', { error: err instanceof Error ? err.message : String(err) });
    failed = true;
  } finally {
    await pools.close();
    main.destroy();
    mirror.destroy();
    await Promise.all([http.main.destroy(), http.mirror.destroy()]);
    config.main.credentials.stop();
    config.mirror.credentials.stop();
  }
  return failed ? 1 : 0;
}

if (require.main === module) {
  // run() turns failures into an exit code; a throw outside its try (building the clients) fails the same way.
  run().then(
    (code) => process.exit(code),
    (err: unknown) => {
      process.stderr.write(`resync failed: ${err instanceof Error ? err.message : String(err)}\n`);
      process.exit(1);
    },
  );
}
