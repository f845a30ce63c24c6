// Arguments of every public op are checked at the op boundary (ops/args.ts): one row per bad
// call, each expecting a typed error whose message names the op, the argument and what was
// wrong, thrown before the op adds any node (a TypeError from inside a composite, or a
// half-built graph, fails the row). Rows are written for every op with options; rows that
// every op shares (a missing first operand, a stray trailing argument) are generated from
// the op table, and a last test checks that every public op has rows.
import { concat, Graph, GraphError, type KilnError, ops, OptionsError, PRIMITIVE_NAMES, spec, type Tensor } from '@kiln/core';

type ErrorClass = new (...args: never[]) => KilnError;
interface Ctx { g: Graph; x: Tensor; img: Tensor; w: Tensor; i: Tensor; b: Tensor }
/** [op, the bad call, the error class, parts its message must contain]. */
type Row = [op: string, call: (c: Ctx) => unknown, type: ErrorClass, parts: (string | RegExp)[]];

function setup(): Ctx {
  const g = new Graph();
  return { g, x: g.input('x', [2, 3]), img: g.input('img', [1, 2, 4, 4]), w: g.input('w', [3, 2, 3, 3]), i: g.input('i', [2], 'i32'), b: g.input('b', [2, 3], 'bool') };
}

const bad = undefined as never;
const any = (v: unknown) => v as never;
const table = ops as unknown as Record<string, (...a: unknown[]) => unknown>;
const conv = { stride: [1, 1], padding: [0, 0, 0, 0], dilation: [1, 1], groups: 1 };
const pool = { kernel: [2, 2], stride: [2, 2], padding: [0, 0, 0, 0] };

const WRITTEN: Row[] = [
  ['leakyRelu', ({ x }) => x.leakyRelu(any('a')), OptionsError, ["argument 'alpha'", 'a number or { alpha }', 'got "a"']],
  ['leakyRelu', () => ops.leakyRelu(bad), GraphError, ["argument 'x'", 'got undefined']],
  ['elu', ({ x }) => x.elu(any({ alpha: null })), OptionsError, ['elu alpha: invalid options', 'alpha']],
  ['cast', ({ x }) => x.cast(any('f64')), OptionsError, ["argument 'dtype'", "'f32', 'i32' or 'bool'", 'got "f64"']],
  ['cast', ({ x }) => x.cast(bad), OptionsError, ["argument 'dtype'", 'got undefined']],
  ['where', ({ b, x }) => b.where(x, bad), GraphError, ["argument 'b'", 'got undefined']],
  ['where', ({ x }) => ops.where(x, x, any([1, 2])), GraphError, ["argument 'b'", 'got [1, 2]']],
  ['clip', ({ x }) => x.clip(0, bad), OptionsError, ["argument 'hi'", 'a number', 'got undefined']],
  ['clip', ({ x }) => x.clip(any('0'), 1), OptionsError, ["argument 'lo'", 'got "0"']],
  ['sum', ({ x }) => x.sum(any('a')), OptionsError, ["argument 'options'", 'an axis, a list of axes or { axes, keepDims }', 'got "a"']],
  ['sum', ({ x }) => x.sum(any({ axis: 0 })), OptionsError, ['sum: invalid options', 'axis']],
  ['prod', ({ x }) => x.prod(0.5), OptionsError, ["argument 'options'", 'got 0.5']],
  ['max', ({ x }) => x.max(any([0, 'a'])), OptionsError, ["argument 'options'", 'got [0, "a"]']],
  ['min', ({ x }) => x.min(any({ keepDims: 1 })), OptionsError, ['min: invalid options', 'keepDims']],
  ['argMax', ({ x }) => x.argMax(any([0])), OptionsError, ["argument 'options'", 'an axis or { axis, keepDims }', 'got [0]']],
  ['argMin', ({ x }) => x.argMin(any({ axes: [0] })), OptionsError, ['argMin: invalid options', 'axes']],
  ['mean', ({ x }) => x.mean(any(true)), OptionsError, ["argument 'options'", 'got true']],
  ['variance', ({ x }) => x.variance(any({ axes: 'all' })), OptionsError, ['variance: invalid options', 'axes']],
  ['logSumExp', ({ x }) => x.logSumExp(any('-1')), OptionsError, ["argument 'options'", 'got "-1"']],
  ['softmax', ({ x }) => x.softmax(any({ dim: 1 })), OptionsError, ['softmax: invalid options', 'dim']],
  ['softmax', ({ x }) => x.softmax(1.5), OptionsError, ["argument 'options'", 'an axis or { axis }', 'got 1.5']],
  ['logSoftmax', ({ x }) => x.logSoftmax(any('last')), OptionsError, ["argument 'options'", 'got "last"']],
  ['softmaxCrossEntropy', ({ x }) => x.softmaxCrossEntropy(bad), GraphError, ["argument 'labels'", 'a Tensor', 'got undefined']],
  ['softmaxCrossEntropy', ({ x, i }) => x.softmaxCrossEntropy(i, { labelSmoothing: 2 }), OptionsError, ['softmaxCrossEntropy: invalid options', 'labelSmoothing']],
  ['matmul', ({ x }) => x.matmul(bad), GraphError, ["argument 'b'", 'a Tensor', 'got undefined']],
  ['matmul', ({ x }) => ops.matmul(x, any(3)), GraphError, ["argument 'b'", 'got 3']],
  ['matmul', ({ x }) => x.matmul(x, any({ transpose: true })), OptionsError, ['matmul: invalid options', 'transpose']],
  ['reshape', ({ x }) => x.reshape(bad), OptionsError, ["argument 'shape'", 'a shape', 'got undefined']],
  ['reshape', ({ x }) => x.reshape(any(6)), OptionsError, ["argument 'shape'", 'got 6']],
  ['reshape', ({ x }) => x.reshape([2.5, 3]), OptionsError, ["argument 'shape'", 'got [2.5, 3]']],
  ['reshape', ({ x }) => (x.reshape as (...a: unknown[]) => unknown)(2, 3), OptionsError, ['too many arguments (3)', 'x, shape']],
  ['transpose', ({ x }) => x.transpose(any('T')), OptionsError, ["argument 'perm'", 'a permutation', 'got "T"']],
  ['transpose', ({ x }) => x.transpose(any({ axes: [1, 0] })), OptionsError, ['transpose perm: invalid options', 'axes']],
  ['broadcastTo', ({ x }) => x.broadcastTo(any(null)), OptionsError, ["argument 'shape'", 'got null']],
  ['expandDims', ({ x }) => x.expandDims(any('0')), OptionsError, ["argument 'axis'", 'an axis or { axis }', 'got "0"']],
  ['squeeze', ({ x }) => x.squeeze(any({ axis: 0 })), OptionsError, ['squeeze axes: invalid options', 'axis']],
  ['slice', ({ x }) => x.slice(bad), OptionsError, ["argument 'options'", 'an options object', 'got undefined']],
  ['slice', ({ x }) => x.slice(any(null)), OptionsError, ["argument 'options'", 'got null']],
  ['slice', ({ x }) => x.slice(any({ size: [1, 1] })), OptionsError, ['slice: invalid options', 'begin']],
  ['slice', ({ x }) => x.slice(any([0, 0])), OptionsError, ["argument 'options'", 'got [0, 0]']],
  ['pad', ({ x }) => x.pad(bad), OptionsError, ["argument 'pads'", '[before, after] pairs', 'got undefined']],
  ['pad', ({ x }) => x.pad({ pads: [[0, 0], [1, 1]], value: any('a') }), OptionsError, ['pad pads: invalid options', 'value']],
  ['pad', ({ x }) => x.pad([[0, -1], [0, 0]]), OptionsError, ["argument 'pads'", 'got [[…], […]]']],
  ['pad', ({ x }) => x.pad([[0, 0], [0, 0]], any('0')), OptionsError, ["argument 'value'", 'got "0"']],
  ['gather', ({ x }) => x.gather(bad), GraphError, ["argument 'indices'", 'got undefined']],
  ['gather', ({ x, i }) => x.gather(i, any('a')), OptionsError, ["argument 'options'", 'got "a"']],
  ['scatterAdd', ({ x, i }) => x.scatterAdd(i, bad), OptionsError, ["argument 'options'", 'got undefined']],
  ['scatterAdd', ({ x, i }) => x.scatterAdd(i, any({ axis: 0 })), OptionsError, ['scatterAdd: invalid options', 'size']],
  ['oneHot', ({ i }) => i.oneHot(bad), OptionsError, ["argument 'depth'", 'got undefined']],
  ['oneHot', ({ i }) => i.oneHot(-1), OptionsError, ["argument 'depth'", 'got -1']],
  ['oneHot', ({ i }) => i.oneHot({ depth: 2.5 }), OptionsError, ['oneHot depth: invalid options', 'depth']],
  ['split', ({ x }) => x.split(bad), OptionsError, ["argument 'sizes'", 'a number of equal parts or a list of sizes', 'got undefined']],
  ['split', ({ x }) => x.split(any('2')), OptionsError, ["argument 'sizes'", 'got "2"']],
  ['split', ({ x }) => x.split(3, any('last')), OptionsError, ["argument 'axis'", 'got "last"']],
  ['conv2d', ({ img }) => img.conv2d(bad), GraphError, ["argument 'w'", 'a Tensor', 'got undefined']],
  ['conv2d', ({ img, w }) => img.conv2d(w, { stride: 0 }), OptionsError, ['conv2d: invalid options', 'stride']],
  ['conv2d', ({ img, w }) => img.conv2d(w, { padding: any('full') }), OptionsError, ['conv2d: invalid options', 'padding']],
  ['conv2d', ({ img, w }) => img.conv2d(w, any({ stides: 2 })), OptionsError, ['conv2d: invalid options', 'stides']],
  ['conv2d', ({ img, w }) => img.conv2d(w, any(2)), OptionsError, ["argument 'options'", 'an options object', 'got 2']],
  ['conv2dTranspose', ({ img, w }) => img.conv2dTranspose(w, { outputPadding: -1 }), OptionsError, ['conv2dTranspose: invalid options', 'outputPadding']],
  ['conv2dBackpropFilter', ({ img, x }) => img.conv2dBackpropFilter(x, {}), OptionsError, ['conv2dBackpropFilter attrs: invalid options', 'stride']],
  ['conv2dBackpropFilter', ({ img }) => img.conv2dBackpropFilter(bad, { ...conv, filterShape: [1, 2, 1, 1] }), GraphError, ["argument 'dy'", 'got undefined']],
  ['maxPool2d', ({ img }) => img.maxPool2d(bad), OptionsError, ["argument 'options'", 'got undefined']],
  ['maxPool2d', ({ img }) => img.maxPool2d(any({})), OptionsError, ['maxPool2d: invalid options', 'kernel']],
  ['maxPool2d', ({ img }) => img.maxPool2d({ kernel: any([2]) }), OptionsError, ['maxPool2d: invalid options', 'kernel']],
  ['maxPool2dGrad', ({ img }) => img.maxPool2dGrad(bad, pool), GraphError, ["argument 'dy'", 'got undefined']],
  ['avgPool2d', ({ img }) => img.avgPool2d({ kernel: 2, stride: any('a') }), OptionsError, ['avgPool2d: invalid options', 'stride']],
  ['batchNorm', ({ x }) => x.batchNorm(bad), OptionsError, ["argument 'options'", 'got undefined']],
  ['batchNorm', ({ x }) => x.batchNorm(any({ mean: 0 })), OptionsError, ['batchNorm: invalid options', 'variance']],
  ['batchNorm', ({ x }) => x.batchNorm({ mean: any('a'), variance: 1 }), OptionsError, ['batchNorm: invalid options', 'mean', 'a Tensor, a number or a boolean']],
  ['layerNorm', ({ x }) => x.layerNorm({ axes: any(1) }), OptionsError, ['layerNorm: invalid options', 'axes']],
  ['layerNorm', ({ x }) => x.layerNorm({ scale: any('a') }), OptionsError, ['layerNorm: invalid options', 'scale']],
  ['dropout', ({ x }) => x.dropout(bad), OptionsError, ["argument 'options'", 'got undefined']],
  ['dropout', ({ x }) => x.dropout(any(0.5)), OptionsError, ["argument 'options'", 'an options object', 'got 0.5']],
  ['dropout', ({ x }) => x.dropout({ rate: 0.5, training: any('yes') }), OptionsError, ['dropout: invalid options', 'training']],
  ['concat', () => concat(bad), OptionsError, ["argument 'xs'", 'a non-empty array of Tensors', 'got undefined']],
  ['concat', () => concat([]), OptionsError, ["argument 'xs'", 'got []']],
  ['concat', ({ x }) => concat([x, any(3)]), OptionsError, ["argument 'xs'", 'got [object, 3]']],
  ['concat', ({ x }) => ops.concat([x, x], any('a')), OptionsError, ["argument 'axis'", 'got "a"']],
  ['cumsum', ({ x }) => x.cumsum(bad), OptionsError, ["argument 'attrs'", 'got undefined']],
  ['cumsum', ({ x }) => x.cumsum(any({ axis: 0, exclusive: 'yes' })), OptionsError, ['cumsum attrs: invalid options', 'exclusive']],
  ['add', ({ x }) => x.add(any(new Float32Array(3))), GraphError, ["argument 'b'", 'got Float32Array']],
  ['add', () => ops.add(1, 2), GraphError, ['needs at least one Tensor argument']],
  // the Graph builder's own arguments
  ['grad', ({ g }) => g.grad(bad, []), GraphError, ["argument 'y'", 'got undefined']],
  ['grad', ({ g, x }) => g.grad(x, any(x)), OptionsError, ["argument 'xs'", 'an array of Tensors', 'got Tensor']],
  ['minimize', ({ g, x }) => g.minimize(x, bad), OptionsError, ["argument 'optimizer'", 'got undefined']],
  ['minimize', ({ g, x }) => g.minimize(x, { name: 'noop', apply: () => {} }, any({ parms: [] })), OptionsError, ['minimize: invalid options', 'parms']],
  ['param', ({ g }) => g.param('p', [2], any(3)), OptionsError, ["param 'p'", 'options must be an object', 'got 3']],
];

// Every op that takes tensors: a missing first operand, and a stray trailing argument.
const CALLABLE = PRIMITIVE_NAMES.filter((n) => {
  const s = spec(n);
  return s.kind !== 'source' && s.kind !== 'state' && typeof s.arity === 'number' && s.arity > 0;
});
const GENERATED: Row[] = [
  ...Object.keys(ops).filter((n) => n !== 'concat').map((n): Row => [n, () => table[n]!(undefined), GraphError, ["argument '", 'got undefined']]),
  ...CALLABLE.map((n): Row => [n, ({ x }) => table[n]!(...Array(spec(n).arity as number).fill(x), 'bad'), OptionsError, [/got "bad"|too many arguments/]]),
];

describe.each([['written', WRITTEN], ['generated', GENERATED]] as const)('%s rows', (_, rows) => {
  test.each(rows.map((r, k) => [`${r[0]} #${k}`, r] as const))('%s', (_name, [op, call, type, parts]) => {
    const c = setup();
    const before = c.g.nodes.length;
    let error: unknown;
    try {
      call(c);
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(type);
    const message = (error as Error).message;
    expect(message.startsWith(`${op}`)).toBe(true);
    for (const p of parts) expect(message).toMatch(typeof p === 'string' ? new RegExp(p.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')) : p);
    expect(c.g.nodes.length).toBe(before); // refused before any node was added
  });
});

test('every public op has written rows, and every op is in the generated ones', () => {
  const written = new Set(WRITTEN.map((r) => r[0]));
  const derivedWithoutOptions = CALLABLE.filter((n) => Object.keys((spec(n).attrs as unknown as { shape: object }).shape).length === 0);
  const missing = Object.keys(ops).filter((n) => !written.has(n) && !derivedWithoutOptions.includes(n as never));
  expect(missing).toEqual([]);
  expect(new Set(GENERATED.map((r) => r[0]))).toEqual(new Set(Object.keys(ops).filter((n) => n !== 'concat')));
});

test('null and undefined in an optional place mean the default', () => {
  const { x, img, w } = setup();
  expect(x.softmax(any(null)).shape).toEqual([2, 3]);
  expect(img.conv2d(w, any(null)).shape).toEqual([1, 3, 2, 2]);
  expect(x.leakyRelu(any(null)).node.attrs).toEqual({ alpha: 0.2 });
  expect(x.sum(undefined).shape).toEqual([]);
});
