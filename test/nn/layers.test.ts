// Layers: output shapes, param names and counts, values on hand-made params, batchNorm's
// train/eval behaviour, dropout's keep rate and its identity at evaluation.
import { compileWith, createReferenceBackend, Graph, GraphError, OptionsError, ShapeError, type Tensor } from '@kiln/core';
import {
  activationLayer, avgPool2d, batchNorm, conv2d, dense, dropout, embedding, flatten, globalAvgPool2d, layerNorm, maxPool2d, paramCount, sequential,
} from '../../packages/nn/src/layers';

const run = async (g: Graph, feeds: Record<string, Float32Array | Int32Array>, fetches: Record<string, Tensor>, train = false) => {
  const exe = await compileWith(g, createReferenceBackend());
  return { exe, out: await exe.run(feeds, fetches, { train }) };
};

describe('layer shapes and param counts', () => {
  type Case = { name: string; input: (g: Graph) => Tensor; layer: (x: Tensor) => Tensor; shape: (string | number)[]; params: number; all?: number; names?: string[] };
  const f32 = (shape: (string | number)[]) => (g: Graph) => g.input('x', shape);
  const cases: Case[] = [
    { name: 'dense', input: f32(['batch', 5]), layer: (x) => dense(x, 3), shape: ['batch', 3], params: 18, names: ['dense_1/kernel', 'dense_1/bias'] },
    { name: 'dense without bias', input: f32(['batch', 5]), layer: (x) => dense(x, 3, { useBias: false }), shape: ['batch', 3], params: 15, names: ['dense_1/kernel'] },
    { name: 'dense on rank 3', input: f32(['batch', 4, 5]), layer: (x) => dense(x, 3, { activation: 'relu' }), shape: ['batch', 4, 3], params: 18 },
    { name: 'conv2d valid', input: f32(['batch', 3, 8, 8]), layer: (x) => conv2d(x, 4, { kernel: 3 }), shape: ['batch', 4, 6, 6], params: 4 * 3 * 9 + 4, names: ['conv2d_1/kernel', 'conv2d_1/bias'] },
    { name: 'conv2d same, stride 2', input: f32(['batch', 3, 8, 8]), layer: (x) => conv2d(x, 4, { kernel: 3, padding: 'same', stride: 2 }), shape: ['batch', 4, 4, 4], params: 112 },
    { name: 'conv2d grouped 5x3', input: f32(['batch', 4, 9, 9]), layer: (x) => conv2d(x, 6, { kernel: [5, 3], groups: 2, useBias: false }), shape: ['batch', 6, 5, 7], params: 6 * 2 * 15 },
    { name: 'maxPool2d', input: f32(['batch', 4, 8, 8]), layer: (x) => maxPool2d(x), shape: ['batch', 4, 4, 4], params: 0 },
    { name: 'avgPool2d same', input: f32(['batch', 4, 8, 8]), layer: (x) => avgPool2d(x, { kernel: 3, stride: 1, padding: 'same' }), shape: ['batch', 4, 8, 8], params: 0 },
    { name: 'globalAvgPool2d', input: f32(['batch', 4, 8, 8]), layer: (x) => globalAvgPool2d(x), shape: ['batch', 4], params: 0 },
    { name: 'flatten', input: f32(['batch', 4, 3, 2]), layer: (x) => flatten(x), shape: ['batch', 24], params: 0 },
    { name: 'dropout', input: f32(['batch', 7]), layer: (x) => dropout(x, 0.5), shape: ['batch', 7], params: 0 },
    { name: 'batchNorm NCHW', input: f32(['batch', 4, 6, 6]), layer: (x) => batchNorm(x), shape: ['batch', 4, 6, 6], params: 8, all: 16, names: ['batch_norm_1/moving_mean', 'batch_norm_1/moving_variance', 'batch_norm_1/gamma', 'batch_norm_1/beta'] },
    { name: 'batchNorm features', input: f32(['batch', 5]), layer: (x) => batchNorm(x, { scale: false }), shape: ['batch', 5], params: 5, all: 15 },
    { name: 'layerNorm', input: f32(['batch', 5]), layer: (x) => layerNorm(x), shape: ['batch', 5], params: 10, names: ['layer_norm_1/gamma', 'layer_norm_1/beta'] },
    { name: 'layerNorm over 2 axes', input: f32(['batch', 3, 4]), layer: (x) => layerNorm(x, { axes: [1, 2] }), shape: ['batch', 3, 4], params: 24 },
    { name: 'embedding', input: (g) => g.input('x', ['batch', 7], 'i32'), layer: (x) => embedding(x, 11, 3), shape: ['batch', 7, 3], params: 33, names: ['embedding_1/embeddings'] },
    {
      name: 'sequential CNN', input: f32(['batch', 1, 8, 8]),
      layer: sequential([conv2d(4, { kernel: 3, padding: 'same' }), batchNorm(), activationLayer('relu'), maxPool2d(), flatten(), dense(10, { activation: 'relu' }), dropout(0.1), dense(3)]),
      shape: ['batch', 3], params: (36 + 4) + 8 + (64 * 10 + 10) + (10 * 3 + 3), all: (36 + 4) + 16 + 650 + 33,
    },
  ];

  it.each(cases)('$name', async (c) => {
    const g = new Graph({ seed: 3 });
    const x = c.input(g);
    const y = c.layer(x);
    expect(y.shape).toEqual(c.shape);
    expect(paramCount(g)).toBe(c.params);
    expect(paramCount(g, { trainable: false })).toBe(c.all ?? c.params);
    if (c.names) expect([...g.params.keys()]).toEqual(c.names);
    // Runs, with a concrete batch of 2, to the inferred shape.
    const concrete = x.shape.map((d) => (typeof d === 'number' ? d : 2));
    const n = concrete.reduce((a, b) => a * b, 1);
    const feed = x.dtype === 'i32' ? Int32Array.from({ length: n }, (_, i) => i % 11) : Float32Array.from({ length: n }, (_, i) => Math.sin(i));
    for (const train of [false, true]) {
      if (train && g.updates.length === 0) continue;
      const { out } = await run(g, { x: feed }, { y }, train);
      expect(out.y.shape).toEqual(c.shape.map((d) => (typeof d === 'number' ? d : 2)));
      expect(Array.from(out.y.data).every(Number.isFinite)).toBe(true);
    }
  });
});

describe('layer names', () => {
  it('count per kind and graph, skip taken names, and take explicit names', () => {
    const g = new Graph();
    const x = g.input('x', ['batch', 2]);
    dense(x, 2, { name: 'dense_2' });
    dense(dense(x, 2), 2);
    conv2d(g.input('img', ['batch', 1, 4, 4]), 1, { kernel: 1 });
    expect([...g.params.keys()].filter((k) => k.endsWith('kernel'))).toEqual(['dense_2/kernel', 'dense_1/kernel', 'dense_3/kernel', 'conv2d_1/kernel']);
    const g2 = new Graph();
    dense(g2.input('x', [1, 2]), 1);
    expect([...g2.params.keys()]).toEqual(['dense_1/kernel', 'dense_1/bias']);
    expect(() => dense(x, 2, { name: 'dense_1' })).toThrow(GraphError);
    expect(() => dense(x, 2, { name: '9bad name' })).toThrow(OptionsError);
  });

  it('refuses bad options and shapes with clear errors', () => {
    const g = new Graph();
    const x = g.input('x', ['batch', 5]);
    expect(() => dense(x, 0)).toThrow(/units must be a positive integer/);
    expect(() => dense(x, 3, { activation: 'nope' as 'relu' })).toThrow(OptionsError);
    expect(() => dense(x, 3, { kernelInit: 'glorotUniformm' as 'zeros' })).toThrow(OptionsError);
    expect(() => dense(x, 3, { units: 3 } as never)).toThrow(/units/);
    expect(() => dense(g.input('s', [4, 'n']), 3)).toThrow(ShapeError);
    expect(() => conv2d(x, 3, { kernel: 3 })).toThrow(/NCHW/);
    expect(() => conv2d(g.input('i', ['batch', 3, 5, 5]), 4, { kernel: 3, groups: 2 })).toThrow(/groups 2 must divide/);
    expect(() => dropout(x, 1)).toThrow(/rate must be in \[0, 1\)/);
    expect(() => embedding(x, 10, 2)).toThrow(/must be i32/);
    expect(() => batchNorm(x, { axis: 0 })).toThrow(/batch axis/);
    expect(() => sequential([dense(2), 3 as never])).toThrow(/item 1 is not a layer/);
  });
});

describe('layer values', () => {
  it('dense computes activation(x W + b)', async () => {
    const g = new Graph();
    const x = g.input('x', ['batch', 2]);
    const y = dense(x, 2, { kernelInit: Float32Array.of(1, -1, 2, 0.5), biasInit: [0.5, -4], activation: 'relu' });
    const { out } = await run(g, { x: Float32Array.of(1, 2, -1, 3) }, { y });
    // [1,2] -> [1+4+0.5, -1+1-4] = [5.5, -4] -> relu; [-1,3] -> [-1+6+0.5, 1+1.5-4] = [5.5, -1.5]
    expect(Array.from(out.y.data)).toEqual([5.5, 0, 5.5, 0]);
  });

  it('conv2d adds one bias per output channel', async () => {
    const g = new Graph();
    const x = g.input('x', [1, 1, 2, 2]);
    const y = conv2d(x, 2, { kernel: 1, kernelInit: [1, -1], biasInit: [10, 20] });
    const { out } = await run(g, { x: Float32Array.of(1, 2, 3, 4) }, { y });
    expect(Array.from(out.y.data)).toEqual([11, 12, 13, 14, 19, 18, 17, 16]);
  });

  it('embedding looks up rows', async () => {
    const g = new Graph();
    const ids = g.input('ids', ['batch'], 'i32');
    const y = embedding(ids, 3, 2, { init: [0, 1, 10, 11, 20, 21] });
    const { out } = await run(g, { ids: Int32Array.of(2, 0, 2) }, { y });
    expect(Array.from(out.y.data)).toEqual([20, 21, 0, 1, 20, 21]);
  });

  it('layerNorm normalises each example and applies gamma/beta', async () => {
    const g = new Graph();
    const x = g.input('x', ['batch', 4]);
    const y = layerNorm(x, { gammaInit: [2, 2, 2, 2], betaInit: [1, 1, 1, 1], epsilon: 1e-12 });
    const { out } = await run(g, { x: Float32Array.of(1, 2, 3, 4, 10, 10, 10, 14) }, { y });
    const z = (v: number[]) => { const m = v.reduce((a, b) => a + b) / 4; const s = Math.sqrt(v.reduce((a, b) => a + (b - m) ** 2, 0) / 4); return v.map((t) => 2 * (t - m) / s + 1); };
    [...z([1, 2, 3, 4]), ...z([10, 10, 10, 14])].forEach((e, i) => expect(out.y.data[i]).toBeCloseTo(e, 5));
  });
});

describe('batchNorm train/eval', () => {
  const data = Float32Array.of(1, 10, 3, 20, 5, 30, 7, 40); // [4, 2]: column means 4, 25; biased variances 5, 125

  it('uses batch statistics and updates the running ones on train steps only', async () => {
    const g = new Graph();
    const x = g.input('x', ['batch', 2]);
    const y = batchNorm(x, { momentum: 0.5, epsilon: 1e-9 });
    const exe = await compileWith(g, createReferenceBackend());
    const stats = async () => [...(await exe.getParam('batch_norm_1/moving_mean')).data, ...(await exe.getParam('batch_norm_1/moving_variance')).data];

    // Evaluation before training: running stats 0 and 1, so y = x; nothing updated.
    const e0 = await exe.run({ x: data }, { y });
    Array.from(data).forEach((v, i) => expect(e0.y.data[i]).toBeCloseTo(v, 4));
    expect(await stats()).toEqual([0, 0, 1, 1]);

    // Training: normalised with the batch's own mean/variance; running stats move halfway.
    const t = await exe.run({ x: data }, { y }, { train: true });
    const want = [[1, 3, 5, 7].map((v) => (v - 4) / Math.sqrt(5)), [10, 20, 30, 40].map((v) => (v - 25) / Math.sqrt(125))];
    for (let r = 0; r < 4; r++) for (let c = 0; c < 2; c++) expect(t.y.data[r * 2 + c]).toBeCloseTo(want[c]![r]!, 4);
    const after = await stats();
    [2, 12.5, 3, 63].forEach((v, i) => expect(after[i]).toBeCloseTo(v, 4));

    // Evaluation again: the running statistics normalise, and stay as they are.
    const e1 = await exe.run({ x: data }, { y });
    expect(e1.y.data[0]).toBeCloseTo((1 - 2) / Math.sqrt(3), 4);
    expect(e1.y.data[1]).toBeCloseTo((10 - 12.5) / Math.sqrt(63), 4);
    expect(await stats()).toEqual(after);
    // An eval plan holds no batch reduction and no update.
    const ops = exe.plan({ y }, { bindings: { batch: 4 } }).steps.flatMap((s) => s.ops);
    expect(ops).not.toContain('sum');
    expect(ops).not.toContain('assign');
  });

  it('running stats are not trained by the optimizer', () => {
    const g = new Graph();
    batchNorm(g.input('x', ['batch', 3, 2, 2]));
    expect(g.trainableParams().map((p) => p.name)).toEqual(['batch_norm_1/gamma', 'batch_norm_1/beta']);
  });
});

describe('dropout', () => {
  it('keeps about 1 - rate of the elements, scaled by 1 / (1 - rate), fresh each run; identity at eval', async () => {
    const g = new Graph({ seed: 7 });
    const x = g.input('x', ['batch', 100]);
    const y = dropout(x, 0.3);
    g.assign(g.param('unused', [1]), 0); // a graph with updates, so train runs are allowed
    const exe = await compileWith(g, createReferenceBackend());
    const ones = new Float32Array(100 * 100).fill(1);
    const a = (await exe.run({ x: ones }, { y }, { train: true })).y.data;
    const kept = Array.from(a).filter((v) => v !== 0);
    expect(kept.length / a.length).toBeGreaterThan(0.68);
    expect(kept.length / a.length).toBeLessThan(0.72);
    kept.forEach((v) => expect(v).toBeCloseTo(1 / 0.7, 5));
    const b = (await exe.run({ x: ones }, { y }, { train: true })).y.data;
    expect(Array.from(b)).not.toEqual(Array.from(a));
    const e = (await exe.run({ x: ones }, { y })).y.data;
    expect(Array.from(e)).toEqual(Array.from(ones));
    expect(exe.plan({ y }, { bindings: { batch: 4 } }).steps.flatMap((s) => s.ops)).not.toContain('random');
  });

  it('is reproducible: same seed and run number, same mask', async () => {
    const masks: number[][] = [];
    for (let k = 0; k < 2; k++) {
      const g = new Graph({ seed: 7 });
      const y = dropout(g.input('x', [50]), 0.5);
      g.assign(g.param('unused', [1]), 0);
      const exe = await compileWith(g, createReferenceBackend());
      masks.push(Array.from((await exe.run({ x: new Float32Array(50).fill(1) }, { y }, { train: true })).y.data));
    }
    expect(masks[0]).toEqual(masks[1]);
  });
});
