// Layer objects own their params: a second call reuses them, gradients sum over the calls,
// and a call that does not fit the params made by the first is a typed error.
import { evaluate, Graph, GraphError, ShapeError, type Tensor } from '@kiln/core';
import { batchNorm, conv2d, dense, embedding, layerNorm, paramCount, rmsNorm, sequential } from '../../packages/nn/src/layers';
import { gradCheck, values } from './gradcheck';

describe('layer objects share their params', () => {
  test('dense called on two tensors: one kernel and bias, gradient is the sum over the uses', () => {
    const g = new Graph({ seed: 2 });
    const a = g.input('a', [3, 4]), b = g.input('b', [2, 4]);
    const cell = dense(4, { activation: 'tanh' });
    const ya = cell(a), yb = cell(b), yc = cell(ya);
    expect([...g.params.keys()]).toEqual(['dense_1/kernel', 'dense_1/bias']);
    expect(paramCount(g)).toBe(4 * 4 + 4);
    const feeds = { a: values(12, 1), b: values(8, 2) };
    // d(sum ya + sum yb)/dW equals the sum of the gradients of each use taken alone.
    const kernel = g.tensor(g.params.get('dense_1/kernel')!.id);
    const [both] = g.grad(ya.sum().add(yb.sum()), [kernel]);
    const [onlyA] = g.grad(ya.sum(), [kernel]);
    const [onlyB] = g.grad(yb.sum(), [kernel]);
    const r = evaluate(g, feeds, { both: both!, onlyA: onlyA!, onlyB: onlyB! });
    r.both.data.forEach((v, i) => expect(v).toBeCloseTo(r.onlyA.data[i]! + r.onlyB.data[i]!, 12));
    expect(Array.from(r.onlyA.data).some((v, i) => Math.abs(v) > 1e-3 && Math.abs(r.onlyB.data[i]!) > 1e-3)).toBe(true);
    // Through a chain of uses too (yc = cell(cell(a))), against central differences.
    expect(gradCheck(g, yc.add(yb.sum()), feeds, { inputs: ['a'], params: ['dense_1/kernel', 'dense_1/bias'] })).toBeGreaterThan(10);
  });

  test('sequential built once and applied twice reuses every layer', () => {
    const g = new Graph();
    const mlp = sequential([dense(5, { activation: 'relu' }), layerNorm(), dense(2)]);
    const x1 = g.input('x1', [2, 3]), x2 = g.input('x2', [4, 3]);
    mlp(x1); mlp(x2);
    expect([...g.params.keys()]).toEqual(['dense_1/kernel', 'dense_1/bias', 'layer_norm_1/gamma', 'layer_norm_1/beta', 'dense_2/kernel', 'dense_2/bias']);
  });

  test.each([
    ['dense', () => dense(3, { name: 'cell' }), [1, 2]],
    ['conv2d', () => conv2d(2, { kernel: 1, name: 'cell' }), [1, 1, 2, 2]],
    ['layer_norm', () => layerNorm({ name: 'cell' }), [1, 2]],
    ['embedding', () => embedding(4, 2, { name: 'cell' }), [1, 2]],
  ] as const)('a %s layer object called in a second graph is a GraphError naming it and both graphs', (kind, make, shape) => {
    const cell = make() as (x: Tensor) => Tensor;
    const g1 = new Graph(), g2 = new Graph();
    const input = (g: Graph, name: string) => g.input(name, [...shape], kind === 'embedding' ? 'i32' : 'f32');
    cell(input(g1, 'x')); cell(input(g1, 'y'));
    const params = g2.params.size;
    expect(() => cell(input(g2, 'z'))).toThrow(new RegExp(`^${kind} 'cell': this layer object's params live in graph #\\d+ \\(inputs x, y\\); it was called in graph #\\d+ \\(inputs z\\)`));
    expect(() => cell(input(g2, 'w'))).toThrow(GraphError);
    expect(g2.params.size).toBe(params);
    expect([...g1.params.keys()].filter((k) => k.startsWith('cell/')).length).toBeGreaterThan(0);
  });

  test('embedding, conv2d, layerNorm and rmsNorm reuse; attend ties the output projection to the table', () => {
    const g = new Graph();
    const emb = embedding(10, 4);
    const ids = g.input('ids', [2, 3], 'i32');
    const h = emb(ids);
    emb(g.input('more', [5], 'i32'));
    const logits = emb.attend(rmsNorm(h));
    expect(logits.shape).toEqual([2, 3, 10]);
    const conv = conv2d(2, { kernel: 1 }), ln = layerNorm(), rms = rmsNorm();
    const img = g.input('img', [1, 3, 2, 2]);
    conv(conv2d(3, { kernel: 1 })(img)); conv(img);
    ln(h); ln(h); rms(h); rms(h);
    expect([...g.params.keys()]).toEqual([
      'embedding_1/embeddings', 'rms_norm_1/gamma', 'conv2d_1/kernel', 'conv2d_1/bias', 'conv2d_2/kernel', 'conv2d_2/bias',
      'layer_norm_1/gamma', 'layer_norm_1/beta', 'rms_norm_2/gamma',
    ]);
    // The tied table gets gradient from the lookup and the projection.
    const feeds = { ids: Int32Array.of(1, 2, 3, 9, 0, 1) };
    expect(gradCheck(g, logits, feeds, { params: ['embedding_1/embeddings', 'rms_norm_1/gamma'] }, { samples: 12 })).toBe(16);
  });

  test('a call that does not fit the params is a ShapeError; batchNorm runs once per graph', () => {
    const g = new Graph();
    const cell = dense(3);
    cell(g.input('a', [1, 4]));
    expect(() => cell(g.input('b', [1, 5]))).toThrow(ShapeError);
    expect(() => cell(g.input('c', [1, 5]))).toThrow(/dense 'dense_1': its params were made for 4 input features; called again with 5 input features/);
    const bn = batchNorm();
    bn(g.input('d', [2, 3]));
    expect(() => bn(g.input('e', [2, 3]))).toThrow(GraphError);
    // The functional form makes a new layer each call: a repeated explicit name is refused.
    dense(g.input('f', [1, 2]), 2, { name: 'fc' });
    expect(() => dense(g.input('h', [1, 2]), 2, { name: 'fc' })).toThrow(/a layer named 'fc' already has params/);
  });
});

describe('rmsNorm', () => {
  test('x / sqrt(mean(x^2) + eps) * gamma, and its gradients', () => {
    const g = new Graph();
    const x = g.input('x', [2, 3]);
    const y = rmsNorm(x, { epsilon: 1e-6, gammaInit: [1, 2, 3] });
    const xv = [1, 2, 3, -1, 0, 4];
    const r = evaluate(g, { x: xv }, { y });
    for (let row = 0; row < 2; row++) {
      const s = xv.slice(row * 3, row * 3 + 3);
      const rms = Math.sqrt(s.reduce((a, v) => a + v * v, 0) / 3 + 1e-6);
      s.forEach((v, j) => expect(r.y.data[row * 3 + j]).toBeCloseTo((v / rms) * (j + 1), 10));
    }
    expect(gradCheck(g, y, { x: values(6, 3) }, { inputs: ['x'], params: ['rms_norm_1/gamma'] })).toBe(9);
  });
});
