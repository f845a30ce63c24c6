// Losses and metrics against hand-computed values, graph-side (reference backend) and host-side.
import { compileWith, createReferenceBackend, Graph, ShapeError, type Tensor } from '@kiln/core';
import { binaryCrossEntropy, mae, mse, softmaxCrossEntropy } from '../../packages/nn/src/losses';
import {
  accuracy, accuracyOf, argMaxRows, binaryAccuracy, confusionMatrix, confusionMatrixOp, formatConfusionMatrix, topKAccuracy, topKAccuracyOf,
} from '../../packages/nn/src/metrics';

async function values(g: Graph, feeds: Record<string, Float32Array | Int32Array>, fetches: Record<string, Tensor>) {
  const exe = await compileWith(g, createReferenceBackend());
  const out = await exe.run(feeds, fetches);
  return Object.fromEntries(Object.entries(out).map(([k, v]) => [k, Array.from(v.data)]));
}

describe('losses', () => {
  it('mse and mae: per example, mean and sum', async () => {
    const g = new Graph();
    const p = g.input('p', ['batch', 2]);
    const t = g.input('t', ['batch', 2]);
    const v = await values(g, { p: Float32Array.of(1, 2, 3, 4), t: Float32Array.of(1, 0, 0, 4) }, {
      mse: mse(p, t), mseSum: mse(p, t, { reduction: 'sum' }), mseNone: mse(p, t, { reduction: 'none' }), mae: mae(p, t), maeNone: mae(p, t, { reduction: 'none' }),
    });
    // squared diffs [[0, 4], [9, 0]] -> per example [2, 4.5]; abs diffs [[0, 2], [3, 0]] -> [1, 1.5]
    expect(v).toEqual({ mse: [3.25], mseSum: [6.5], mseNone: [2, 4.5], mae: [1.25], maeNone: [1, 1.5] });
  });

  it('binaryCrossEntropy from logits, stable at large logits, with label smoothing', async () => {
    const g = new Graph();
    const z = g.input('z', ['batch', 1]);
    const y = g.input('y', ['batch', 1]);
    const v = await values(g, { z: Float32Array.of(0, 2, -1, 100, -100), y: Float32Array.of(1, 0, 1, 0, 1) }, {
      none: binaryCrossEntropy(z, y, { reduction: 'none' }), smooth: binaryCrossEntropy(z, y, { labelSmoothing: 0.2, reduction: 'none' }),
    });
    [Math.log(2), Math.log(1 + Math.exp(2)), Math.log(1 + Math.E), 100, 100].forEach((e, i) => expect(v['none']![i]).toBeCloseTo(e, 4));
    // y=1 -> 0.9, y=0 -> 0.1: loss = softplus(z) - z * y'
    const sp = (x: number) => Math.log(1 + Math.exp(x));
    [sp(0) - 0, sp(2) - 2 * 0.1, sp(-1) + 0.9].forEach((e, i) => expect(v['smooth']![i]).toBeCloseTo(e, 4));
  });

  it('softmaxCrossEntropy: integer and one-hot labels agree; label smoothing', async () => {
    const g = new Graph();
    const logits = g.input('logits', ['batch', 3]);
    const idx = g.input('idx', ['batch'], 'i32');
    const hot = g.input('hot', ['batch', 3]);
    const v = await values(g, { logits: Float32Array.of(1, 2, 3, 1, 1, 1), idx: Int32Array.of(2, 0), hot: Float32Array.of(0, 0, 1, 1, 0, 0) }, {
      sparse: softmaxCrossEntropy(logits, idx, { reduction: 'none' }),
      dense: softmaxCrossEntropy(logits, hot, { reduction: 'none' }),
      mean: softmaxCrossEntropy(logits, idx),
      smooth: softmaxCrossEntropy(logits, idx, { labelSmoothing: 0.1, reduction: 'none' }),
    });
    const lse = Math.log(Math.E + Math.E ** 2 + Math.E ** 3);
    [lse - 3, Math.log(3)].forEach((e, i) => { expect(v['sparse']![i]).toBeCloseTo(e, 5); expect(v['dense']![i]).toBeCloseTo(e, 5); });
    expect(v['mean']![0]).toBeCloseTo((lse - 3 + Math.log(3)) / 2, 5);
    // smoothed target [0.1/3, 0.1/3, 0.9 + 0.1/3] against log-probs [1, 2, 3] - lse
    const lp = [1 - lse, 2 - lse, 3 - lse];
    expect(v['smooth']![0]).toBeCloseTo(-(0.1 / 3) * (lp[0]! + lp[1]!) - (0.9 + 0.1 / 3) * lp[2]!, 5);
  });

  it('refuse mismatched shapes and dtypes', () => {
    const g = new Graph();
    const p = g.input('p', ['batch', 2]);
    expect(() => mse(p, g.input('t', ['batch', 3]))).toThrow(ShapeError);
    expect(() => softmaxCrossEntropy(p, g.input('l', ['batch', 2, 2], 'i32'))).toThrow(/without the class axis/);
    expect(() => mse(p, p, { reduction: 'avg' as 'mean' })).toThrow(/reduction/);
  });
});

describe('metrics', () => {
  // predictions [2, 0, 1, 2] against labels [2, 0, 2, 0]
  const logits = Float32Array.of(1, 2, 3, 3, 2, 1, 1, 3, 2, 2, 1, 3);
  const labels = Int32Array.of(2, 0, 2, 0);

  it('graph-side accuracy, top-k, binary accuracy and confusion matrix', async () => {
    const g = new Graph();
    const l = g.input('logits', ['batch', 3]);
    const y = g.input('y', ['batch'], 'i32');
    const hot = g.input('hot', ['batch', 3]);
    const z = g.input('z', ['batch']);
    const t = g.input('t', ['batch']);
    const v = await values(g, {
      logits, y: labels, hot: Float32Array.of(0, 0, 1, 1, 0, 0, 0, 0, 1, 1, 0, 0), z: Float32Array.of(-1, 2, 0.5, -3), t: Float32Array.of(0, 1, 0, 0),
    }, {
      acc: accuracy(l, y), accHot: accuracy(l, hot), top1: topKAccuracy(l, y, 1), top2: topKAccuracy(l, y, 2), bin: binaryAccuracy(z, t), cm: confusionMatrixOp(l, y),
    });
    expect(v).toEqual({ acc: [0.5], accHot: [0.5], top1: [0.5], top2: [1], bin: [0.75], cm: [1, 0, 1, 0, 0, 0, 0, 1, 1] });
  });

  it('host-side helpers', () => {
    expect(Array.from(argMaxRows(logits, 3))).toEqual([2, 0, 1, 2]);
    expect(accuracyOf(logits, labels, 3)).toBe(0.5);
    expect(topKAccuracyOf(logits, labels, 3, 2)).toBe(1);
    const m = confusionMatrix(argMaxRows(logits, 3), labels, 3);
    expect(Array.from(m)).toEqual([1, 0, 1, 0, 0, 0, 0, 1, 1]);
    expect(formatConfusionMatrix(m, 3).split('\n')).toEqual(['   0 1 2', ' 0 1 0 1', ' 1 0 0 0', ' 2 0 1 1']);
    expect(() => confusionMatrix([0, 3], [0, 1], 3)).toThrow(/prediction 3 at 1 is out of range/);
    expect(() => accuracyOf(logits, labels, 5)).toThrow(/not whole rows/);
    expect(() => topKAccuracyOf(logits, Int32Array.of(0, 1, 2), 3, 1)).toThrow(/4 rows of logits but 3 labels/);
  });
});
