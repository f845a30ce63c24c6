// htmlReport: the file fit writes is one self-contained HTML document (no external URL, no
// script that runs) holding every epoch's numbers, the timing and the backend.
import { createReferenceBackend, OptionsError } from '@kiln/core';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { dense } from '../../packages/nn/src/layers';
import { softmaxCrossEntropy } from '../../packages/nn/src/losses';
import { accuracy } from '../../packages/nn/src/metrics';
import { sgd } from '../../packages/nn/src/optim';
import { formatMetric } from '../../packages/nn/src/progress';
import { buildModel, earlyStopping, fit, htmlReport, type Model, renderReport, type ReportData } from '../../packages/nn/src/train';
import { blobs } from './support';

const model = (): Promise<Model> => buildModel((g) => {
  const x = g.input('x', ['batch', 4]);
  const y = g.input('y', ['batch'], 'i32');
  const logits = dense(x, 3);
  return { x, y, output: logits, loss: softmaxCrossEntropy(logits, y), metrics: { accuracy: accuracy(logits, y) }, optimizer: sgd({ lr: 0.2 }) };
}, { seed: 4, compile: createReferenceBackend() });

/** Every attribute or text that could make a browser fetch or run something. */
function externalReferences(html: string): string[] {
  return [
    ...html.matchAll(/\b(?:https?|ftp):\/\/[^\s"'<>]+|\/\/[a-z0-9.-]+\.[a-z]{2,}\//gi),
    ...html.matchAll(/\b(?:src|href|xlink:href|action|srcset)\s*=/gi),
    ...html.matchAll(/<(?:link|iframe|img|object|embed|base)\b|@import|url\(/gi),
    ...html.matchAll(/<script(?![^>]*type="application\/json")/gi),
  ].map((m) => m[0]);
}

const embedded = (html: string): ReportData => JSON.parse(/<script type="application\/json" id="kiln-report">(.*?)<\/script>/s.exec(html)![1]!);

describe('htmlReport', () => {
  let dir: string;
  beforeAll(async () => { dir = await mkdtemp(join(tmpdir(), 'kiln-report-')); });
  afterAll(() => rm(dir, { recursive: true, force: true }));

  it('writes a self-contained report with each epoch\'s values, timing and backend', async () => {
    const m = await model();
    const path = join(dir, 'sub/report.html');
    const history = await fit(m, blobs(40, 4, 3), {
      epochs: 3, batchSize: 16, validation: blobs(12, 4, 3, 9), verbose: false, callbacks: [htmlReport({ path, title: 'Blobs <3 classes>' })],
    });
    const html = await readFile(path, 'utf8');
    expect(html.startsWith('<!doctype html>')).toBe(true);
    expect(externalReferences(html)).toEqual([]);
    expect(html).toContain('<h1>Blobs &#60;3 classes&#62;</h1>');
    expect(html).toContain(`reference: ${m.exe.description}`);
    expect(html).toContain(`3 of 3`);
    // A chart per metric (train and validation curves) and one of samples/s, as inline SVG.
    for (const title of ['loss', 'accuracy', 'samples/s']) expect(html).toContain(`aria-label="${title}"`);
    expect(html.match(/<polyline /g)).toHaveLength(5);
    // The table: one row per epoch, every logged value as fit's log line formats it.
    const rows = [...html.matchAll(/<tr><td>(\d+)<\/td>(.*?)<\/tr>/g)];
    expect(rows.map((r) => r[1])).toEqual(['1', '2', '3']);
    history.epochs.forEach((e, i) => {
      const cells = [...rows[i]![2]!.matchAll(/<td>(.*?)<\/td>/g)].map((c) => c[1]);
      const keys = ['loss', 'val_loss', 'accuracy', 'val_accuracy', 'seconds', 'samplesPerSecond'];
      expect(cells).toEqual(keys.map((k) => formatMetric(e[k]!)));
    });
    // And exactly, as JSON.
    const data = embedded(html);
    expect(data.history).toEqual(history.epochs.map((e) => ({ ...e, epoch: e.epoch + 1 })));
    expect(data).toMatchObject({ backend: 'reference', batchSize: 16, batchesPerEpoch: 3, epochs: 3, summary: m.summary() });
    expect(data.seconds).toBeGreaterThanOrEqual(history.epochs.reduce((s, e) => s + e['seconds']!, 0));
    await m.dispose();
  });

  it('is rewritten after every epoch and says why training stopped early', async () => {
    const m = await model();
    const path = join(dir, 'stopped.html');
    const seen: number[] = [];
    const report = htmlReport({ path });
    await fit(m, blobs(30, 4, 3), {
      epochs: 20, batchSize: 10, verbose: false, validation: blobs(9, 4, 3, 5),
      callbacks: [
        report,
        { onEpochEnd: async () => { seen.push(embedded(await readFile(path, 'utf8')).history.length); } },
        earlyStopping({ monitor: 'val_loss', minDelta: 10 }),
      ],
    });
    expect(seen).toEqual([1, 2]);
    const html = await readFile(path, 'utf8');
    expect(html).toMatch(/2 of 20 <span class="stopped">\(stopped: early stopping: val_loss did not improve/);
    expect(report.html()).toBe(html);
    await m.dispose();
  });

  it('renders a gap for a non-finite value and null in the JSON; rejects bad options', () => {
    const html = renderReport({
      title: 'diverged', started: '2026-01-01T00:00:00.000Z', backend: 'cpu', device: 'JavaScript', summary: '', batchSize: 2,
      batchesPerEpoch: 1, epochs: 3, seconds: 3,
      history: [1, 2, 3].map((epoch) => ({ epoch, loss: epoch === 2 ? NaN : 1 / epoch, seconds: 1, samplesPerSecond: 2 })),
    });
    // Loss: two runs of one point each, so no polyline, three dots minus the NaN.
    const loss = /<svg[^>]*aria-label="loss">(.*?)<\/svg>/s.exec(html)![1]!;
    expect(loss).not.toContain('<polyline');
    expect(loss.match(/<circle /g)).toHaveLength(2);
    expect(embedded(html).history[1]!.loss).toBeNull();
    expect(html).toContain('<td>NaN</td>');
    expect(() => htmlReport({ path: '' })).toThrow(OptionsError);
    expect(() => htmlReport({ file: 'x' } as never)).toThrow(OptionsError);
    expect(() => htmlReport().html()).toThrow(/before training began/);
  });
});
