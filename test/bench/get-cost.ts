/**
 * What a small GET costs the proxy: CPU µs per 4 KiB GET on the sink backend, arm against arm (the small
 * scenario measures the same against direct, nginx and node-hop; this runs builds side by side). Each arm is
 * a proxy main.js (default: the shipped bundle, through the bench entry) with the image's environment, sinks as main and mirror
 * and an embedded Postgres of its own; every round runs a closed loop of GETs at `--concurrency` against each
 * arm, in alternating order.
 *
 *   node test/dist/bench/get-cost.js [--rounds 8] [--seconds 5] [--concurrency 16]
 *        [--arm 'NAME=path/to/main.js[;--node-flag ...]' ...] [--env [ARM:]K=V ...]
 *
 * A profile of one arm: `--arm 'p=test/dist/bench/shipped-proxy-main.js;--cpu-prof --cpu-prof-dir=DIR'`.
 */
import { parseArmFlags, SHIPPED_ARM, startArmsBench, type ProxyArm } from './proxy-arms';
import { median, roundOrder } from './stats';
import { seedSmallObjects, smallLoop } from './scenarios/small';

interface Options {
  rounds: number;
  seconds: number;
  concurrency: number;
  arms: ProxyArm[];
  env: Record<string, string>;
}

function parseArgs(argv: string[]): Options {
  const opts: Options = { rounds: 8, seconds: 5, concurrency: 16, arms: [], env: {} };
  parseArmFlags(argv, opts, (flag, value) => {
    if (flag === '--rounds') opts.rounds = Number(value());
    else if (flag === '--seconds') opts.seconds = Number(value());
    else if (flag === '--concurrency') opts.concurrency = Number(value());
    else return false;
    return true;
  });
  if (opts.arms.length === 0) opts.arms.push(SHIPPED_ARM);
  return opts;
}

async function main(): Promise<void> {
  const opts = parseArgs(process.argv.slice(2));
  const bench = await startArmsBench({ tool: 'get-cost', arms: opts.arms, env: opts.env });
  const { proxies, clients } = bench;
  const results = new Map<string, number[]>(opts.arms.map((a) => [a.name, []]));
  const loop = (i: number, durationMs: number) =>
    smallLoop(
      clients[i]!,
      'bench',
      'GET',
      opts.concurrency,
      { warmupMs: 500, durationMs },
      {
        cpuPids: [proxies[i]!.pid],
      },
    );
  try {
    // Seeded and warmed through each arm: JIT, pools and the bucket's database are not measured.
    for (const [i] of proxies.entries()) {
      await seedSmallObjects(clients[i]!, 'bench');
      await loop(i, 2000);
    }
    for (let round = 0; round < opts.rounds; round++) {
      for (const i of roundOrder(
        opts.arms.map((_, i) => i),
        round,
      )) {
        const r = await loop(i, opts.seconds * 1000);
        if (r.errors) throw new Error(`${opts.arms[i]!.name}: ${r.errors} errors (${r.firstError})`);
        results.get(opts.arms[i]!.name)!.push(r.cpuUsPerRequest!);
        console.log(
          `round ${round + 1} ${opts.arms[i]!.name}: ${r.cpuUsPerRequest!.toFixed(1)} µs/GET, ${r.rate.toFixed(0)} GET/s`,
        );
      }
    }
  } finally {
    await bench.stop();
  }
  console.log(`\nmedians over ${opts.rounds} rounds of ${opts.seconds} s at c=${opts.concurrency}:`);
  const first = results.get(opts.arms[0]!.name)!;
  for (const [name, us] of results) {
    const sorted = [...us].sort((a, b) => a - b);
    // Round by round against the first arm: the machine's drift hits both arms of a round alike.
    const ratios = us.map((u, i) => u / first[i]!);
    const lower = ratios.filter((r) => r < 1).length;
    console.log(
      `${name}: ${median(us).toFixed(1)} µs/GET (rounds ${sorted[0]!.toFixed(1)}–${sorted.at(-1)!.toFixed(1)})` +
        (us === first
          ? ''
          : `, ÷ ${opts.arms[0]!.name} ${median(ratios).toFixed(3)} (lower in ${lower} of ${ratios.length} rounds)`),
    );
  }
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
