/**
 * The client compatibility matrix (issue 10): every real S3 client in test/clients/drivers.ts runs the same
 * operations straight at RGW (main's credentials) and through the proxy (junk credentials the proxy must
 * replace); per operation the two outcomes must be equal, and an operation that must succeed must succeed
 * straight at RGW (two equal failures prove nothing). The table goes to docs/compatibility.md before any
 * assertion, so a red run still shows where the clients differ.
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import type { S3Client } from '@aws-sdk/client-s3';

import { DRIVERS, unavailable, type Driver } from '../clients/drivers';
import {
  compareRuns,
  normalizeBuckets,
  problems,
  renderMatrix,
  replaceMatrix,
  type Column,
} from '../clients/matrix';
import { makeListBucket, removeBucketIfLeft, runDriver, type DriverRun } from '../clients/run';
import { directClient, proxyEnv, startProxyProcess, type ProxyInstance } from '../harness/proxy';
import { tempStateDir } from '../harness/proxies';
import { loadServices, type TestServices } from '../harness/services';

const ROOT = path.resolve(__dirname, '../..');
const DOC = path.join(ROOT, 'docs/compatibility.md');
const LIST_BUCKET = 'cm-list';
/** One driver run (hang guard); the direct and proxied runs of a driver go in parallel. */
const DRIVER_TIMEOUT_MS = 600_000;
const APP_JUNK = { accessKey: 'APP-JUNK-KEY', secretKey: 'app-junk-secret-that-is-wrong' };

let services: TestServices;
let proxy: ProxyInstance | undefined;
let stateDir: string | undefined;
let main: S3Client;
const columns = new Map<string, Column>();
const timings = new Map<string, string>();
const started = Date.now();

beforeAll(async () => {
  services = loadServices();
  main = directClient(services.ceph.mainEndpoint, services.ceph.main);
  stateDir = tempStateDir('s3m-matrix-');
  proxy = await startProxyProcess(proxyEnv(services, { STATE_DIR: stateDir }));
  const t = Date.now();
  await makeListBucket(main, LIST_BUCKET);
  timings.set('list-bucket fixture', `${Date.now() - t} ms`);
}, 300_000);

afterAll(async () => {
  await proxy?.stop();
  if (stateDir) fs.rmSync(stateDir, { recursive: true, force: true });
  // A filtered run (-t) has only some columns: it must not overwrite the whole table with a partial one.
  if (DRIVERS.every((d) => columns.has(d.id))) {
    writeDoc(renderMatrix(DRIVERS.map((d) => columns.get(d.id)!)));
  } else {
    process.stderr.write(`client matrix: not every driver ran, ${path.relative(ROOT, DOC)} left as it was\n`);
  }
  timings.set('total', `${Date.now() - started} ms`);
  process.stderr.write(
    `client matrix timings:\n${[...timings].map(([k, v]) => `  ${k}: ${v}`).join('\n')}\n`,
  );
});

function writeDoc(matrix: string): void {
  const doc = fs.readFileSync(DOC, 'utf8');
  fs.writeFileSync(DOC, replaceMatrix(doc, matrix));
  // Formatted as `npm run lint` wants it (prettier pads the table's columns). Its CLI, because prettier's
  // API loads ESM, which jest's module sandbox cannot.
  const bin = path.join(path.dirname(require.resolve('prettier/package.json')), 'bin/prettier.cjs');
  execFileSync(process.execPath, [bin, '--write', '--log-level', 'warn', DOC], {
    cwd: ROOT,
    stdio: 'inherit',
  });
}

/** The column of one driver from its two runs (bucket names made equal first). */
function columnOf(driver: Driver, direct: DriverRun, proxied: DriverRun, buckets: string[]): Column {
  const base = { id: driver.id, label: driver.label };
  if (!direct.ok || !proxied.ok) {
    const failure = [
      direct.ok ? undefined : `straight at RGW: ${direct.error}`,
      proxied.ok ? undefined : `through the proxy: ${proxied.error}`,
    ].filter((x) => x !== undefined);
    return { ...base, comparisons: [], failure: failure.join('; ') };
  }
  return {
    ...base,
    comparisons: compareRuns(
      normalizeBuckets(direct.output, buckets),
      normalizeBuckets(proxied.output, buckets),
    ),
  };
}

describe('client matrix: each client gets the same outcomes straight at RGW and through the proxy', () => {
  it.each(DRIVERS.map((d) => [d.label, d] as const))(
    '%s',
    async (_label, driver) => {
      const missing = unavailable(driver, ROOT);
      if (missing) {
        columns.set(driver.id, { id: driver.id, label: driver.label, comparisons: [], failure: missing });
        throw new Error(`${driver.label} cannot run: ${missing} (test/setup.sh installs every client)`);
      }
      if (driver.build) {
        const t = Date.now();
        execFileSync(driver.build[0]!, driver.build.slice(1), { cwd: ROOT, stdio: 'inherit' });
        timings.set(`${driver.id} build`, `${Date.now() - t} ms`);
      }
      const buckets = { direct: `cm-${driver.id}-direct`, proxied: `cm-${driver.id}-proxied` };
      // A leftover of an earlier run on this RGW would change create-bucket's answer.
      await Promise.all([
        removeBucketIfLeft(main, buckets.direct),
        removeBucketIfLeft(main, buckets.proxied),
      ]);
      const region = services.ceph.region;
      const opts = { root: ROOT, timeoutMs: DRIVER_TIMEOUT_MS };
      const [direct, proxied] = await Promise.all([
        runDriver(
          driver,
          {
            endpoint: services.ceph.mainEndpoint,
            accessKey: services.ceph.main.accessKeyId,
            secretKey: services.ceph.main.secretAccessKey,
            region,
            bucket: buckets.direct,
            listBucket: LIST_BUCKET,
          },
          opts,
        ),
        runDriver(
          driver,
          { endpoint: proxy!.url, ...APP_JUNK, region, bucket: buckets.proxied, listBucket: LIST_BUCKET },
          opts,
        ),
      ]);
      timings.set(driver.id, `direct ${direct.ms} ms, proxied ${proxied.ms} ms`);
      // Whatever a failed run left behind goes, so the next run starts clean.
      await Promise.all([
        removeBucketIfLeft(main, buckets.direct),
        removeBucketIfLeft(main, buckets.proxied),
      ]);

      const column = columnOf(driver, direct, proxied, [buckets.direct, buckets.proxied]);
      columns.set(driver.id, column);
      const found = problems(column);
      if (found.length > 0) {
        throw new Error(`${driver.label}: ${found.length} difference(s)\n\n${found.join('\n\n')}`);
      }
    },
    DRIVER_TIMEOUT_MS + 60_000,
  );
});
