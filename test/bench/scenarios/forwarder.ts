import { fmtBytes, fmtMs, fmtNumber, fmtPercent, fmtRange, table, type Section } from '../report';
import { median, pairedDifferences, pairedRatios } from '../stats';
import { renderBarChart } from '../svg-chart';
import type { LargeCase } from './large';
import type { SmallCase } from './small';

/**
 * Compares two proxy arms that ran in the same interleaved rounds on the sink backend: `challenger` against
 * `reference` (the proxy as shipped). Used for the forwarder choice (node:http vs undici) and for
 * before/after comparisons of a code change (`--baseline`).
 */
export function compareArms(
  small: readonly SmallCase[],
  large: readonly LargeCase[],
  challenger: string,
  reference = 'proxy',
): { rows: string[][]; ratios: { label: string; value: number }[] } {
  const rows: string[][] = [];
  const ratios: { label: string; value: number }[] = [];
  for (const c of small) {
    const a = c.arms[reference];
    const b = c.arms[challenger];
    if (!a || !b) continue;
    const r = pairedRatios(
      a.map((x) => x.rate),
      b.map((x) => x.rate),
    );
    const d50 = pairedDifferences(
      a.map((x) => x.p50),
      b.map((x) => x.p50),
    );
    const d99 = pairedDifferences(
      a.map((x) => x.p99),
      b.map((x) => x.p99),
    );
    const label = `${c.op} 4 KiB c=${c.concurrency}`;
    const cpu = (xs: typeof a) => median(xs.map((x) => x.cpuUsPerRequest ?? NaN));
    ratios.push({ label, value: r.median });
    rows.push([
      label,
      'req/s',
      fmtPercent(r.median),
      fmtRange(r.min, r.max, fmtPercent),
      fmtMs(d50.median),
      fmtMs(d99.median),
      `${fmtNumber(cpu(a))} → ${fmtNumber(cpu(b))} µs/req`,
    ]);
  }
  for (const c of large) {
    const a = c.arms[reference];
    const b = c.arms[challenger];
    if (!a || !b) continue;
    const r = pairedRatios(
      a.map((x) => x.mibPerSec),
      b.map((x) => x.mibPerSec),
    );
    const label = `${c.op} ${fmtBytes(c.size)}`;
    ratios.push({ label, value: r.median });
    const cpu = (xs: typeof a) => median(xs.map((x) => x.hopCpuPerGiB ?? NaN));
    rows.push([
      label,
      'MiB/s',
      fmtPercent(r.median),
      fmtRange(r.min, r.max, fmtPercent),
      '',
      '',
      `${fmtNumber(cpu(a))} → ${fmtNumber(cpu(b))} s/GiB`,
    ]);
  }
  return { rows, ratios };
}

export function renderForwarder(
  small: readonly SmallCase[],
  large: readonly LargeCase[],
  baseline: boolean,
): Section | undefined {
  const sinkSmall = small.filter((c) => c.backend === 'sink');
  const sinkLarge = large.filter((c) => c.backend === 'sink');
  const fwd = compareArms(sinkSmall, sinkLarge, 'node-http', 'no-background');
  if (fwd.rows.length === 0) return undefined;
  const headers = [
    'case',
    'measure',
    'node:http ÷ undici',
    'range',
    'Δ p50',
    'Δ p99',
    'proxy CPU undici → node:http',
  ];
  const body = [
    'Both arms are the real proxy (same handler, signer, configuration) in front of the same sink, both with ' +
      'the background tracker off (the "no-background" and "node-http" arms of the tables above), so that ' +
      'the mirror copies’ CPU does not swamp the difference; only the client that forwards to main differs: ' +
      '`undici` Pool (as shipped) or `node:http` with a keep-alive `Agent` (what http-proxy, and so ' +
      'http-proxy-middleware, forwards with). They ran in the same interleaved rounds as the direct arm. ' +
      'A ratio above 100 % means node:http was faster; Δ is node:http minus undici.',
    table(headers, fwd.rows),
  ];
  const charts = [
    {
      file: 'forwarder-node-http-vs-undici.svg',
      alt: 'Forwarder: node:http ÷ undici',
      svg: renderBarChart({
        title: 'Forwarder: node:http ÷ undici (sink backend)',
        yLabel: 'ratio',
        categories: fwd.ratios.map((r) => r.label),
        series: [{ name: 'node:http ÷ undici', values: fwd.ratios.map((r) => r.value) }],
        reference: { y: 1, label: 'equal' },
      }),
    },
  ];
  if (baseline) {
    const base = compareArms(sinkSmall, sinkLarge, 'proxy', 'baseline');
    body.push(
      'Before/after: the current proxy build against the `--baseline` build, same rounds (ratio above 100 % ' +
        'means the current build is faster; Δ is current minus baseline).',
      table(
        ['case', 'measure', 'current ÷ baseline', 'range', 'Δ p50', 'Δ p99', 'proxy CPU baseline → current'],
        base.rows,
      ),
    );
  }
  const gets = fwd.ratios.filter((r) => r.label.startsWith('GET')).map((r) => r.value);
  const puts = fwd.ratios.filter((r) => r.label.startsWith('PUT')).map((r) => r.value);
  const avg = (v: number[]): number => v.reduce((a, b) => a + b, 0) / v.length;
  return {
    id: 'forwarder',
    title: 'Forwarder: undici vs node:http',
    body,
    charts,
    checks: [
      {
        goal: 'the benchmark decides the forwarder',
        measured: `node:http ÷ undici averages ${fmtPercent(avg(gets))} on GETs, ${fmtPercent(avg(puts))} on PUTs`,
        met: 'reported',
      },
    ],
    raw: { forwarder: fwd },
  };
}
