import {
  distribution,
  median,
  pairedDifferences,
  pairedRatios,
  percentile,
  ratio,
  roundOrder,
  spread,
} from './stats';
import { niceTicks, renderBarChart, renderLineChart } from './svg-chart';
import { renderReport, table } from './report';

describe('statistics', () => {
  test('median of odd and even counts, independent of input order', () => {
    expect(median([5, 1, 3])).toBe(3);
    expect(median([4, 1, 3, 2])).toBe(2.5);
    expect(median([])).toBeNaN();
  });

  test('percentiles interpolate between closest ranks', () => {
    const values = Array.from({ length: 101 }, (_, i) => 100 - i); // 0..100, reversed
    expect(percentile(values, 0)).toBe(0);
    expect(percentile(values, 99)).toBe(99);
    expect(percentile(values, 100)).toBe(100);
    expect(percentile([10, 20], 25)).toBe(12.5);
    expect(() => percentile([1], 101)).toThrow(RangeError);
  });

  test('distribution summarises min, p50, p90, p99 and max', () => {
    const d = distribution(Array.from({ length: 1000 }, (_, i) => i + 1));
    expect(d).toEqual({ n: 1000, min: 1, p50: 500.5, p90: 900.1, p99: 990.01, max: 1000 });
  });

  test('ratio is NaN against zero or non-finite denominators', () => {
    expect(ratio(9, 10)).toBe(0.9);
    expect(ratio(1, 0)).toBeNaN();
    expect(ratio(1, NaN)).toBeNaN();
  });

  test('paired ratios and differences compare round i with round i', () => {
    const direct = [100, 200, 400];
    const proxied = [90, 100, 380];
    const r = pairedRatios(direct, proxied);
    expect(r.rounds).toEqual([0.9, 0.5, 0.95]);
    expect(r.median).toBe(0.9);
    expect(r.min).toBe(0.5);
    expect(r.max).toBe(0.95);
    expect(pairedDifferences([1, 2], [1.5, 4]).rounds).toEqual([0.5, 2]);
    expect(() => pairedRatios([1], [1, 2])).toThrow(RangeError);
    expect(spread([3, 1, 2]).median).toBe(2);
  });
});

describe('SVG charts', () => {
  test('a line chart has one path per series, with its points, and the reference line', () => {
    const svg = renderLineChart({
      title: 'rate <ratio>',
      xLabel: 'concurrency',
      yLabel: 'ratio',
      xLog: true,
      series: [
        {
          name: 'GET',
          points: [
            [1, 0.5],
            [16, 0.8],
            [64, 0.9],
          ],
        },
        {
          name: 'PUT',
          points: [
            [1, 0.4],
            [16, NaN],
            [64, 0.7],
          ],
        },
      ],
      reference: { y: 0.8, label: 'goal' },
    });
    expect(svg.startsWith('<svg xmlns="http://www.w3.org/2000/svg"')).toBe(true);
    expect(svg.trim().endsWith('</svg>')).toBe(true);
    expect(svg).toContain('rate &#60;ratio&#62;');
    const paths = [...svg.matchAll(/<path d="([^"]+)"[^>]*data-series="([^"]+)"/g)];
    expect(paths.map((m) => m[2])).toEqual(['GET', 'PUT']);
    // Non-finite points are left out rather than drawn at a bogus position.
    expect(paths[0]![1]!.split(/[ML]/).filter(Boolean)).toHaveLength(3);
    expect(paths[1]![1]!.split(/[ML]/).filter(Boolean)).toHaveLength(2);
    expect(svg).toContain('stroke-dasharray');
    expect(svg).toContain('>goal<');
    // x ticks on a log axis: 1, 16 and 64 are labelled.
    for (const tick of ['>1<', '>16<', '>64<']) expect(svg).toContain(tick);
  });

  test('a bar chart draws one bar per finite value and names the series', () => {
    const svg = renderBarChart({
      title: 'throughput',
      yLabel: 'MiB/s',
      categories: ['PUT 256 MiB', 'GET 256 MiB'],
      series: [
        { name: 'direct', values: [400, 800] },
        { name: 'proxy', values: [380, NaN] },
      ],
    });
    const bars = [...svg.matchAll(/<rect [^>]*data-series="([^"]+)"/g)].map((m) => m[1]);
    expect(bars).toEqual(['direct', 'proxy', 'direct']);
    expect(svg).toContain('direct PUT 256 MiB: 400');
  });

  test('axis ticks are round numbers that cover the range', () => {
    expect(niceTicks(0, 0.93)).toEqual([0, 0.2, 0.4, 0.6, 0.8, 1]);
    const ticks = niceTicks(0, 1234);
    expect(ticks[0]).toBe(0);
    expect(ticks.at(-1)).toBeGreaterThanOrEqual(1234);
  });
});

describe('report', () => {
  test('tables escape pipes and the report lists every goal with its verdict', () => {
    expect(table(['a', 'b'], [['1|2', '3']])).toBe('| a | b |\n| --- | --- |\n| 1\\|2 | 3 |');
    const md = renderReport({
      generatedAt: '2026-01-01T00:00:00Z',
      mode: 'full run',
      durationSec: 600,
      machine: ['2 cores'],
      load: ['quiet'],
      method: ['interleaved'],
      sections: [
        {
          id: 'x',
          title: 'Scenario X',
          body: ['text'],
          charts: [{ file: 'x.svg', alt: 'chart x', svg: '<svg/>' }],
          checks: [
            { goal: 'fast', measured: '95 %', met: true },
            { goal: 'small', measured: '200 MB', met: false },
            { goal: 'report', measured: '2 s/GiB', met: 'reported' },
          ],
          raw: {},
        },
      ],
      notes: '## Findings\n\nnotes',
      errors: [],
    });
    expect(md).toContain('| Scenario X | fast | 95 % | met |');
    expect(md).toContain('| Scenario X | small | 200 MB | **not met** |');
    expect(md).toContain('| Scenario X | report | 2 s/GiB | reported |');
    expect(md).toContain('![chart x](benchmarks/x.svg)');
    expect(md).toContain('## Findings');
  });
});

describe('roundOrder', () => {
  it('runs the arms as given in even rounds and reversed in odd ones, leaving the list as it was', () => {
    const arms = ['direct', 'proxy', 'nginx'];
    expect(roundOrder(arms, 0)).toEqual(['direct', 'proxy', 'nginx']);
    expect(roundOrder(arms, 1)).toEqual(['nginx', 'proxy', 'direct']);
    expect(roundOrder(arms, 2)).toEqual(['direct', 'proxy', 'nginx']);
    expect(arms).toEqual(['direct', 'proxy', 'nginx']);
  });
});
