// End-to-end training, written once and run per backend: `describeFit(name, makeBackend)`.
// The reference backend runs it in fit.test.ts; device backends add one line each.
import { fileURLToPath } from 'node:url';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Backend } from '@kiln/core';
import { createDataset, type Dataset, loadMnistSplit, resolveMnistDir, subset } from '../../packages/nn/src/data';
import { batchNorm, dense, dropout, sequential } from '../../packages/nn/src/layers';
import { softmaxCrossEntropy } from '../../packages/nn/src/losses';
import { accuracy, accuracyOf } from '../../packages/nn/src/metrics';
import { buildModel, evaluate, fit, loadCheckpoint, type Model, predict, saveCheckpoint } from '../../packages/nn/src/train';
import { momentum } from '../../packages/nn/src/optim';
import { blobs, maxDiff, snapshot } from './support';

let mnist: Promise<Dataset<Int32Array>> | undefined;
/** The MNIST test split (10,000 images), loaded once per process. */
function mnistTest(): Promise<Dataset<Int32Array>> {
  mnist ??= loadMnistSplit(resolveMnistDir(fileURLToPath(new URL('../../examples/', import.meta.url))), 'test')
    .then((s) => createDataset({ x: s.images, y: s.labels, xShape: [784] }));
  return mnist;
}

const range = (a: number, b: number) => Uint32Array.from({ length: b - a }, (_, i) => a + i);

/** A small classifier with every stateful piece: dropout, batchNorm and a momentum slot. */
function classifier(backend: Backend, features: number, classes: number, options: { hidden: number; lr: number; seed?: number; stateful?: boolean }): Promise<Model> {
  return buildModel((g) => {
    const x = g.input('x', ['batch', features]);
    const y = g.input('y', ['batch'], 'i32');
    const logits = sequential(options.stateful
      ? [dense(options.hidden), batchNorm(), (h) => h.relu(), dropout(0.2), dense(classes)]
      : [dense(options.hidden, { activation: 'relu' }), dense(classes)])(x);
    return { x, y, output: logits, loss: softmaxCrossEntropy(logits, y), metrics: { accuracy: accuracy(logits, y) }, optimizer: momentum({ lr: options.lr, momentum: 0.9 }) };
  }, { seed: options.seed ?? 1, compile: backend });
}

export function describeFit(name: string, makeBackend: () => Promise<Backend>): void {
  describe(`fit end to end [${name}]`, () => {
    let backend: Backend;
    const models: Model[] = [];
    beforeAll(async () => { backend = await makeBackend(); });
    afterAll(async () => {
      for (const m of models.splice(0)) await m.dispose();
      await backend.dispose();
    });
    const track = (m: Model) => { models.push(m); return m; };

    it('learns an MNIST subset to far better than chance; evaluate and predict agree', async () => {
      const all = await mnistTest();
      const train = subset(all, range(0, 1000));
      const validation = subset(all, range(1000, 1500));
      const model = track(await classifier(backend, 784, 10, { hidden: 32, lr: 0.05 }));
      const lines: string[] = [];
      const history = await fit(model, train, { epochs: 3, batchSize: 64, validation, log: (l) => lines.push(l), logEvery: 4 });
      expect(history.epochs).toHaveLength(3);
      const last = history.epochs.at(-1)!;
      expect(last['val_accuracy']).toBeGreaterThan(0.6); // chance is 0.1
      expect(last['loss']).toBeLessThan(history.epochs[0]!['loss']!);
      expect(lines).toHaveLength(3);
      expect(lines[2]).toMatch(/^epoch 3\/3 .* samples\/s .*loss \d\.\d{4} .*val_accuracy 0\.\d{4}$/);

      const ev = await evaluate(model, validation, { batchSize: 128 });
      expect(ev['accuracy']).toBeCloseTo(last['val_accuracy']!, 6);
      const pred = await predict(model, validation.x, { batchSize: 96 });
      expect(pred.shape).toEqual([500, 10]);
      expect(accuracyOf(pred.data, validation.y, 10)).toBeCloseTo(ev['accuracy']!, 6);
    });

    it('resuming from a checkpoint (epoch boundary or mid-epoch) equals uninterrupted training', async () => {
      const data = blobs(90, 6, 3); // batch 16: 6 batches an epoch, the last one of 10
      const validation = blobs(30, 6, 3, 9);
      const opts = { batchSize: 16, validation, verbose: false, logEvery: 2 } as const;
      const make = async () => track(await classifier(backend, 6, 3, { hidden: 8, lr: 0.1, seed: 5, stateful: true }));
      const dir = await mkdtemp(join(tmpdir(), 'kiln-resume-'));
      try {
        const straight = await make();
        await fit(straight, data, { ...opts, epochs: 3 });
        const want = await snapshot(straight.exe);

        // Stop after epoch 1 (validation included), save, resume in a fresh model.
        const first = await make();
        await fit(first, data, { ...opts, epochs: 1 });
        await saveCheckpoint(first, join(dir, 'e1.safetensors'), { epoch: 1 });
        const resumed = await make();
        const info = await loadCheckpoint(resumed, join(dir, 'e1.safetensors'));
        expect(info.epoch).toBe(1);
        await fit(resumed, data, { ...opts, epochs: 3, initialEpoch: info.epoch, initialBatch: info.batch });
        expect(maxDiff(await snapshot(resumed.exe), want)).toBe(0);

        // Stop in the middle of epoch 2 (after its 3rd batch), save the position, resume.
        const partial = await make();
        await fit(partial, data, {
          ...opts, epochs: 3,
          callbacks: [{
            async onBatchEnd(b, _logs, ctx) {
              if (ctx.epoch === 1 && b === 2) {
                await saveCheckpoint(ctx.model, join(dir, 'mid.safetensors'), { epoch: ctx.epoch, batch: b + 1 });
                ctx.stopTraining = true;
              }
            },
          }],
        });
        const resumed2 = await make();
        const mid = await loadCheckpoint(resumed2, join(dir, 'mid.safetensors'));
        expect([mid.epoch, mid.batch]).toEqual([1, 3]);
        await fit(resumed2, data, { ...opts, epochs: 3, initialEpoch: mid.epoch, initialBatch: mid.batch });
        expect(maxDiff(await snapshot(resumed2.exe), want)).toBe(0);
      } finally {
        await rm(dir, { recursive: true, force: true });
      }
    });
  });
}
