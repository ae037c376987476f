/**
 * What a large transfer costs the proxy, arm against arm, on the sink backend: CPU s/GiB of a PUT, of its
 * mirror copy (from the PUT's answer until the proxy is idle again) and of a GET, and each arm's peak RSS in
 * the round (the large scenario measures the same against direct and node-hop; this runs builds side by
 * side). `--aws-chunked` sends the PUT with the AWS SDK at its defaults (aws-chunked, a CRC32 trailer), which
 * the proxy decodes; otherwise it is a plain PUT. Each arm is a proxy main.js (default: the shipped bundle, through the bench entry) with the image's
 * environment, sinks as main and mirror and an embedded Postgres of its own; rounds alternate the arms' order.
 *
 *   node test/dist/bench/large-cost.js [--rounds 4] [--size-mib 1024] [--aws-chunked]
 *        [--arm 'NAME=path/to/main.js[;--node-flag ...]' ...] [--env [ARM:]K=V ...]
 */
import { PutObjectCommand } from '@aws-sdk/client-s3';

import { parseArmFlags, startArmsBench, type ProxyArm } from './proxy-arms';
import { fillerStream, sdkClient } from './scenarios/chunked';
import { cpuSecondsOf, RssSampler, waitIdle } from './procs';
import { median, roundOrder } from './stats';

const MiB = 1024 * 1024;

interface Options {
  rounds: number;
  sizeMiB: number;
  awsChunked: boolean;
  arms: ProxyArm[];
  env: Record<string, string>;
}

interface LargeRound {
  putCpuPerGiB: number;
  copyCpuPerGiB: number;
  getCpuPerGiB: number;
  peakRssMB: number;
}

/** The tool's own flags; parseArmFlags takes `--arm` and `--env`, and the shipped arm when none is given. */
function parseArgs(argv: string[]): Options {
  const opts: Options = { rounds: 4, sizeMiB: 1024, awsChunked: false, arms: [], env: {} };
  const flags: Record<string, (value: () => string) => void> = {
    '--rounds': (value) => (opts.rounds = Number(value())),
    '--size-mib': (value) => (opts.sizeMiB = Number(value())),
    '--aws-chunked': () => (opts.awsChunked = true),
  };
  parseArmFlags(argv, opts, (flag, value) => {
    flags[flag]?.(value);
    return flag in flags;
  });
  if (!(Number.isInteger(opts.rounds) && opts.rounds >= 1))
    throw new Error('--rounds needs a whole number ≥ 1');
  if (!(opts.sizeMiB > 0)) throw new Error('--size-mib needs a number above 0');
  return opts;
}

async function main(): Promise<void> {
  const opts = parseArgs(process.argv.slice(2));
  const size = opts.sizeMiB * MiB;
  const gib = size / (1024 * MiB);
  const bench = await startArmsBench({ tool: 'large-cost', arms: opts.arms, env: opts.env });
  const { proxies, clients } = bench;
  const sdk = opts.awsChunked ? proxies.map((p) => sdkClient(p.url, true)) : [];
  const rss = new RssSampler();
  proxies.forEach((p, i) => rss.watch(opts.arms[i]!.name, p.pid));
  rss.start();
  const results = new Map<string, LargeRound[]>(opts.arms.map((a) => [a.name, []]));
  const transfer = async (i: number): Promise<LargeRound> => {
    const client = clients[i]!;
    const pid = proxies[i]!.pid;
    const key = `/bench/large-${i}`;
    const from = Date.now();
    const cpu0 = cpuSecondsOf(pid);
    if (opts.awsChunked) {
      await sdk[i]!.send(
        new PutObjectCommand({
          Bucket: 'bench',
          Key: key.slice('/bench/'.length),
          Body: fillerStream(size),
          ContentLength: size,
        }),
      );
    } else {
      const putHeaders = await client.headers('PUT', key, {
        'content-length': String(size),
        'content-type': 'application/octet-stream',
      });
      const put = await client.putStream(key, putHeaders, size);
      if (put < 200 || put > 299) throw new Error(`${opts.arms[i]!.name} PUT: HTTP ${put}`);
    }
    const cpu1 = cpuSecondsOf(pid);
    const idle = await waitIdle([pid], { maxMs: 180_000 });
    if (!idle.idle) throw new Error(`${opts.arms[i]!.name}: not idle 180 s after the PUT`);
    const cpu2 = cpuSecondsOf(pid);
    const got = await client.getCounted(key, await client.headers('GET', key));
    if (got.status !== 200 || got.bytes !== size)
      throw new Error(`${opts.arms[i]!.name} GET: HTTP ${got.status}, ${got.bytes} bytes`);
    const cpu3 = cpuSecondsOf(pid);
    rss.sampleNow();
    return {
      putCpuPerGiB: (cpu1 - cpu0) / gib,
      copyCpuPerGiB: (cpu2 - cpu1) / gib,
      getCpuPerGiB: (cpu3 - cpu2) / gib,
      peakRssMB: rss.peak(opts.arms[i]!.name, from) / 1e6,
    };
  };
  try {
    for (const [i] of proxies.entries()) {
      const status = await clients[i]!.send('PUT', '/bench', await clients[i]!.headers('PUT', '/bench'));
      if (status >= 300 && status !== 409) throw new Error(`create bucket: HTTP ${status}`);
    }
    for (let round = 0; round < opts.rounds; round++) {
      for (const i of roundOrder(
        opts.arms.map((_, i) => i),
        round,
      )) {
        // Each arm starts from rest: what the previous round or arm left does not count against it.
        await waitIdle(
          proxies.map((p) => p.pid),
          { maxMs: 60_000 },
        );
        const r = await transfer(i);
        results.get(opts.arms[i]!.name)!.push(r);
        console.log(
          `round ${round + 1} ${opts.arms[i]!.name}: PUT ${r.putCpuPerGiB.toFixed(2)}, copy ` +
            `${r.copyCpuPerGiB.toFixed(2)}, GET ${r.getCpuPerGiB.toFixed(2)} s/GiB; peak RSS ${r.peakRssMB.toFixed(0)} MB`,
        );
      }
    }
  } finally {
    rss.stop();
    for (const c of sdk) c.destroy();
    await bench.stop();
  }
  const fmt = (xs: number[], digits: number): string => {
    const sorted = [...xs].sort((a, b) => a - b);
    return `${median(xs).toFixed(digits)} (${sorted[0]!.toFixed(digits)}–${sorted.at(-1)!.toFixed(digits)})`;
  };
  console.log(`\nmedians over ${opts.rounds} rounds of ${opts.sizeMiB} MiB (ranges in brackets):`);
  for (const [name, rounds] of results) {
    console.log(
      `${name}: PUT ${fmt(
        rounds.map((r) => r.putCpuPerGiB),
        2,
      )}, copy ${fmt(
        rounds.map((r) => r.copyCpuPerGiB),
        2,
      )}, GET ${fmt(
        rounds.map((r) => r.getCpuPerGiB),
        2,
      )} s/GiB; peak RSS ${fmt(
        rounds.map((r) => r.peakRssMB),
        0,
      )} MB`,
    );
  }
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
