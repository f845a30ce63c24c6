/**
 * A training report users can open: one self-contained HTML file (inline CSS and SVG, no
 * script, no external URL) with the loss and each metric per epoch (train and validation
 * curves), the time per epoch and samples/s, the backend and device, and the model summary.
 *
 *   await fit(model, train, { epochs: 5, validation, callbacks: [htmlReport({ path: 'report.html' })] });
 *
 * The file is rewritten after every epoch, so a run that stops (Ctrl-C, a crash, early
 * stopping) still leaves the report of the epochs it ran. Without a `path` (in a page, which
 * has no file system) the callback only collects, and `html()` gives the document.
 */
import { OptionsError, parseOptions } from '@kiln/core';
import { z } from 'zod';
import { writeFileAtomic } from '../checkpoint/atomic';
import { formatDuration, formatMetric } from '../progress';
import type { Callback, EpochLogs, TrainContext } from './callbacks';
import { check, opts } from '../args';

/** What a report shows; `renderReport` turns it into the HTML document. */
export interface ReportData {
  title: string;
  /** ISO 8601 time at which training began. */
  started: string;
  /** `exe.backend` ('webgpu', 'cpu', ...) and `exe.description` (the device). */
  backend: string;
  device: string;
  /** `model.summary()`. */
  summary: string;
  batchSize: number;
  batchesPerEpoch: number;
  /** Epochs asked for, and those run so far with their logs (1-based `epoch`). */
  epochs: number;
  history: (EpochLogs & { epoch: number })[];
  /** Wall-clock seconds from the start of training to the last epoch's end. */
  seconds: number;
  /** Set when training stopped early (early stopping, a non-finite loss). */
  stopReason?: string;
}

/** Options of `htmlReport`. */
export interface HtmlReportOptions {
  /** The HTML file to (re)write after every epoch and at the end; omit to only collect. */
  path?: string;
  /** Heading of the report (default 'Training report'). */
  title?: string;
}

const TIMING = new Set(['seconds', 'samplesPerSecond']);
const COLORS = ['#e8590c', '#1c7ed6', '#2f9e44', '#9c36b5', '#f08c00', '#0c8599'];

const escapeHtml = (s: string) => s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

/** Up to ~6 round values spanning [lo, hi]. */
function ticks(lo: number, hi: number): number[] {
  const step0 = (hi - lo) / 5;
  const mag = 10 ** Math.floor(Math.log10(step0));
  const step = [1, 2, 5, 10].map((m) => m * mag).find((s) => s >= step0)!;
  const out: number[] = [];
  for (let v = Math.ceil(lo / step) * step; v <= hi + step * 1e-9; v += step) out.push(Number(v.toPrecision(12)));
  return out;
}

/**
 * A line chart as inline SVG: x is the epoch (1-based), one polyline per series with a dot
 * per epoch; non-finite values leave a gap.
 */
function svgChart(title: string, epochs: number[], series: { name: string; values: number[] }[]): string {
  const W = 460, H = 250, L = 56, R = 12, T = 34, B = 36;
  const finite = series.flatMap((s) => s.values.filter(Number.isFinite));
  let lo = Math.min(...finite), hi = Math.max(...finite);
  if (!finite.length) { lo = 0; hi = 1; }
  if (hi - lo < 1e-12) { const pad = Math.abs(hi) * 0.1 || 1; lo -= pad; hi += pad; }
  const yTicks = ticks(lo, hi);
  lo = Math.min(lo, yTicks[0]!); hi = Math.max(hi, yTicks.at(-1)!);
  const [e0, e1] = [epochs[0]!, epochs.at(-1)!];
  const x = (e: number) => L + (e1 === e0 ? (W - L - R) / 2 : ((e - e0) / (e1 - e0)) * (W - L - R));
  const y = (v: number) => T + (1 - (v - lo) / (hi - lo)) * (H - T - B);
  const xTicks = epochs.filter((_, i) => i % Math.ceil(epochs.length / 10) === 0);
  const parts = [
    `<svg class="chart" viewBox="0 0 ${W} ${H}" width="${W}" height="${H}" role="img" aria-label="${escapeHtml(title)}">`,
    `<text x="${L}" y="18" class="title">${escapeHtml(title)}</text>`,
    ...yTicks.map((v) => `<line x1="${L}" x2="${W - R}" y1="${y(v).toFixed(1)}" y2="${y(v).toFixed(1)}" class="grid"/><text x="${L - 6}" y="${(y(v) + 4).toFixed(1)}" class="tick" text-anchor="end">${Number(v.toPrecision(6))}</text>`),
    ...xTicks.map((e) => `<text x="${x(e).toFixed(1)}" y="${H - B + 16}" class="tick" text-anchor="middle">${e}</text>`),
    `<text x="${(L + W - R) / 2}" y="${H - 4}" class="tick" text-anchor="middle">epoch</text>`,
  ];
  series.forEach((s, k) => {
    const color = COLORS[k % COLORS.length]!;
    // Runs of finite values become polylines; a NaN or Infinity breaks the line.
    let run: string[] = [];
    const runs: string[][] = [run];
    s.values.forEach((v, i) => {
      if (Number.isFinite(v)) run.push(`${x(epochs[i]!).toFixed(1)},${y(v).toFixed(1)}`);
      else runs.push((run = []));
    });
    for (const r of runs) if (r.length > 1) parts.push(`<polyline points="${r.join(' ')}" fill="none" stroke="${color}" stroke-width="2"/>`);
    s.values.forEach((v, i) => {
      if (Number.isFinite(v)) parts.push(`<circle cx="${x(epochs[i]!).toFixed(1)}" cy="${y(v).toFixed(1)}" r="3" fill="${color}"><title>${escapeHtml(s.name)} epoch ${epochs[i]}: ${formatMetric(v)}</title></circle>`);
    });
    parts.push(`<text x="${L + 110 + 140 * k}" y="18" class="legend" fill="${color}">● ${escapeHtml(s.name)}</text>`);
  });
  parts.push('</svg>');
  return parts.join('\n');
}

/** The metric names of the logs, each with its `val_` partner: loss first, timing last (apart). */
function metricNames(history: ReportData['history']): string[] {
  const names = new Set<string>();
  for (const h of history) for (const k of Object.keys(h)) if (k !== 'epoch' && !TIMING.has(k)) names.add(k.replace(/^val_/, ''));
  return [...names].sort((a, b) => (a === 'loss' ? -1 : b === 'loss' ? 1 : 0));
}

const CSS = `
body { font: 14px/1.45 system-ui, sans-serif; color: #1b1e23; background: #f7f7f5; max-width: 1000px; margin: 0 auto; padding: 1rem 1.5rem 3rem; }
h1 { font-size: 1.4rem; margin: 0.4rem 0; } h2 { font-size: 1.05rem; margin: 1.4rem 0 0.5rem; }
dl { display: grid; grid-template-columns: max-content 1fr; gap: 0.2rem 1rem; } dt { color: #666; } dd { margin: 0; }
.charts { display: flex; flex-wrap: wrap; gap: 0.75rem; }
.chart { background: #fff; border: 1px solid #ddd; border-radius: 6px; }
.chart .title { font-weight: 600; font-size: 13px; } .chart .tick { font-size: 11px; fill: #555; } .chart .legend { font-size: 12px; }
.chart .grid { stroke: #eee; }
table { border-collapse: collapse; background: #fff; font-variant-numeric: tabular-nums; }
th, td { border: 1px solid #ddd; padding: 0.25rem 0.6rem; text-align: right; } th { background: #f1f3f5; }
pre { background: #fff; border: 1px solid #ddd; border-radius: 6px; padding: 0.6rem; overflow-x: auto; }
.stopped { color: #c92a2a; }`;

/**
 * The report as one HTML document: inline CSS and SVG, the data also as JSON in a
 * `<script type="application/json" id="kiln-report">` element (non-finite numbers as null);
 * no script runs and nothing is fetched.
 *
 * @example
 * const html = renderReport({ title: 'MNIST', started: new Date().toISOString(), backend: 'cpu', device: 'JavaScript',
 *   summary: model.summary(), batchSize: 128, batchesPerEpoch: 430, epochs: 1, seconds: 12,
 *   history: [{ epoch: 1, loss: 0.31, accuracy: 0.91, seconds: 12, samplesPerSecond: 4583 }] });
 */
export function renderReport(r: ReportData): string {
  check('renderReport', [opts('r')], [r]);
  const epochs = r.history.map((h) => h.epoch);
  const names = metricNames(r.history);
  const column = (k: string) => r.history.map((h) => h[k] ?? NaN);
  const charts = epochs.length === 0 ? '<p>No epoch has finished yet.</p>' : names.map((k) => {
    const series = [{ name: k, values: column(k) }];
    if (r.history.some((h) => `val_${k}` in h)) series.push({ name: `val_${k}`, values: column(`val_${k}`) });
    return svgChart(k, epochs, series);
  }).join('\n') + (epochs.length ? `\n${svgChart('samples/s', epochs, [{ name: 'samples/s', values: column('samplesPerSecond') }])}` : '');
  const keys = [...names.flatMap((k) => (r.history.some((h) => `val_${k}` in h) ? [k, `val_${k}`] : [k])), 'seconds', 'samplesPerSecond'];
  const cell = (v: number | undefined) => (v === undefined ? '' : formatMetric(v));
  const rows = r.history.map((h) => `<tr><td>${h.epoch}</td>${keys.map((k) => `<td>${cell(h[k])}</td>`).join('')}</tr>`).join('\n');
  const json = JSON.stringify(r).replace(/</g, '\\u003c');
  const total = r.history.reduce((s, h) => s + (h['seconds'] ?? 0), 0);
  const samples = r.history.reduce((s, h) => s + (h['seconds'] ?? 0) * (h['samplesPerSecond'] ?? 0), 0);
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${escapeHtml(r.title)}</title>
<style>${CSS}
</style>
</head>
<body>
<h1>${escapeHtml(r.title)}</h1>
<dl>
<dt>started</dt><dd>${escapeHtml(r.started)}</dd>
<dt>backend</dt><dd>${escapeHtml(r.backend)}: ${escapeHtml(r.device)}</dd>
<dt>epochs</dt><dd>${r.history.length} of ${r.epochs}${r.stopReason ? ` <span class="stopped">(stopped: ${escapeHtml(r.stopReason)})</span>` : ''}</dd>
<dt>batch size</dt><dd>${r.batchSize} (${r.batchesPerEpoch} steps an epoch)</dd>
<dt>time</dt><dd>${formatDuration(r.seconds)} in all, ${formatDuration(total)} in epochs (validation included)${total > 0 ? `, ${Math.round(samples / total)} samples/s on average` : ''}</dd>
</dl>
<h2>Curves per epoch</h2>
<div class="charts">
${charts}
</div>
<h2>Epochs</h2>
<table>
<thead><tr><th>epoch</th>${keys.map((k) => `<th>${escapeHtml(k)}</th>`).join('')}</tr></thead>
<tbody>
${rows}
</tbody>
</table>
<h2>Model</h2>
<pre>${escapeHtml(r.summary)}</pre>
<script type="application/json" id="kiln-report">${json}</script>
</body>
</html>
`;
}

/**
 * A `fit` callback that writes the run's HTML report (see {@link renderReport}) to `path`
 * after every epoch and when training ends; `html()` returns the document so far.
 *
 * @throws OptionsError for a bad option; CheckpointError (from the atomic file write) naming
 *   `path` when the file cannot be written; UnsupportedError for a `path` in a browser.
 * @example
 * await fit(model, train, { epochs: 5, validation, callbacks: [htmlReport({ path: 'mnist-report.html', title: 'MNIST MLP' })] });
 */
export function htmlReport(options: HtmlReportOptions = {}): Callback & {
  /** The report so far, as a self-contained HTML document. */
  html(): string;
} {
  const o = parseOptions(z.object({ path: z.string().min(1).optional(), title: z.string().default('Training report') }).strict(), options, 'htmlReport');
  let data: ReportData | undefined;
  let t0 = 0;
  const write = async (ctx: TrainContext) => {
    data!.seconds = (performance.now() - t0) / 1000;
    if (ctx.stopReason !== undefined) data!.stopReason = ctx.stopReason;
    if (o.path) await writeFileAtomic(o.path, new TextEncoder().encode(renderReport(data!)));
  };
  return {
    html() {
      if (!data) throw new OptionsError('htmlReport: html() before training began (pass the callback to fit first)');
      return renderReport(data);
    },
    onTrainBegin(ctx) {
      t0 = performance.now();
      data = {
        title: o.title, started: new Date().toISOString(), backend: ctx.model.exe.backend, device: ctx.model.exe.description,
        summary: ctx.model.summary(), batchSize: ctx.batchSize, batchesPerEpoch: ctx.batchesPerEpoch, epochs: ctx.epochs, history: [], seconds: 0,
      };
    },
    async onEpochEnd(epoch, logs, ctx) {
      data!.history.push({ ...logs, epoch: epoch + 1 });
      await write(ctx);
    },
    async onTrainEnd(ctx) {
      await write(ctx);
    },
  };
}
