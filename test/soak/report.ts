/** Renders a soak report as Markdown (printed, and pasted into docs/soak.md for the record). */
import type { SoakReport } from './soak';

const f1 = (n: number) => n.toFixed(1);
const f2 = (n: number) => n.toFixed(2);

export function renderReport(r: SoakReport): string {
  const lines: string[] = [];
  const o = r.options;
  lines.push(
    `## Soak ${r.startedAt}: ${r.passed ? 'PASSED' : 'FAILED'}`,
    '',
    `${f1(r.durationSeconds / 60)} min, ${o.proxies} proxies sharing Postgres, ${o.workers} concurrent app workers, ` +
      `${o.buckets} buckets x ${o.keysPerBucket} overlapping keys, faults: ${o.faults.length ? o.faults.join(', ') : 'none'}.`,
    '',
    `| operations | errors | error rate | retried ops (writes) | NoSuchKey (expected) | corrupt reads |`,
    `| --- | --- | --- | --- | --- | --- |`,
    `| ${r.totalOps} | ${r.stats.errors} | ${(r.errorRate * 100).toFixed(3)} % | ${r.stats.retriedOps} (${r.stats.retriedWrites}) | ` +
      `${r.stats.notFound} | ${r.stats.corrupt} |`,
    '',
    `Mix: ${Object.entries(r.stats.ops)
      .map(([k, v]) => `${k} ${v}`)
      .join(', ')}.`,
    '',
    '### Proxy processes (after a 20 % warm-up of each)',
    '',
    '| proxy | pid | minutes | samples | RSS first → last (MiB) | RSS slope (MiB/min) | fds first → last | fd slope (/min) |',
    '| --- | --- | --- | --- | --- | --- | --- | --- |',
  );
  for (const s of r.slopes) {
    lines.push(
      `| ${s.slot + 1} | ${s.pid} | ${f1(s.minutes)} | ${s.samples} | ${f1(s.rssFirstMiB)} → ${f1(s.rssLastMiB)} | ` +
        `${f2(s.rssMiBPerMin)} | ${s.fdsFirst} → ${s.fdsLast} | ${f2(s.fdsPerMin)} |`,
    );
  }
  if (r.faults.length > 0) {
    lines.push(
      '',
      '### Faults (each under load, then a pause and a three-way check)',
      '',
      '| fault | held (s) | writes retried (ops) | app errors | mirror failures | inventory write failures | lag peak (s) | backlog peak | converged after (s) | three-way |',
      '| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |',
    );
    for (const x of r.faults) {
      lines.push(
        `| ${x.description} | ${f1(x.heldSeconds)} | ${x.retriedWrites} (${x.retriedOps}) | ${x.appErrors} | ` +
          `${x.mirrorFailures} | ${x.inventoryWriteFailures} | ${f1(x.lagPeakSeconds)} | ${x.pendingPeak} | ` +
          `${f1(x.convergeSeconds)} | ${x.equal ? 'equal' : `${x.diffs.length}+ diffs`} |`,
      );
    }
  }
  lines.push(
    '',
    `Final three-way check: ${r.finalEqual ? 'equal' : 'DIFFERENT'} (${f1(r.finalConvergeSeconds)} s after the load stopped).`,
    `Anti-entropy scan: ${r.scan.objects} objects compared, ${r.scan.differences} difference(s) found (0 on a healthy run).`,
  );
  if (r.problems.length) lines.push('', 'Problems:', ...r.problems.map((p) => `- ${p}`));
  if (r.stats.errorSamples.length)
    lines.push('', 'First errors:', ...r.stats.errorSamples.map((e) => `- ${e}`));
  const diffs = [...r.finalDiffs, ...r.faults.flatMap((x) => x.diffs.map((d) => `${x.fault}: ${d}`))];
  if (diffs.length) lines.push('', 'Differences:', ...diffs.slice(0, 30).map((d) => `- ${d}`));
  return lines.join('\n') + '\n';
}
