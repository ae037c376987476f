/**
 * A tiny SVG chart generator (line and grouped-bar charts) so the benchmark can draw its own figures without
 * a plotting dependency. Pure: data in, SVG text out.
 */

export interface LineSeries {
  name: string;
  points: readonly (readonly [number, number])[];
}

export interface LineChart {
  title: string;
  xLabel: string;
  yLabel: string;
  series: readonly LineSeries[];
  /** Log2 x axis, for doubling concurrencies or sizes. */
  xLog?: boolean;
  /** A horizontal dashed line, e.g. a target. */
  reference?: { y: number; label: string };
}

export interface BarChart {
  title: string;
  yLabel: string;
  categories: readonly string[];
  series: readonly { name: string; values: readonly number[] }[];
  reference?: { y: number; label: string };
}

const WIDTH = 720;
const HEIGHT = 360;
const MARGIN = { left: 70, right: 170, top: 40, bottom: 50 };
const PALETTE = ['#1f77b4', '#ff7f0e', '#2ca02c', '#d62728', '#9467bd', '#8c564b', '#e377c2', '#7f7f7f'];

export function escapeXml(text: string): string {
  return text.replace(/[<>&"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

/** Compact tick label: 1200 → 1.2k, 0.00123 → 0.0012. */
export function formatTick(v: number): string {
  const a = Math.abs(v);
  if (a >= 1e9) return `${+(v / 1e9).toPrecision(3)}G`;
  if (a >= 1e6) return `${+(v / 1e6).toPrecision(3)}M`;
  if (a >= 1e4) return `${+(v / 1e3).toPrecision(3)}k`;
  if (a === 0) return '0';
  return String(+v.toPrecision(3));
}

/** About `count` round tick values covering [lo, hi]. */
export function niceTicks(lo: number, hi: number, count = 5): number[] {
  if (!Number.isFinite(lo) || !Number.isFinite(hi)) return [0, 1];
  if (hi <= lo) hi = lo + 1;
  const raw = (hi - lo) / count;
  const magnitude = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 2.5, 5, 10].map((m) => m * magnitude).find((s) => s >= raw) ?? raw;
  const ticks: number[] = [];
  // The last tick is at or above hi, so the highest value stays inside the plot.
  for (let t = Math.floor(lo / step) * step; ; t += step) {
    ticks.push(+t.toPrecision(12));
    if (t >= hi - step * 1e-9) return ticks;
  }
}

function frame(title: string, yLabel: string, xLabel: string, body: string[]): string {
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${WIDTH}" height="${HEIGHT}" viewBox="0 0 ${WIDTH} ${HEIGHT}" font-family="sans-serif" font-size="12">`,
    `<rect width="${WIDTH}" height="${HEIGHT}" fill="#fff"/>`,
    `<text x="${WIDTH / 2 - MARGIN.right / 2}" y="22" text-anchor="middle" font-size="15" font-weight="bold">${escapeXml(title)}</text>`,
    `<text transform="translate(16 ${MARGIN.top + (HEIGHT - MARGIN.top - MARGIN.bottom) / 2}) rotate(-90)" text-anchor="middle">${escapeXml(yLabel)}</text>`,
    `<text x="${MARGIN.left + (WIDTH - MARGIN.left - MARGIN.right) / 2}" y="${HEIGHT - 10}" text-anchor="middle">${escapeXml(xLabel)}</text>`,
    ...body,
    '</svg>',
    '',
  ].join('\n');
}

function legend(names: readonly string[]): string[] {
  const x = WIDTH - MARGIN.right + 15;
  return names.flatMap((name, i) => {
    const y = MARGIN.top + 10 + i * 20;
    const color = PALETTE[i % PALETTE.length]!;
    return [
      `<rect x="${x}" y="${y - 9}" width="12" height="12" fill="${color}"/>`,
      `<text x="${x + 18}" y="${y + 1}" class="legend">${escapeXml(name)}</text>`,
    ];
  });
}

function yAxis(ticks: number[], y: (v: number) => number): string[] {
  const right = WIDTH - MARGIN.right;
  return ticks.flatMap((t) => [
    `<line x1="${MARGIN.left}" x2="${right}" y1="${y(t).toFixed(1)}" y2="${y(t).toFixed(1)}" stroke="#ddd"/>`,
    `<text x="${MARGIN.left - 6}" y="${(y(t) + 4).toFixed(1)}" text-anchor="end">${formatTick(t)}</text>`,
  ]);
}

function referenceLine(ref: { y: number; label: string } | undefined, y: (v: number) => number): string[] {
  if (!ref) return [];
  const yy = y(ref.y).toFixed(1);
  return [
    `<line x1="${MARGIN.left}" x2="${WIDTH - MARGIN.right}" y1="${yy}" y2="${yy}" stroke="#444" stroke-dasharray="6 4"/>`,
    `<text x="${WIDTH - MARGIN.right - 4}" y="${Number(yy) - 4}" text-anchor="end" fill="#444">${escapeXml(ref.label)}</text>`,
  ];
}

const finite = (v: number): boolean => Number.isFinite(v);

export function renderLineChart(chart: LineChart): string {
  const points = chart.series.flatMap((s) => s.points).filter(([x, y]) => finite(x) && finite(y));
  const tx = (x: number): number => (chart.xLog ? Math.log2(x) : x);
  const xs = points.map(([x]) => tx(x));
  const ys = points.map(([, y]) => y);
  if (chart.reference) ys.push(chart.reference.y);
  const xLo = xs.length ? Math.min(...xs) : 0;
  const xHi = xs.length ? Math.max(...xs) : 1;
  const yTicks = niceTicks(Math.min(0, ...ys), ys.length ? Math.max(...ys) : 1);
  const yLo = yTicks[0]!;
  const yHi = yTicks[yTicks.length - 1]!;
  const plotW = WIDTH - MARGIN.left - MARGIN.right;
  const plotH = HEIGHT - MARGIN.top - MARGIN.bottom;
  const x = (v: number): number =>
    MARGIN.left + (xHi === xLo ? plotW / 2 : ((tx(v) - xLo) / (xHi - xLo)) * plotW);
  const y = (v: number): number => MARGIN.top + plotH - ((v - yLo) / (yHi - yLo || 1)) * plotH;

  const xValues = [...new Set(points.map(([px]) => px))].sort((a, b) => a - b);
  const body = [
    ...yAxis(yTicks, y),
    ...xValues.map(
      (v) =>
        `<text x="${x(v).toFixed(1)}" y="${HEIGHT - MARGIN.bottom + 16}" text-anchor="middle">${formatTick(v)}</text>`,
    ),
    `<line x1="${MARGIN.left}" x2="${WIDTH - MARGIN.right}" y1="${HEIGHT - MARGIN.bottom}" y2="${HEIGHT - MARGIN.bottom}" stroke="#000"/>`,
    ...referenceLine(chart.reference, y),
  ];
  chart.series.forEach((s, i) => {
    const color = PALETTE[i % PALETTE.length]!;
    const pts = s.points.filter(([px, py]) => finite(px) && finite(py));
    if (pts.length === 0) return;
    const d = pts
      .map(([px, py], j) => `${j === 0 ? 'M' : 'L'}${x(px).toFixed(1)} ${y(py).toFixed(1)}`)
      .join(' ');
    body.push(
      `<path d="${d}" fill="none" stroke="${color}" stroke-width="2" data-series="${escapeXml(s.name)}"/>`,
    );
    for (const [px, py] of pts) {
      body.push(`<circle cx="${x(px).toFixed(1)}" cy="${y(py).toFixed(1)}" r="3" fill="${color}"/>`);
    }
  });
  body.push(...legend(chart.series.map((s) => s.name)));
  return frame(chart.title, chart.yLabel, chart.xLabel, body);
}

export function renderBarChart(chart: BarChart): string {
  const ys = chart.series.flatMap((s) => s.values).filter(finite);
  if (chart.reference) ys.push(chart.reference.y);
  const yTicks = niceTicks(Math.min(0, ...ys), ys.length ? Math.max(...ys) : 1);
  const yLo = yTicks[0]!;
  const yHi = yTicks[yTicks.length - 1]!;
  const plotW = WIDTH - MARGIN.left - MARGIN.right;
  const plotH = HEIGHT - MARGIN.top - MARGIN.bottom;
  const y = (v: number): number => MARGIN.top + plotH - ((v - yLo) / (yHi - yLo || 1)) * plotH;
  const group = plotW / Math.max(1, chart.categories.length);
  const barW = (group * 0.8) / Math.max(1, chart.series.length);

  const body = [...yAxis(yTicks, y)];
  chart.categories.forEach((c, ci) => {
    const gx = MARGIN.left + ci * group;
    body.push(
      `<text x="${(gx + group / 2).toFixed(1)}" y="${HEIGHT - MARGIN.bottom + 16}" text-anchor="middle">${escapeXml(c)}</text>`,
    );
    chart.series.forEach((s, si) => {
      const v = s.values[ci];
      if (v === undefined || !finite(v)) return;
      const top = y(Math.max(v, 0));
      const h = Math.abs(y(v) - y(0));
      body.push(
        `<rect x="${(gx + group * 0.1 + si * barW).toFixed(1)}" y="${top.toFixed(1)}" width="${(barW - 2).toFixed(1)}" height="${h.toFixed(1)}" fill="${PALETTE[si % PALETTE.length]}" data-series="${escapeXml(s.name)}"><title>${escapeXml(`${s.name} ${c}: ${formatTick(v)}`)}</title></rect>`,
      );
    });
  });
  body.push(
    `<line x1="${MARGIN.left}" x2="${WIDTH - MARGIN.right}" y1="${y(0).toFixed(1)}" y2="${y(0).toFixed(1)}" stroke="#000"/>`,
    ...referenceLine(chart.reference, y),
    ...legend(chart.series.map((s) => s.name)),
  );
  return frame(chart.title, chart.yLabel, '', body);
}
