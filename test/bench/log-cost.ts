import { createLogger } from '@k8s-s3-mirror/proxy/dist/log';
import { createWinstonLogger } from './winston-log';

/**
 * CPU per access-log line (issue 12): the proxy's logger against the winston one it replaced, and a floor
 * (JSON.stringify and write, nothing else). Lines go to stdout, the table to stderr:
 *   npx tsc -b test && node test/dist/bench/log-cost.js > /dev/null
 *   node test/dist/bench/log-cost.js | cat > /dev/null
 * LOG_COST_LINES sets the lines per arm (200,000).
 */
type Log = (message: string, meta: Record<string, unknown>) => void;

const LINES = Number(process.env.LOG_COST_LINES ?? 200_000);
const ROUNDS = 3;
// Two configured secret keys, as a proxy always has (main and mirror).
const SECRETS = ['wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY', 'je7MtGbClwBF/2Zp9Utk/h3yCo8nvbEXAMPLEKEY'];

/** The access log's metadata, as s3-exchange.ts logs it for a small GET. */
function accessMeta(i: number, key = `objects/small-${i % 1000}.bin`): Record<string, unknown> {
  return {
    requestId: `1a2b3c4d5e6f${(i % 65536).toString(16).padStart(4, '0')}`,
    operation: 'GetObject',
    method: 'GET',
    bucket: 'bench-bucket',
    key,
    status: 200,
    bytesIn: 0,
    bytesOut: 4096,
    durationMs: 1.234567,
    outcome: 'ok',
  };
}

async function drained(): Promise<void> {
  await new Promise((resolve) => setImmediate(resolve));
  if (process.stdout.writableLength > 0)
    await new Promise((resolve) => process.stdout.once('drain', resolve));
}

/** µs of CPU (user + system) per line, winston's deferred 'logged' events included. */
async function cpuPerLine(log: Log, leak = false): Promise<number> {
  const metaOf = (i: number) => (leak ? accessMeta(i, `objects/${SECRETS[0]}`) : accessMeta(i));
  for (let i = 0; i < 20_000; i++) log('request', metaOf(i));
  await drained();
  const start = process.cpuUsage();
  for (let i = 0; i < LINES; i++) {
    log('request', metaOf(i));
    // On a pipe stdout is asynchronous and neither logger waits: let the reader catch up, or memory runs out.
    if (i % 1000 === 0 && process.stdout.writableLength > 1 << 20) await drained();
  }
  await drained();
  const used = process.cpuUsage(start);
  return (used.user + used.system) / LINES;
}

async function main(): Promise<void> {
  const floor: Log = (message, meta) => {
    process.stdout.write(
      `${JSON.stringify({ level: 'info', message, timestamp: new Date().toISOString(), ...meta })}\n`,
    );
  };
  const arms: [string, Log, boolean?][] = [
    ['floor: JSON.stringify + write', floor],
    ['winston, no secrets', adapt(createWinstonLogger('info', []))],
    ['winston, 2 secrets (as the proxy runs)', adapt(createWinstonLogger('info', SECRETS))],
    ['winston, 2 secrets, one in the line', adapt(createWinstonLogger('info', SECRETS)), true],
    ['proxy logger, no secrets', adapt(createLogger('info', []))],
    ['proxy logger, 2 secrets (as the proxy runs)', adapt(createLogger('info', SECRETS))],
    ['proxy logger, 2 secrets, one in the line', adapt(createLogger('info', SECRETS)), true],
  ];
  // The rounds interleave the arms, so a busy spell on the machine does not land on one arm only.
  const results = new Map<string, number[]>(arms.map(([name]) => [name, []]));
  for (let round = 0; round < ROUNDS; round++)
    for (const [name, log, leak] of arms) results.get(name)!.push(await cpuPerLine(log, leak));
  const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? NaN;
  process.stderr.write(`${LINES} lines per arm, median of ${ROUNDS} rounds, node ${process.version}\n`);
  for (const [name, xs] of results)
    process.stderr.write(`${name.padEnd(46)} ${median(xs).toFixed(2).padStart(6)} µs CPU/line\n`);
}

function adapt(logger: { info(message: string, meta: Record<string, unknown>): unknown }): Log {
  return (message, meta) => logger.info(message, meta);
}

main().catch((err: unknown) => {
  process.stderr.write(`${(err as Error).stack}\n`);
  process.exit(1);
});
