// The op table drives inference checks; every primitive must appear in it.
import { Graph, PRIMITIVE_NAMES, spec } from '@kiln/core';
import { NOT_IN_TABLE } from '../support/op-cases';
import { buildCase, caseName, OP_CASES } from '../support/harness';

describe('op table', () => {
  it('covers every primitive (or lists why not)', () => {
    const used = new Set<string>();
    for (const c of OP_CASES) buildCase(c).g.nodes.forEach((n) => used.add(n.op));
    const missing = PRIMITIVE_NAMES.filter((p) => !used.has(p) && !(p in NOT_IN_TABLE));
    expect(missing).toEqual([]);
  });

  it('covers every op of the design table', () => {
    const designOps = ['constant', 'zeros', 'ones', 'fill', 'range', 'randomUniform', 'randomNormal',
      'neg', 'abs', 'sign', 'exp', 'log', 'sqrt', 'rsqrt', 'square', 'reciprocal', 'sin', 'cos', 'relu', 'leakyRelu', 'elu', 'sigmoid', 'tanh', 'gelu', 'softplus',
      'add', 'sub', 'mul', 'div', 'pow', 'maximum', 'minimum', 'equal', 'notEqual', 'less', 'lessEqual', 'greater', 'greaterEqual', 'where',
      'sum', 'mean', 'max', 'min', 'prod', 'argMax', 'argMin', 'logSumExp', 'variance', 'softmax', 'logSoftmax', 'softmaxCrossEntropy', 'matmul',
      'reshape', 'transpose', 'broadcastTo', 'expandDims', 'squeeze', 'concat', 'split', 'slice', 'pad', 'gather', 'oneHot', 'cast',
      'conv2d', 'conv2dTranspose', 'maxPool2d', 'avgPool2d', 'batchNorm', 'layerNorm', 'dropout'];
    const rows = new Set(OP_CASES.map((c) => c.op));
    expect(designOps.filter((o) => !rows.has(o))).toEqual([]);
  });

  it('every primitive has a reference and elementwise ones an expression', () => {
    for (const name of PRIMITIVE_NAMES) {
      const s = spec(name);
      expect(typeof s.ref).toBe('function');
      expect(typeof s.infer).toBe('function');
      if (s.kind === 'elementwise') expect(typeof s.expr).toBe('function');
    }
  });
});

describe.each(OP_CASES.filter((c) => c.expectShape).map((c) => [caseName(c), c] as const))('inference %s', (_, c) => {
  it('has the expected shape', () => expect(buildCase(c).out.shape).toEqual(c.expectShape));
});

describe('shape and dtype inference', () => {
  const g = new Graph();
  const a = g.input('a', ['batch', 1, 3]);
  const b = g.input('b', [4, 1]);
  it('broadcasts with symbolic dims', () => expect(a.add(b).shape).toEqual(['batch', 4, 3]));
  it('keeps a symbolic dim through reductions', () => {
    expect(a.sum({ axes: [2] }).shape).toEqual(['batch', 1]);
    expect(a.sum({ axes: [1, 2], keepDims: true }).shape).toEqual(['batch', 1, 1]);
    expect(a.mean().shape).toEqual([]);
  });
  it('resolves reshape -1 against a symbolic dim', () => {
    const x = g.input('img', ['batch', 28, 28]);
    expect(x.reshape([-1, 784]).shape).toEqual(['batch', 784]);
    expect(x.reshape(['batch', -1]).shape).toEqual(['batch', 784]);
  });
  it('infers matmul with batch broadcast', () => {
    const m = g.input('m', [5, 1, 2, 3]);
    const n = g.input('n', [4, 3, 6]);
    expect(m.matmul(n).shape).toEqual([5, 4, 2, 6]);
    expect(m.matmul(g.input('v', [3])).shape).toEqual([5, 1, 2]);
  });
  it('comparisons give bool, argMax i32, cast any', () => {
    expect(b.less(1).dtype).toBe('bool');
    expect(b.argMax().dtype).toBe('i32');
    expect(b.cast('i32').dtype).toBe('i32');
  });
  it('rank 0 to 5', () => {
    for (let r = 0; r <= 5; r++) {
      const x = g.input(`r${r}`, Array(r).fill(2));
      expect(x.exp().add(x).shape).toEqual(Array(r).fill(2));
      expect(x.sum().shape).toEqual([]);
    }
  });
  it('conv and pool shapes', () => {
    const x = g.input('x', ['batch', 3, 28, 28]);
    const w = g.param('w', [8, 3, 5, 5]);
    expect(x.conv2d(w, { stride: 2, padding: 2 }).shape).toEqual(['batch', 8, 14, 14]);
    expect(x.maxPool2d({ kernel: 2 }).shape).toEqual(['batch', 3, 14, 14]);
    expect(x.conv2d(w, { padding: 'same' }).shape).toEqual(['batch', 8, 28, 28]);
    const wt = g.param('wt', [3, 4, 3, 3]);
    expect(x.conv2dTranspose(wt, { stride: 2, padding: 1, outputPadding: 1 }).shape).toEqual(['batch', 4, 56, 56]);
  });
});
