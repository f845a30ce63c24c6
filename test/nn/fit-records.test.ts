// fit/evaluate/predict with a record of named inputs of different dtypes (i32 token ids and
// f32 features) and two outputs with weighted losses, on the reference backend.
import { concat, createReferenceBackend, GraphError, OptionsError } from '@kiln/core';
import { createDataset, createRecordDataset, type RecordDataset } from '../../packages/nn/src/data';
import { dense, embedding } from '../../packages/nn/src/layers';
import { mse, softmaxCrossEntropy } from '../../packages/nn/src/losses';
import { accuracy } from '../../packages/nn/src/metrics';
import { adam } from '../../packages/nn/src/optim';
import { buildModel, evaluate, fit, predict } from '../../packages/nn/src/train';

/** Token ids [n, 4] and features [n, 2]; the class is the majority of tokens < 4, the target a sum of features and token count. */
function records(n: number, seed: number): RecordDataset {
  let s = seed;
  const rand = () => { s = (Math.imul(s, 1664525) + 1013904223) >>> 0; return s / 2 ** 32; };
  const tokens = new Int32Array(n * 4), meta = new Float32Array(n * 2), cls = new Int32Array(n), target = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    let low = 0;
    for (let j = 0; j < 4; j++) { const t = Math.floor(rand() * 8); tokens[i * 4 + j] = t; if (t < 4) low++; }
    meta[i * 2] = rand() * 2 - 1; meta[i * 2 + 1] = rand() * 2 - 1;
    cls[i] = low >= 2 ? 1 : 0;
    target[i] = meta[i * 2]! - 0.5 * meta[i * 2 + 1]! + 0.25 * low;
  }
  return createRecordDataset({ tokens: { data: tokens, shape: [4] }, meta: { data: meta, shape: [2] }, cls: { data: cls }, target: { data: target, shape: [1] } });
}

const twoHeads = (lossWeights?: Record<string, number>) => buildModel((g) => {
  const tokens = g.input('tokens', ['batch', 4], 'i32'), meta = g.input('meta', ['batch', 2]);
  const cls = g.input('cls', ['batch'], 'i32'), target = g.input('target', ['batch', 1]);
  const pooled = embedding(tokens, 8, 6).mean({ axes: [1] });
  const h = dense(concat([pooled, meta], 1), 16, { activation: 'relu' });
  const logits = dense(h, 2), value = dense(h, 1);
  return {
    inputs: [tokens, meta, cls, target],
    output: { logits, value },
    loss: { cls: softmaxCrossEntropy(logits, cls), reg: mse(value, target) },
    ...(lossWeights ? { lossWeights } : {}),
    metrics: { accuracy: accuracy(logits, cls) },
    optimizer: adam({ lr: 0.02 }),
  };
}, { seed: 3, compile: createReferenceBackend() });

describe('fit with named inputs and weighted outputs', () => {
  test('reports the weighted loss, each loss and the metrics; both heads learn', async () => {
    const model = await twoHeads({ cls: 1, reg: 0.5 });
    const train = records(256, 1), validation = records(64, 2);
    const before = await evaluate(model, validation);
    expect(Object.keys(before)).toEqual(['loss', 'accuracy', 'cls_loss', 'reg_loss']);
    const history = await fit(model, train, { epochs: 6, batchSize: 32, validation, verbose: false });
    const last = history.epochs.at(-1)!;
    expect(Object.keys(last)).toEqual(['loss', 'accuracy', 'cls_loss', 'reg_loss', 'val_loss', 'val_accuracy', 'val_cls_loss', 'val_reg_loss', 'seconds', 'samplesPerSecond', 'epoch']);
    for (const e of history.epochs) {
      expect(e['loss']).toBeCloseTo(e['cls_loss']! + 0.5 * e['reg_loss']!, 5);
      expect(e['val_loss']).toBeCloseTo(e['val_cls_loss']! + 0.5 * e['val_reg_loss']!, 5);
    }
    expect(last['val_cls_loss']).toBeLessThan(before['cls_loss']! * 0.7);
    expect(last['val_reg_loss']).toBeLessThan(before['reg_loss']! * 0.5);
    expect(last['val_accuracy']).toBeGreaterThan(0.8);

    // predict reads only the columns its outputs need: no labels required.
    const { tokens, meta } = validation.columns;
    const inputsOnly = createRecordDataset({ tokens: { data: tokens!.data, shape: [...tokens!.shape] }, meta: { data: meta!.data, shape: [...meta!.shape] } });
    const all = await predict(model, inputsOnly, { outputs: 'all', batchSize: 20 });
    expect([all['logits']!.shape, all['value']!.shape]).toEqual([[64, 2], [64, 1]]);
    const first = await predict(model, inputsOnly);
    expect(Array.from(first.data)).toEqual(Array.from(all['logits']!.data));
    await model.dispose();
  });

  test('typed errors: a missing column, a column of the wrong dtype, bad loss weights, a Dataset for a record model', async () => {
    const model = await twoHeads();
    const ds = records(8, 3);
    const { tokens, meta, cls, target } = ds.columns;
    const without = createRecordDataset({ tokens: { ...tokens!, shape: [...tokens!.shape] }, meta: { ...meta!, shape: [...meta!.shape] }, cls: { ...cls!, shape: [] } });
    await expect(fit(model, without, { verbose: false })).rejects.toThrow(/no column 'target' for input/);
    const asFloat = createRecordDataset({ tokens: { data: Float32Array.from(tokens!.data), shape: [4] }, meta: { ...meta!, shape: [2] }, cls: { ...cls!, shape: [] }, target: { ...target!, shape: [1] } });
    await expect(evaluate(model, asFloat)).rejects.toThrow(/column 'tokens' holds f32 values \(Float32Array\) but input 'tokens' is i32/);
    await expect(fit(model, createDataset({ x: new Float32Array(8), y: new Int32Array(2), xShape: [4] }), { verbose: false })).rejects.toThrow(/no x and y inputs; feed it a RecordDataset/);
    await expect(twoHeads({ value: 1 })).rejects.toThrow(OptionsError);
    await expect(twoHeads({ cls: -1 })).rejects.toThrow(/lossWeights\['cls'\] must be a finite number >= 0/);
    expect(() => createRecordDataset({ a: { data: new Float32Array(4) }, b: { data: new Int32Array(6), shape: [2] } })).toThrow(/column 'b' holds 3 samples, column 'a' 4/);
    await model.dispose();
    await expect(buildModel((g) => {
      const x = g.input('x', ['batch', 2]);
      return { inputs: [x, x], output: x, loss: x.sum() };
    }, { compile: createReferenceBackend() })).rejects.toThrow(GraphError);
  });
});
