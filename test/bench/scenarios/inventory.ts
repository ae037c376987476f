import { METRIC_NAMES } from '@k8s-s3-mirror/proxy/dist/metrics';
import { sleep } from '../../harness/wait';
import { BenchClient } from '../client';
import { interleave, type Arm, type Backend, type BenchContext } from '../context';
import { APP_CREDENTIALS, readMetric, type ProxyUnderTest } from '../env';
import { fmtMs, fmtNumber, fmtPercent, fmtRange, table, type Section } from '../report';
import { median, pairedDifferences, pairedRatios } from '../stats';
import { renderBarChart } from '../svg-chart';
import { PUT_KEYS, smallLoop, smallTiming } from './small';

interface InventoryRound {
  rate: number;
  p50: number;
  p99: number;
  /** Rows written to Postgres per second during the measured loop (tracker-on arm). */
  upsertsPerSec?: number;
  /** Rows per second from the loop's start until the memory queue was empty again. */
  sustainedUpsertsPerSec?: number;
  /** Events still queued in memory when the loop ended. */
  queuedAtEnd?: number;
}

/** Small PUTs with the proxy's background recorder on, and what Postgres absorbed meanwhile. */
async function putRound(
  ctx: BenchContext,
  client: BenchClient,
  proxy: ProxyUnderTest | undefined,
  backend: Backend,
  bucket: string,
  concurrency: number,
): Promise<InventoryRound> {
  const timing = smallTiming(ctx.quick, backend);
  const tracked = proxy && proxy.name !== 'proxy-sink-no-background';
  const w0 = tracked ? await readMetric(proxy.adminUrl, METRIC_NAMES.inventoryWrites) : NaN;
  const t0 = Date.now();
  const r = await smallLoop(client, bucket, 'PUT', concurrency, timing, {
    keyPrefix: 'inventory',
    putKeys: PUT_KEYS,
  });
  const round: InventoryRound = { rate: r.rate, p50: r.p50, p99: r.p99 };
  if (!tracked) return round;
  const t1 = Date.now();
  const w1 = await readMetric(proxy.adminUrl, METRIC_NAMES.inventoryWrites);
  round.queuedAtEnd = await readMetric(proxy.adminUrl, METRIC_NAMES.inventoryMemoryQueue);
  round.upsertsPerSec = (w1 - (Number.isNaN(w0) ? 0 : w0)) / ((t1 - t0) / 1000);
  const deadline = Date.now() + (ctx.quick ? 3_000 : 20_000);
  while (Date.now() < deadline && (await readMetric(proxy.adminUrl, METRIC_NAMES.inventoryMemoryQueue)) > 0) {
    await sleep(50);
  }
  const w2 = await readMetric(proxy.adminUrl, METRIC_NAMES.inventoryWrites);
  round.sustainedUpsertsPerSec = (w2 - (Number.isNaN(w0) ? 0 : w0)) / ((Date.now() - t0) / 1000);
  return round;
}

interface InventoryCase {
  backend: Backend;
  concurrency: number;
  arms: Record<string, InventoryRound[]>;
}

export async function runInventory(ctx: BenchContext, backends: Backend[]): Promise<Section> {
  const cases: InventoryCase[] = [];
  for (const backend of backends) {
    const timing = smallTiming(ctx.quick, backend);
    const bucket = `bench-inventory-${ctx.runId}`;
    let arms: Arm[];
    if (backend === 'sink') {
      const s = ctx.sink!;
      arms = [
        { name: 'proxy', endpoint: { name: 'proxy', url: s.proxy.url, ...APP_CREDENTIALS }, proxy: s.proxy },
        {
          name: 'no-background',
          endpoint: { name: 'no-background', url: s.noBackground.url, ...APP_CREDENTIALS },
          proxy: s.noBackground,
        },
      ];
      const admin = new BenchClient({ name: 'sink', url: s.main.url, ...APP_CREDENTIALS });
      await admin.send('PUT', `/${bucket}`, await admin.headers('PUT', `/${bucket}`));
      admin.close();
    } else {
      const c = ctx.ceph!;
      arms = [{ name: 'proxy', endpoint: c.viaProxy, proxy: c.proxy }];
      const admin = new BenchClient(c.direct);
      await admin.send('PUT', `/${bucket}`, await admin.headers('PUT', `/${bucket}`));
      admin.close();
    }
    for (const concurrency of ctx.quick ? [16] : [16, 64]) {
      ctx.log(`inventory ${backend} PUT c=${concurrency} × ${timing.rounds} rounds`);
      const results = await interleave(ctx, backend, arms, timing.rounds, (arm, client) =>
        putRound(ctx, client, arm.proxy, backend, bucket, concurrency),
      );
      cases.push({ backend, concurrency, arms: Object.fromEntries(results) });
    }
  }

  const rows = cases.map((c) => {
    const on = c.arms.proxy!;
    const up = median(on.map((r) => r.upsertsPerSec ?? NaN));
    const sustained = median(on.map((r) => r.sustainedUpsertsPerSec ?? NaN));
    const queued = Math.max(...on.map((r) => r.queuedAtEnd ?? 0));
    const off = c.arms['no-background'];
    const ratio = off
      ? pairedRatios(
          off.map((r) => r.rate),
          on.map((r) => r.rate),
        )
      : undefined;
    const d50 = off
      ? pairedDifferences(
          off.map((r) => r.p50),
          on.map((r) => r.p50),
        ).median
      : NaN;
    const d99 = off
      ? pairedDifferences(
          off.map((r) => r.p99),
          on.map((r) => r.p99),
        ).median
      : NaN;
    return {
      c,
      ratio,
      d99,
      cells: [
        c.backend,
        `PUT c=${c.concurrency}`,
        fmtNumber(median(on.map((r) => r.rate))),
        fmtNumber(up),
        fmtNumber(sustained),
        String(queued),
        off ? fmtNumber(median(off.map((r) => r.rate))) : '',
        ratio ? `${fmtPercent(ratio.median)} (${fmtRange(ratio.min, ratio.max, fmtPercent)})` : '',
        off ? fmtMs(d50) : '',
        off ? fmtMs(d99) : '',
      ],
    };
  });
  const compared = rows.filter((r) => r.ratio);
  const worst = compared.reduce<(typeof rows)[number] | undefined>(
    (w, x) => (!w || x.ratio!.median < w.ratio!.median ? x : w),
    undefined,
  );
  return {
    id: 'inventory',
    title: 'Inventory writes while serving small PUTs',
    body: [
      'Every acknowledged PUT becomes an inventory upsert in Postgres (batched per transaction by the write ' +
        'tracker, off the request path). "upserts/s" counts rows the proxy wrote during the measured loop ' +
        '(`' +
        METRIC_NAMES.inventoryWrites +
        '`); "sustained" runs from the loop’s start until the in-memory queue was empty again; "queued" is ' +
        'the largest queue left when a loop ended. On the sink backend the same loop also ran, in the same ' +
        'interleaved rounds, against an identical proxy with the background tracker switched off ' +
        '(no inventory, no mirroring): the ratio and Δ show what the background work costs the app.',
      table(
        [
          'backend',
          'case',
          'PUT/s (tracker on)',
          'upserts/s',
          'sustained upserts/s',
          'queued',
          'PUT/s (tracker off)',
          'on ÷ off',
          'Δ p50',
          'Δ p99',
        ],
        rows.map((r) => r.cells),
      ),
    ],
    charts: [
      {
        file: 'inventory.svg',
        alt: 'Inventory: PUT rate and upsert rate',
        svg: renderBarChart({
          title: 'Small PUTs and inventory upserts per second',
          yLabel: 'per second',
          categories: rows.map((r) => `${r.c.backend} c=${r.c.concurrency}`),
          series: [
            { name: 'PUT/s tracker on', values: rows.map((r) => median(r.c.arms.proxy!.map((x) => x.rate))) },
            {
              name: 'upserts/s',
              values: rows.map((r) => median(r.c.arms.proxy!.map((x) => x.upsertsPerSec ?? NaN))),
            },
            {
              name: 'PUT/s tracker off',
              values: rows.map((r) => median((r.c.arms['no-background'] ?? []).map((x) => x.rate))),
            },
          ],
        }),
      },
    ],
    checks: [
      {
        goal: 'the app’s latency is unaffected by inventory writes',
        measured: worst
          ? `rate with background work ${fmtPercent(worst.ratio!.median)} of without, Δ p99 ${fmtMs(worst.d99)} (${worst.c.backend} c=${worst.c.concurrency})`
          : 'n/a',
        met: worst ? worst.ratio!.median >= 0.9 : undefined,
      },
    ],
    raw: cases,
  };
}
