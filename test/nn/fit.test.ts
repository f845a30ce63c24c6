// The training loop on the reference backend: the end-to-end suite (shared with the device
// backends), plus loop mechanics that do not depend on the backend.
import { compileWith, createReferenceBackend, Graph, GraphError } from '@kiln/core';
import { createDataset } from '../../packages/nn/src/data';
import { dense } from '../../packages/nn/src/layers';
import { mse, softmaxCrossEntropy } from '../../packages/nn/src/losses';
import { accuracy } from '../../packages/nn/src/metrics';
import { buildModel, type Callback, earlyStopping, evaluate, fit, Model, predict } from '../../packages/nn/src/train';
import { describeFit } from './fit-suite';
import { sgd } from '../../packages/nn/src/optim';
import { blobs } from './support';

describeFit('reference', async () => createReferenceBackend());

const tinyModel = (options: { lr?: number; optimizer?: boolean } = {}): Promise<Model> => buildModel((g) => {
  const x = g.input('x', ['batch', 4]);
  const y = g.input('y', ['batch'], 'i32');
  const logits = dense(x, 3);
  return {
    x, y, output: logits, loss: softmaxCrossEntropy(logits, y), metrics: { accuracy: accuracy(logits, y) },
    ...(options.optimizer === false ? {} : { optimizer: sgd({ lr: options.lr ?? 0.1 }) }),
  };
}, { seed: 2, compile: createReferenceBackend() });

describe('fit mechanics', () => {
  it('reads the loss back only every logEvery steps and trains on the last partial batch', async () => {
    const model = await tinyModel();
    const calls: { fetches: string[]; batch: number; train: boolean }[] = [];
    const run0 = model.exe.run.bind(model.exe);
    model.exe.run = (async (feeds: Record<string, { shape: number[] }>, fetches: Record<string, unknown>, o?: { train?: boolean }) => {
      calls.push({ fetches: Object.keys(fetches), batch: feeds['x']!.shape[0]!, train: o?.train ?? false });
      return run0(feeds as never, fetches as never, o);
    }) as unknown as typeof model.exe.run;
    const data = blobs(50, 4, 3); // batch 8: 6 full batches and one of 2
    const batchLogs: (number | undefined)[] = [];
    const history = await fit(model, data, { epochs: 2, batchSize: 8, logEvery: 3, verbose: false, callbacks: [{ onBatchEnd: (_b, logs) => { batchLogs.push(logs.loss); } }] });
    const train = calls.filter((c) => c.train);
    expect(train.map((c) => c.batch)).toEqual([8, 8, 8, 8, 8, 8, 2, 8, 8, 8, 8, 8, 8, 2]);
    // Every 3rd step and the last of each epoch read the device-side sums back; no other step fetches.
    expect(train.map((c) => c.fetches.length > 0)).toEqual([false, false, true, false, false, true, true, false, false, true, false, false, true, true]);
    expect(train.find((c) => c.fetches.length)!.fetches).toEqual(['count', 't:loss', 't:accuracy']);
    expect(batchLogs.filter((l) => l !== undefined)).toHaveLength(6);
    expect(batchLogs[6]).toBe(history.epochs[0]!['loss']); // the last batch's running mean is the epoch's
    expect(model.exe.steps).toBe(14);
    expect(history.epochs.map((e) => e.epoch)).toEqual([0, 1]);
    expect(Object.keys(history.epochs[0]!)).toEqual(['loss', 'accuracy', 'seconds', 'samplesPerSecond', 'epoch']);
    await model.dispose();
  });

  it('reports exact per-sample epoch means over every batch, however rarely it reads back', async () => {
    const model = await tinyModel({ lr: 0.3 });
    // Independently: before each training step, an evaluation run on the same batch gives
    // the loss and accuracy that step sees (no dropout here), weighted by the batch size. Both
    // are queued in the same call, so the evaluation sees the params the step sees even when
    // fit queues the next step before the previous one has finished.
    const exact: { loss: number; accuracy: number; n: number }[] = [];
    let epoch = -1;
    const run0 = model.exe.run.bind(model.exe);
    model.exe.run = ((feeds: Record<string, { shape: number[] }>, fetches: Record<string, unknown>, o?: { train?: boolean }) => {
      if (o?.train) {
        const n = feeds['x']!.shape[0]!;
        const e = exact[epoch]!;
        void run0(feeds as never, { loss: model.loss, accuracy: model.metrics['accuracy']! }).then((r) => {
          e.loss += r.loss.data[0]! * n;
          e.accuracy += r.accuracy.data[0]! * n;
          e.n += n;
        });
      }
      return run0(feeds as never, fetches as never, o);
    }) as unknown as typeof model.exe.run;
    const readMeans: number[][] = [];
    const history = await fit(model, blobs(101, 4, 3, 7), {
      epochs: 3, batchSize: 8, logEvery: 5, verbose: false,
      callbacks: [
        { onEpochBegin: () => { epoch++; exact.push({ loss: 0, accuracy: 0, n: 0 }); readMeans.push([]); } },
      ],
    });
    let differsFromSampling = false;
    history.epochs.forEach((logs, e) => {
      const want = exact[e]!;
      expect(want.n).toBe(101);
      expect(Math.abs(logs['accuracy']! - want.accuracy / want.n)).toBeLessThan(1e-6);
      expect(Math.abs(logs['loss']! - want.loss / want.n)).toBeLessThan(1e-6 * Math.max(1, want.loss / want.n));
      // 101 samples: an exact accuracy is a multiple of 1/101, which a sample of batch means is not.
      expect(Math.abs(logs['accuracy']! * 101 - Math.round(logs['accuracy']! * 101))).toBeLessThan(1e-4);
      if (Math.abs(logs['accuracy']! * 8 - Math.round(logs['accuracy']! * 8)) > 1e-3) differsFromSampling = true;
    });
    expect(differsFromSampling).toBe(true);
    await model.dispose();
  });

  it('reads back at least once an epoch when an epoch is shorter than logEvery', async () => {
    const model = await tinyModel();
    const history = await fit(model, blobs(20, 4, 3), { epochs: 1, batchSize: 8, logEvery: 100, verbose: false });
    expect(history.epochs[0]!['loss']).toBeGreaterThan(0);
    await model.dispose();
  });

  it('calls callbacks in order; a callback can stop training', async () => {
    const model = await tinyModel();
    const events: string[] = [];
    const cb: Callback = {
      onTrainBegin: () => { events.push('train'); },
      onEpochBegin: (e) => { events.push(`epoch${e}`); },
      onBatchEnd: (b, _l, ctx) => { events.push(`b${b}`); if (ctx.epoch === 1 && b === 1) ctx.stopTraining = true; },
      onEpochEnd: (e, logs) => { events.push(`end${e}:${'val_loss' in logs}`); },
      onTrainEnd: () => { events.push('done'); },
    };
    const history = await fit(model, blobs(24, 4, 3), { epochs: 5, batchSize: 8, validation: blobs(6, 4, 3, 4), verbose: false, callbacks: [cb] });
    expect(events).toEqual(['train', 'epoch0', 'b0', 'b1', 'b2', 'end0:true', 'epoch1', 'b0', 'b1', 'end1:true', 'done']);
    expect(history.stopReason).toBe('stopped by a callback');
    await model.dispose();
  });

  it('early stopping counts epochs without improvement as Keras does', async () => {
    // Keras's EarlyStopping on val_loss 1, 0.9, 0.95, 0.97, 0.99, ... stops at the end of
    // epoch 3 (0-based) with patience 2, epoch 2 with patience 1 or 0, epoch 4 with patience 3.
    const series = [1, 0.9, 0.95, 0.97, 0.99, 1.01, 1.03, 1.05];
    const stoppedAt = async (patience: number) => {
      const cb = earlyStopping({ patience });
      const ctx = { stopTraining: false } as Parameters<NonNullable<Callback['onEpochEnd']>>[2];
      await cb.onTrainBegin!(ctx);
      for (let e = 0; e < series.length; e++) {
        await cb.onEpochEnd!(e, { val_loss: series[e]! }, ctx);
        if (ctx.stopTraining) return { e, reason: ctx.stopReason, best: cb.bestEpoch };
      }
      return undefined;
    };
    expect(await stoppedAt(2)).toEqual({ e: 3, reason: 'early stopping: val_loss did not improve for 2 epochs (best 0.9 at epoch 2)', best: 1 });
    expect((await stoppedAt(1))?.e).toBe(2);
    expect((await stoppedAt(0))?.e).toBe(2);
    expect((await stoppedAt(3))?.e).toBe(4);
    expect(await stoppedAt(7)).toBeUndefined();
  });

  it('early stopping waits `patience` epochs and can restore the best weights', async () => {
    const model = await tinyModel({ lr: 0.1 });
    const stop = earlyStopping({ monitor: 'val_loss', patience: 2, restoreBestWeights: true });
    // Validation labels that disagree with training: val_loss rises after the first epochs.
    const val = blobs(30, 4, 3);
    const flipped = createDataset({ x: val.x, y: val.y.map((c) => (c + 1) % 3), xShape: [4] });
    const lines: string[] = [];
    const history = await fit(model, blobs(60, 4, 3), { epochs: 30, batchSize: 10, validation: flipped, callbacks: [stop], log: (l) => lines.push(l) });
    expect(history.epochs.length).toBeLessThan(30);
    expect(history.stopReason).toMatch(/early stopping: val_loss did not improve for 2 epochs/);
    expect(history.epochs.length).toBe(stop.bestEpoch + 3); // the best epoch, then 2 without improvement
    expect(lines.at(-1)).toMatch(/^stopped: early stopping/);
    const now = await evaluate(model, flipped);
    expect(now['loss']).toBeCloseTo(stop.best, 5);
    await model.dispose();
  });

  it('stops on a non-finite loss', async () => {
    const model = await buildModel((g) => {
      const x = g.input('x', ['batch', 4]);
      const y = g.input('y', ['batch', 1]);
      const out = dense(x, 1);
      return { x, y, output: out, loss: mse(out, y), optimizer: sgd({ lr: 1e6 }) };
    }, { compile: createReferenceBackend() });
    const data = blobs(40, 4, 2);
    const reg = createDataset({ x: data.x, y: Float32Array.from(data.y, (v) => v * 1e3), xShape: [4], yShape: [1] });
    const history = await fit(model, reg, { epochs: 50, batchSize: 4, logEvery: 1, verbose: false });
    expect(history.stopReason).toMatch(/^loss is (NaN|Infinity) at epoch 1, batch \d+$/);
    // Reading every 4th step, the running mean turns non-finite within the last 4 batches read.
    model.exe.resetParams();
    const sparse = await fit(model, reg, { epochs: 50, batchSize: 4, logEvery: 4, verbose: false });
    expect(sparse.stopReason).toMatch(/^loss is (NaN|Infinity) at epoch 1, (one of batches \d+-\d+|batch 1)$/);
    await model.dispose();
  });

  it('draws the progress bar on a TTY only, never under CI', async () => {
    const model = await tinyModel();
    const out = (isTTY: boolean) => ({ text: '', isTTY, columns: 200, write(s: string) { this.text += s; } });
    const saved = process.env['CI'];
    try {
      delete process.env['CI'];
      const tty = out(true);
      await fit(model, blobs(40, 4, 3), { epochs: 1, batchSize: 8, progressStream: tty, log: () => {} });
      expect(tty.text).toMatch(/epoch 1\/1 \[=+\] 40\/40 \d+ samples\/s loss \d\.\d{4}/);
      const pipe = out(false);
      await fit(model, blobs(40, 4, 3), { epochs: 1, batchSize: 8, progressStream: pipe, log: () => {} });
      expect(pipe.text).toBe('');
      process.env['CI'] = 'true';
      const ci = out(true);
      await fit(model, blobs(40, 4, 3), { epochs: 1, batchSize: 8, progressStream: ci, log: () => {} });
      expect(ci.text).toBe('');
    } finally {
      if (saved === undefined) delete process.env['CI']; else process.env['CI'] = saved;
    }
    await model.dispose();
  });

  it('a Model wraps an Executable before its first run (its epoch sums are graph updates)', async () => {
    const g = new Graph({ seed: 1 });
    const x = g.input('x', ['batch', 4]);
    const y = g.input('y', ['batch'], 'i32');
    const logits = dense(x, 3);
    const loss = softmaxCrossEntropy(logits, y);
    g.minimize(loss, sgd({ lr: 0.1 }));
    const exe = await compileWith(g, createReferenceBackend());
    const model = new Model({ exe, x, y, output: logits, loss, metrics: { accuracy: accuracy(logits, y) } });
    expect(Object.keys(model.statistics.totals)).toEqual(['loss', 'accuracy']);
    expect(model.trainable).toBe(true);
    const history = await fit(model, blobs(16, 4, 3), { epochs: 1, batchSize: 8, verbose: false });
    expect(history.epochs[0]!['accuracy']).toBeGreaterThanOrEqual(0);
    // The same graph again: the same loss (with fewer metrics) reuses the sums, another loss is refused.
    expect(new Model({ exe, x, y, output: logits, loss }).statistics.totals['loss']!.id).toBe(model.statistics.totals['loss']!.id);
    expect(() => new Model({ exe, x, y, output: logits, loss: loss.mul(2) })).toThrow(/epoch sum 'metrics\/loss\/total' is missing or sums another tensor/);
    expect(() => new Model({ exe, x, y, output: logits, loss, metrics: { top: accuracy(logits, y) } })).toThrow(GraphError);
    const ran = await compileWith(g, createReferenceBackend());
    await ran.run({ x: { data: new Float32Array(4), shape: [1, 4] } }, { logits });
    const g2 = new Graph();
    const x2 = g2.input('x', ['batch', 2]);
    const y2 = g2.input('y', ['batch', 2]);
    const exe2 = await compileWith(g2, createReferenceBackend());
    await exe2.run({ x: { data: new Float32Array(2), shape: [1, 2] } }, { x: x2 });
    expect(() => new Model({ exe: exe2, x: x2, y: y2, output: x2, loss: mse(x2, y2) })).toThrow(/wrap the Executable in a Model before its first run/);
    for (const e of [exe, ran, exe2]) await e.dispose();
  });

  it('refuses data that does not fit the model, and models that cannot train', async () => {
    const model = await tinyModel();
    const ok = blobs(10, 4, 3);
    await expect(fit(model, blobs(10, 5, 3), { verbose: false })).rejects.toThrow(/samples of shape \[5\] do not fit input 'x'/);
    await expect(fit(model, createDataset({ x: ok.x, y: new Float32Array(10), xShape: [4] }), { verbose: false })).rejects.toThrow(/labels are f32 \(Float32Array\) but input 'y' is i32/);
    await expect(fit(model, ok, { epochs: 1, batchSize: 0 } as never)).rejects.toThrow(/batchSize/);
    await expect(fit(model, ok, { epoch: 1 } as never)).rejects.toThrow(/epoch/);
    await expect(predict(model, new Float32Array(7))).rejects.toThrow(/not whole samples/);
    const frozen = await tinyModel({ optimizer: false });
    await expect(fit(frozen, ok)).rejects.toThrow(GraphError);
    expect((await evaluate(frozen, ok))['accuracy']).toBeGreaterThanOrEqual(0);
    await model.dispose();
    await frozen.dispose();
  });
});
