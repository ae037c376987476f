/**
 * `npm run soak -- --minutes 30 [--faults] [--proxies 2] [--workers 8] [--json report.json]`
 *
 * Starts its own Ceph RGW (main and mirror gateways) and an embedded Postgres, runs the soak (soak.ts) and
 * prints a Markdown report. Exit code 0 only if every operation succeeded, every read was intact, main,
 * mirror and inventory ended equal (after every fault too), and no proxy leaked over a 10+ minute stretch.
 */
import fs from 'node:fs';
import { startCeph } from '../harness/ceph';
import { startPostgres } from '../harness/postgres';
import type { TestServices } from '../harness/services';
import { ALL_FAULTS, type FaultName } from './faults';
import { renderReport } from './report';
import { DEFAULT_OPTIONS, runSoak, type SoakOptions } from './soak';

function parseArgs(argv: string[]): { options: Partial<SoakOptions>; json?: string } {
  const options: Partial<SoakOptions> = {};
  let json: string | undefined;
  const number = (name: string, value: string | undefined): number => {
    const n = Number(value);
    if (value === undefined || !Number.isFinite(n) || n <= 0)
      throw new Error(`${name} needs a positive number`);
    return n;
  };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    const next = () => argv[++i];
    switch (arg) {
      case '--minutes':
        options.minutes = number(arg, next());
        break;
      case '--faults': {
        // `--faults` alone: all of them; `--faults a,b`: those.
        const value = argv[i + 1];
        if (value !== undefined && !value.startsWith('--')) {
          i++;
          const names = value.split(',') as FaultName[];
          for (const n of names) if (!ALL_FAULTS.includes(n)) throw new Error(`unknown fault ${n}`);
          options.faults = names;
        } else {
          options.faults = ALL_FAULTS;
        }
        break;
      }
      case '--proxies':
        options.proxies = number(arg, next());
        break;
      case '--workers':
        options.workers = number(arg, next());
        break;
      case '--keys':
        options.keysPerBucket = number(arg, next());
        break;
      case '--fault-seconds':
        options.faultSeconds = number(arg, next());
        break;
      case '--settle-seconds':
        options.settleSeconds = number(arg, next());
        break;
      case '--json':
        json = next();
        break;
      case '--logs':
        options.logDir = next();
        break;
      default:
        throw new Error(
          `unknown argument ${arg}\nusage: npm run soak -- --minutes N [--faults [${ALL_FAULTS.join(',')}]] ` +
            '[--proxies 2] [--workers 8] [--keys 100] [--fault-seconds 20] [--settle-seconds 10] [--json FILE] [--logs DIR]',
        );
    }
  }
  return { options, json };
}

async function main(): Promise<number> {
  const { options, json } = parseArgs(process.argv.slice(2));
  const log = DEFAULT_OPTIONS.log;
  log('starting Ceph RGW and Postgres');
  const [ceph, postgres] = await Promise.all([
    startCeph({ memstoreBytes: 6 * 1024 ** 3 }),
    startPostgres({ embedded: true }),
  ]);
  const stopAll = async () => {
    await Promise.allSettled([ceph.stop(), postgres.destroy()]);
  };
  // eslint-disable-next-line @typescript-eslint/no-floating-promises -- cannot reject (allSettled)
  process.once('SIGINT', () => void stopAll().then(() => process.exit(130)));
  try {
    const services: TestServices = {
      ceph: {
        mainEndpoint: ceph.mainEndpoint,
        proxyMainEndpoint: ceph.mainEndpoint,
        mirrorEndpoint: ceph.mirrorEndpoint,
        region: ceph.region,
        main: ceph.main,
        mirror: ceph.mirror,
        mirrorTenant: ceph.mirrorTenant,
        conf: ceph.conf,
      },
      postgres: { url: postgres.url, controllable: true },
      control: { url: '', token: '' },
      bringUpMs: { ceph: ceph.bringUpMs, postgres: postgres.bringUpMs },
    };
    const report = await runSoak(
      {
        services,
        controls: {
          stopMirrorGateway: () => ceph.stopMirrorGateway(),
          startMirrorGateway: () => ceph.startMirrorGateway(),
          stopPostgres: () => postgres.stop(),
          startPostgres: () => postgres.start(),
        },
      },
      options,
    );
    process.stdout.write(renderReport(report));
    if (json) fs.writeFileSync(json, JSON.stringify(report, null, 2));
    return report.passed ? 0 : 1;
  } finally {
    await stopAll();
  }
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    process.stderr.write(`soak failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    process.exit(2);
  },
);
