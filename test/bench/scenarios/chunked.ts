import http from 'node:http';
import { Readable } from 'node:stream';
import { PutObjectCommand, S3Client } from '@aws-sdk/client-s3';

import { BenchClient, closedLoop, FILLER } from '../client';
import { interleave, BACKEND_LABEL, type Arm, type Backend, type BenchContext } from '../context';
import { APP_CREDENTIALS } from '../env';
import { cpuSecondsOf } from '../procs';
import { fmtBytes, fmtMs, fmtNumber, fmtPercent, fmtRange, GiB, MiB, table, type Section } from '../report';
import { median, pairedDifferences, pairedRatios, percentile } from '../stats';
import { renderBarChart } from '../svg-chart';
import { collectRgwGarbage } from './large';
import { PUT_KEYS, SMALL_SIZE, smallTiming } from './small';

/** aws-chunked (SDK defaults) against plain uploads, both through the proxy, both with the AWS SDK. */
export interface ChunkedCase {
  backend: Backend;
  label: string;
  /** req/s for small, MiB/s for large. */
  unit: 'req/s' | 'MiB/s';
  arms: Record<string, { value: number; p50?: number; p99?: number; proxyCpuPerGiB?: number }[]>;
}

export function sdkClient(url: string, chunked: boolean): S3Client {
  return new S3Client({
    endpoint: url,
    region: 'us-east-1',
    forcePathStyle: true,
    credentials: APP_CREDENTIALS,
    ...(chunked ? {} : { requestChecksumCalculation: 'WHEN_REQUIRED' as const }),
    requestHandler: { httpAgent: new http.Agent({ keepAlive: true, maxSockets: 64 }) },
  });
}

export function fillerStream(size: number): Readable {
  let left = size;
  return new Readable({
    read() {
      if (left <= 0) return void this.push(null);
      const chunk = left >= FILLER.length ? FILLER : FILLER.subarray(0, left);
      left -= chunk.length;
      this.push(chunk);
    },
  });
}

export async function runChunked(ctx: BenchContext, backends: Backend[]): Promise<Section> {
  const cases: ChunkedCase[] = [];
  for (const backend of backends) {
    const proxy = backend === 'ceph' ? ctx.ceph!.proxy : ctx.sink!.proxy;
    const endpoint = { name: 'proxy', url: proxy.url, ...APP_CREDENTIALS };
    const arms: Arm[] = [
      { name: 'plain', endpoint, proxy },
      { name: 'aws-chunked', endpoint, proxy },
    ];
    const clients: Record<string, S3Client> = {
      plain: sdkClient(proxy.url, false),
      'aws-chunked': sdkClient(proxy.url, true),
    };
    const bucket = `bench-chunked-${ctx.runId}`;
    const admin = new BenchClient(
      backend === 'ceph' ? ctx.ceph!.direct : { ...endpoint, url: ctx.sink!.main.url },
    );
    await admin.send('PUT', `/${bucket}`, await admin.headers('PUT', `/${bucket}`));
    admin.close();

    const body = Buffer.alloc(SMALL_SIZE, 'chunked-small-');
    const small = smallTiming(ctx.quick, backend);
    ctx.log(`chunked ${backend} PUT 4 KiB c=16 × ${small.rounds} rounds`);
    const smallResults = await interleave(ctx, backend, arms, small.rounds, async (arm) => {
      const client = clients[arm.name]!;
      const r = await closedLoop({
        concurrency: 16,
        warmupMs: small.warmupMs,
        durationMs: small.durationMs,
        request: async (_w, seq) => {
          const out = await client.send(
            new PutObjectCommand({
              Bucket: bucket,
              Key: `small-${arm.name}-${seq % PUT_KEYS}`,
              // A stream body is what makes the SDK choose aws-chunked with a trailing checksum.
              Body: Readable.from([body]),
              ContentLength: SMALL_SIZE,
            }),
          );
          return out.$metadata.httpStatusCode ?? 0;
        },
      });
      if (r.errors > 0) ctx.log(`  ${arm.name}: ${r.errors} errors (${r.firstError})`);
      return { value: r.rate, p50: percentile(r.latenciesMs, 50), p99: percentile(r.latenciesMs, 99) };
    });
    cases.push({ backend, label: 'PUT 4 KiB c=16', unit: 'req/s', arms: Object.fromEntries(smallResults) });

    // 1 GiB through RGW twice per round plus its mirror copy would take minutes on this machine: sink only.
    const sizes = ctx.quick ? [16 * MiB] : backend === 'ceph' ? [256 * MiB] : [256 * MiB, GiB];
    for (const size of sizes) {
      const rounds = ctx.quick ? 2 : size >= GiB ? 2 : 3;
      ctx.log(`chunked ${backend} PUT ${fmtBytes(size)} × ${rounds} rounds`);
      const results = await interleave(ctx, backend, arms, rounds, async (arm) => {
        const cpu0 = cpuSecondsOf(proxy.pid);
        const t0 = performance.now();
        await clients[arm.name]!.send(
          new PutObjectCommand({
            Bucket: bucket,
            Key: `large-${size}`,
            Body: fillerStream(size),
            ContentLength: size,
          }),
        );
        const seconds = (performance.now() - t0) / 1000;
        const proxyCpuPerGiB = (cpuSecondsOf(proxy.pid) - cpu0) / (size / GiB);
        if (backend === 'ceph') await collectRgwGarbage(ctx);
        return { value: size / MiB / seconds, proxyCpuPerGiB };
      });
      cases.push({
        backend,
        label: `PUT ${fmtBytes(size)}`,
        unit: 'MiB/s',
        arms: Object.fromEntries(results),
      });
    }
    for (const c of Object.values(clients)) c.destroy();
  }
  return renderChunked(cases);
}

function renderChunked(cases: ChunkedCase[]): Section {
  const rows = cases.map((c) => {
    const plain = c.arms.plain!;
    const chunked = c.arms['aws-chunked']!;
    const r = pairedRatios(
      plain.map((x) => x.value),
      chunked.map((x) => x.value),
    );
    const cpu = (xs: typeof plain) => median(xs.map((x) => x.proxyCpuPerGiB ?? NaN));
    const d99 =
      c.unit === 'req/s'
        ? pairedDifferences(
            plain.map((x) => x.p99 ?? NaN),
            chunked.map((x) => x.p99 ?? NaN),
          ).median
        : NaN;
    return {
      c,
      ratio: r,
      cells: [
        c.backend,
        c.label,
        `${fmtNumber(median(plain.map((x) => x.value)))} ${c.unit}`,
        `${fmtNumber(median(chunked.map((x) => x.value)))} ${c.unit}`,
        fmtPercent(r.median),
        fmtRange(r.min, r.max, fmtPercent),
        c.unit === 'MiB/s' ? `${fmtNumber(cpu(plain))} → ${fmtNumber(cpu(chunked))}` : `Δ p99 ${fmtMs(d99)}`,
      ],
    };
  });
  const worst = rows.reduce((w, x) => (x.ratio.median < w.ratio.median ? x : w), rows[0]!);
  return {
    id: 'chunked',
    title: 'aws-chunked uploads (SDK defaults) vs plain uploads, through the proxy',
    body: [
      '`@aws-sdk/client-s3` at its defaults sends a stream body as aws-chunked with a trailing CRC32 ' +
        '(`STREAMING-UNSIGNED-PAYLOAD-TRAILER`), which the proxy decodes, verifies and forwards as a plain ' +
        'body; with `requestChecksumCalculation: "WHEN_REQUIRED"` the same upload is sent plain. Same SDK, ' +
        'same stream body, same proxy; the ratio is chunked ÷ plain (paired rounds). The SDK computes the ' +
        'CRC32 on the client in the chunked arm, so part of any gap is client CPU on this 2-core machine. ' +
        `Backends: ${BACKEND_LABEL.sink}; ${BACKEND_LABEL.ceph}.`,
      table(
        [
          'backend',
          'case',
          'plain',
          'aws-chunked',
          'ratio',
          'ratio range',
          'proxy CPU s/GiB plain → chunked',
        ],
        rows.map((r) => r.cells),
      ),
    ],
    charts: [
      {
        file: 'chunked-vs-plain.svg',
        alt: 'aws-chunked ÷ plain uploads through the proxy',
        svg: renderBarChart({
          title: 'aws-chunked ÷ plain uploads through the proxy',
          yLabel: 'ratio',
          categories: [...new Set(cases.map((c) => c.label))],
          series: [...new Set(cases.map((c) => c.backend))].map((b) => ({
            name: b,
            values: [...new Set(cases.map((c) => c.label))].map(
              (l) => rows.find((r) => r.c.backend === b && r.c.label === l)?.ratio.median ?? NaN,
            ),
          })),
          reference: { y: 0.9, label: 'goal 0.9' },
        }),
      },
    ],
    checks: worst
      ? [
          {
            goal: 'aws-chunked within 10 % of plain uploads through the proxy',
            measured: `lowest ${fmtPercent(worst.ratio.median)} (${worst.c.backend} ${worst.c.label})`,
            met: worst.ratio.median >= 0.9,
          },
        ]
      : [],
    raw: cases,
  };
}
