/**
 * THE op table: one row per case, driving shape inference, reference values, backend
 * parity and gradient checks. Adding an op adds its rows here, and every backend is then
 * tested on it. Inputs are generated from a seed; `expect` rows are hand-computed.
 */
import { concat, type DType, type Graph, type Tensor } from '@kiln/core';

export type Gen = 'normal' | 'positive' | 'unit' | 'awayFromZero' | 'int' | 'bool' | { index: number } | number[];

export interface InputSpec {
  readonly shape: readonly number[];
  readonly dtype?: DType;
  readonly gen?: Gen;
}

export interface OpCase {
  /** The op under test (a primitive or composite name). */
  readonly op: string;
  readonly label?: string;
  readonly inputs: readonly InputSpec[];
  readonly build: (g: Graph, ...xs: Tensor[]) => Tensor;
  /** Hand-computed expected output (checked against the float64 reference). */
  readonly expect?: readonly number[];
  readonly expectShape?: readonly number[];
  /** Check gradients w.r.t. these f32 inputs (default: all f32 inputs when the op is differentiable). */
  readonly grad?: boolean | readonly number[];
  /** Per-row tolerance overrides (see TOLERANCE). */
  readonly atol?: number;
  readonly rtol?: number;
  /** Large cases run on device backends only (the float64 reference is slow on them but still the oracle). */
  readonly large?: boolean;
}

/**
 * Backend results are compared as |a - e| <= atol + rtol * |e|. f32 has 24 bits of mantissa
 * (~6e-8 relative); transcendental functions on GPUs are allowed a few ULP more, and sums
 * of n terms accumulate ~sqrt(n) rounding errors: 1e-5 relative + 1e-5 absolute covers
 * rows up to ~1e4 elements. Rows with long reductions or ill-conditioned ops override it.
 */
export const TOLERANCE = { atol: 1e-5, rtol: 1e-4 };

const f = (shape: number[], gen: Gen = 'normal'): InputSpec => ({ shape, gen });
const i32 = (shape: number[], gen: Gen = 'int'): InputSpec => ({ shape, dtype: 'i32', gen });
const bool = (shape: number[]): InputSpec => ({ shape, dtype: 'bool', gen: 'bool' });
const vals = (shape: number[], v: number[], dtype: DType = 'f32'): InputSpec => ({ shape, dtype, gen: v });

/** 65,535 workgroups of 256 threads, plus one element: forces a folded 2-D dispatch. */
export const BIG = 65535 * 256 + 1;

const unary = (op: string, gen: Gen, fn: (x: Tensor) => Tensor, extra: Partial<OpCase> = {}): OpCase[] => [
  { op, inputs: [f([2, 3], gen)], build: (_, x) => fn(x!), ...extra },
  { op, label: 'rank0', inputs: [f([], gen)], build: (_, x) => fn(x!), ...extra },
  { op, label: 'odd size', inputs: [f([3, 5, 67], gen)], build: (_, x) => fn(x!), ...extra },
];

const binary = (op: string, fn: (a: Tensor, b: Tensor) => Tensor, gen: Gen = 'normal', gen2: Gen = gen, extra: Partial<OpCase> = {}): OpCase[] => [
  { op, inputs: [f([2, 3], gen), f([2, 3], gen2)], build: (_, a, b) => fn(a!, b!), ...extra },
  { op, label: 'broadcast', inputs: [f([4, 1, 3], gen), f([5, 1], gen2)], build: (_, a, b) => fn(a!, b!), ...extra },
  { op, label: 'scalar', inputs: [f([], gen), f([3, 2], gen2)], build: (_, a, b) => fn(a!, b!), ...extra },
  { op, label: 'rank5', inputs: [f([2, 1, 3, 1, 2], gen), f([1, 2, 1, 2, 1], gen2)], build: (_, a, b) => fn(a!, b!), ...extra },
];

const compare = (op: string, fn: (a: Tensor, b: Tensor) => Tensor): OpCase[] => [
  { op, inputs: [vals([4], [1, 2, 3, NaN]), vals([4], [2, 2, 2, 1])], build: (_, a, b) => fn(a!, b!) },
  { op, label: 'broadcast int', inputs: [i32([3, 1]), i32([4])], build: (_, a, b) => fn(a!, b!) },
];

export const OP_CASES: readonly OpCase[] = [
  // ---- sources
  { op: 'constant', inputs: [], build: (g) => g.constant([[1, 2], [3, 4]]), expect: [1, 2, 3, 4], expectShape: [2, 2] },
  { op: 'fill', inputs: [], build: (g) => g.fill([2, 2], 7), expect: [7, 7, 7, 7] },
  { op: 'zeros', inputs: [], build: (g) => g.zeros([3]), expect: [0, 0, 0] },
  { op: 'ones', inputs: [], build: (g) => g.ones([2], 'i32'), expect: [1, 1] },
  { op: 'range', inputs: [], build: (g) => g.range(1, 7, 2), expect: [1, 3, 5] },
  { op: 'randomUniform', inputs: [], build: (g) => g.randomUniform([1000], { low: -2, high: 3, seed: 5 }), atol: 1e-5 },
  { op: 'randomNormal', inputs: [], build: (g) => g.randomNormal([1000], { mean: 1, std: 2, seed: 7 }), atol: 1e-4, rtol: 1e-4 },

  // ---- unary
  ...unary('neg', 'normal', (x) => x.neg()),
  { op: 'neg', label: 'int', inputs: [vals([3], [1, -2, 0], 'i32')], build: (_, x) => x!.neg(), expect: [-1, 2, 0] },
  ...unary('abs', 'awayFromZero', (x) => x.abs()),
  { op: 'abs', label: 'values', inputs: [vals([3], [-1.5, 0, 2])], build: (_, x) => x!.abs(), expect: [1.5, 0, 2] },
  ...unary('sign', 'awayFromZero', (x) => x.sign()),
  { op: 'sign', label: 'values', inputs: [vals([4], [-3, 0, 2, NaN])], build: (_, x) => x!.sign(), expect: [-1, 0, 1, NaN], grad: false },
  ...unary('exp', 'normal', (x) => x.exp()),
  { op: 'exp', label: 'values', inputs: [vals([3], [0, 1, -Infinity])], build: (_, x) => x!.exp(), expect: [1, Math.E, 0], grad: false },
  { op: 'exp', label: 'overflow', inputs: [vals([2], [100, 89])], build: (_, x) => x!.exp(), expect: [Infinity, Infinity], grad: false },
  ...unary('log', 'positive', (x) => x.log()),
  { op: 'log', label: 'values', inputs: [vals([3], [1, 0, -1])], build: (_, x) => x!.log(), expect: [0, -Infinity, NaN], grad: false },
  ...unary('sqrt', 'positive', (x) => x.sqrt()),
  ...unary('rsqrt', 'positive', (x) => x.rsqrt()),
  ...unary('square', 'normal', (x) => x.square()),
  ...unary('reciprocal', 'awayFromZero', (x) => x.reciprocal()),
  ...unary('sin', 'normal', (x) => x.sin()),
  ...unary('cos', 'normal', (x) => x.cos()),
  ...unary('relu', 'awayFromZero', (x) => x.relu()),
  { op: 'relu', label: 'NaN', inputs: [vals([4], [-1, 0, 2, NaN])], build: (_, x) => x!.relu(), expect: [0, 0, 2, NaN], grad: false },
  ...unary('leakyRelu', 'awayFromZero', (x) => x.leakyRelu(0.1)),
  ...unary('elu', 'awayFromZero', (x) => x.elu()),
  ...unary('sigmoid', 'normal', (x) => x.sigmoid()),
  { op: 'sigmoid', label: 'values', inputs: [vals([3], [0, 100, -100])], build: (_, x) => x!.sigmoid(), expect: [0.5, 1, 3.720075976020836e-44], grad: false, atol: 1e-6 },
  ...unary('tanh', 'normal', (x) => x.tanh()),
  { op: 'tanh', label: 'large', inputs: [vals([4], [50, -50, 0.1, NaN])], build: (_, x) => x!.tanh(), expect: [1, -1, Math.tanh(Math.fround(0.1)), NaN], grad: false },
  ...unary('gelu', 'normal', (x) => x.gelu()),
  ...unary('erf', 'normal', (x) => x.erf()),
  { op: 'erf', label: 'values', inputs: [vals([3], [0, 0.5, -1])], build: (_, x) => x!.erf(), expect: [0, 0.5204998778130465, -0.8427007929497149], grad: false, atol: 2e-7 },
  ...unary('softplus', 'normal', (x) => x.softplus()),
  { op: 'softplus', label: 'large', inputs: [vals([2], [100, -100])], build: (_, x) => x!.softplus(), expect: [100, 3.720075976020836e-44], grad: false, atol: 1e-6 },
  { op: 'softsign', inputs: [vals([5], [-3, -0.5, 0, 0.5, 3])], build: (_, x) => x!.softsign(), expect: [-0.75, -1 / 3, 0, 1 / 3, 0.75] },
  { op: 'cumsum', inputs: [vals([2, 3], [1, 2, 3, -1, 0.5, 4])], build: (_, x) => x!.cumsum({ axis: -1 }), expect: [1, 3, 6, -1, -0.5, 3.5] },
  { op: 'cumsum', label: 'exclusive reverse axis 0', inputs: [{ shape: [3, 2, 4] }], build: (_, x) => x!.cumsum({ axis: 0, exclusive: true, reverse: true }) },
  { op: 'isNaN', inputs: [vals([3], [1, NaN, Infinity])], build: (_, x) => x!.isNaN(), expect: [0, 1, 0] },
  { op: 'logicalNot', inputs: [bool([5])], build: (_, x) => x!.logicalNot() },
  { op: 'stopGradient', inputs: [f([3])], build: (_, x) => x!.stopGradient().mul(x!), grad: false },
  { op: 'cast', inputs: [vals([4], [1.7, -1.7, 0, 3])], build: (_, x) => x!.cast('i32'), expect: [1, -1, 0, 3] },
  { op: 'cast', label: 'bool', inputs: [vals([3], [0, 2, -1])], build: (_, x) => x!.cast('bool').cast('f32'), expect: [0, 1, 1] },
  { op: 'cast', label: 'to f32', inputs: [f([2, 3])], build: (_, x) => x!.cast('f32').mul(2), grad: true },

  // ---- binary
  ...binary('add', (a, b) => a.add(b)),
  { op: 'add', label: 'int', inputs: [vals([2], [2147483647, -3], 'i32'), vals([2], [1, 5], 'i32')], build: (_, a, b) => a!.add(b!), expect: [-2147483648, 2] },
  ...binary('sub', (a, b) => a.sub(b)),
  ...binary('mul', (a, b) => a.mul(b)),
  ...binary('div', (a, b) => a.div(b), 'normal', 'awayFromZero'),
  { op: 'div', label: 'by zero', inputs: [vals([3], [1, -1, 0]), vals([3], [0, 0, 0])], build: (_, a, b) => a!.div(b!), expect: [Infinity, -Infinity, NaN], grad: false },
  ...binary('pow', (a, b) => a.pow(b), 'positive', 'normal'),
  { op: 'pow', label: 'negative base', inputs: [vals([4], [-2, -2, -8, 0]), vals([4], [2, 3, 0.5, 0])], build: (_, a, b) => a!.pow(b!), expect: [4, -8, NaN, 1], grad: false },
  ...binary('maximum', (a, b) => a.maximum(b), 'unit', 'normal'),
  { op: 'maximum', label: 'NaN', inputs: [vals([3], [NaN, 1, 2]), vals([3], [0, NaN, 1])], build: (_, a, b) => a!.maximum(b!), expect: [NaN, NaN, 2], grad: false },
  ...binary('minimum', (a, b) => a.minimum(b), 'unit', 'normal'),
  { op: 'minimum', label: 'NaN', inputs: [vals([3], [NaN, 1, 2]), vals([3], [0, NaN, 1])], build: (_, a, b) => a!.minimum(b!), expect: [NaN, NaN, 1], grad: false },
  ...compare('equal', (a, b) => a.equal(b)),
  ...compare('notEqual', (a, b) => a.notEqual(b)),
  ...compare('less', (a, b) => a.less(b)),
  ...compare('lessEqual', (a, b) => a.lessEqual(b)),
  ...compare('greater', (a, b) => a.greater(b)),
  ...compare('greaterEqual', (a, b) => a.greaterEqual(b)),
  { op: 'logicalAnd', inputs: [bool([4]), bool([4])], build: (_, a, b) => a!.logicalAnd(b!) },
  { op: 'logicalOr', inputs: [bool([2, 1]), bool([3])], build: (_, a, b) => a!.logicalOr(b!) },
  { op: 'where', inputs: [bool([2, 3]), f([2, 3]), f([3])], build: (_, c, a, b) => c!.where(a!, b!) },
  { op: 'where', label: 'values', inputs: [vals([3], [1, 0, 1], 'bool'), vals([3], [1, 2, 3]), vals([1], [9])], build: (_, c, a, b) => c!.where(a!, b!), expect: [1, 9, 3] },

  // ---- reductions
  { op: 'sum', inputs: [vals([2, 3], [1, 2, 3, 4, 5, 6])], build: (_, x) => x!.sum({ axes: [1] }), expect: [6, 15] },
  { op: 'sum', label: 'all', inputs: [f([3, 4, 5])], build: (_, x) => x!.sum() },
  { op: 'sum', label: 'keepDims axis0', inputs: [f([5, 3])], build: (_, x) => x!.sum({ axes: [0], keepDims: true }) },
  { op: 'sum', label: 'middle axes rank5', inputs: [f([2, 3, 4, 2, 3])], build: (_, x) => x!.sum({ axes: [1, 3] }) },
  { op: 'sum', label: 'long row', inputs: [f([3, 5000])], build: (_, x) => x!.sum({ axes: [1] }), atol: 1e-3 },
  { op: 'sum', label: 'int', inputs: [i32([4, 3])], build: (_, x) => x!.sum({ axes: [0] }) },
  { op: 'sum', label: 'huge', inputs: [f([BIG], 'unit')], build: (_, x) => x!.sum(), large: true, atol: 5e-2, rtol: 1e-4 },
  { op: 'mean', inputs: [vals([2, 2], [1, 2, 3, 5])], build: (_, x) => x!.mean({ axes: [1] }), expect: [1.5, 4] },
  { op: 'mean', label: 'all', inputs: [f([4, 6])], build: (_, x) => x!.mean() },
  { op: 'max', inputs: [vals([2, 3], [1, 5, 3, -4, -2, -9])], build: (_, x) => x!.max({ axes: [1] }), expect: [5, -2] },
  { op: 'max', label: 'grad', inputs: [f([3, 7])], build: (_, x) => x!.max({ axes: [1] }) },
  { op: 'max', label: 'NaN', inputs: [vals([2, 2], [1, NaN, 2, 3])], build: (_, x) => x!.max({ axes: [1] }), expect: [NaN, 3], grad: false },
  { op: 'min', inputs: [f([4, 5])], build: (_, x) => x!.min({ axes: [0] }) },
  { op: 'min', label: 'long', inputs: [f([2, 3000])], build: (_, x) => x!.min({ axes: [-1], keepDims: true }), grad: false },
  { op: 'prod', inputs: [vals([2, 2], [1, 2, 3, 4])], build: (_, x) => x!.prod({ axes: [0] }), expect: [3, 8] },
  { op: 'prod', label: 'grad', inputs: [f([3, 4], 'awayFromZero')], build: (_, x) => x!.prod({ axes: [1] }) },
  { op: 'argMax', inputs: [vals([2, 3], [1, 5, 5, 7, 2, 3])], build: (_, x) => x!.argMax({ axis: 1 }), expect: [1, 0] },
  { op: 'argMax', label: 'axis0 rank3', inputs: [f([5, 3, 4])], build: (_, x) => x!.argMax({ axis: 0 }) },
  { op: 'argMax', label: 'long row', inputs: [f([2, 4099])], build: (_, x) => x!.argMax() },
  { op: 'argMin', inputs: [f([3, 6])], build: (_, x) => x!.argMin({ axis: -1, keepDims: true }) },
  { op: 'logSumExp', inputs: [vals([2], [1000, 1000])], build: (_, x) => x!.logSumExp(), expect: [1000 + Math.LN2] },
  { op: 'logSumExp', label: 'rows', inputs: [f([3, 5])], build: (_, x) => x!.logSumExp({ axes: [1] }) },
  { op: 'variance', inputs: [vals([4], [1, 2, 3, 4])], build: (_, x) => x!.variance(), expect: [1.25] },
  { op: 'variance', label: 'axes', inputs: [f([3, 4, 5])], build: (_, x) => x!.variance({ axes: [0, 2] }) },

  // ---- softmax family
  { op: 'softmax', inputs: [vals([3], [1, 2, 3])], build: (_, x) => x!.softmax(), expect: [0.09003057317038046, 0.24472847105479764, 0.6652409557748219] },
  { op: 'softmax', label: 'large', inputs: [vals([2], [1e4, 1e4])], build: (_, x) => x!.softmax(), expect: [0.5, 0.5], grad: false },
  { op: 'softmax', label: 'NaN', inputs: [vals([2], [NaN, 1])], build: (_, x) => x!.softmax(), expect: [NaN, NaN], grad: false },
  { op: 'softmax', label: 'rows', inputs: [f([4, 10])], build: (_, x) => x!.softmax() },
  { op: 'softmax', label: 'long row', inputs: [f([2, 3000])], build: (_, x) => x!.softmax(), grad: false },
  { op: 'logSoftmax', inputs: [f([3, 7])], build: (_, x) => x!.logSoftmax() },
  { op: 'softmaxCrossEntropy', inputs: [f([4, 5]), i32([4], { index: 5 })], build: (_, l, y) => l!.softmaxCrossEntropy(y!), grad: [0] },
  { op: 'softmaxCrossEntropy', label: 'values', inputs: [vals([1, 2], [0, 0]), vals([1], [1], 'i32')], build: (_, l, y) => l!.softmaxCrossEntropy(y!), expect: [Math.LN2], grad: false },
  { op: 'softmaxCrossEntropy', label: 'one-hot smoothing', inputs: [f([3, 4]), f([3, 4], 'unit')], build: (_, l, y) => l!.softmaxCrossEntropy(y!.softmax(), { labelSmoothing: 0.1 }), grad: [0] },

  // ---- linear algebra
  { op: 'matmul', inputs: [vals([2, 2], [1, 2, 3, 4]), vals([2, 2], [5, 6, 7, 8])], build: (_, a, b) => a!.matmul(b!), expect: [19, 22, 43, 50] },
  { op: 'matmul', label: 'odd', inputs: [f([7, 13]), f([13, 5])], build: (_, a, b) => a!.matmul(b!) },
  { op: 'matmul', label: 'transposeA', inputs: [f([13, 7]), f([13, 5])], build: (_, a, b) => a!.matmul(b!, { transposeA: true }) },
  { op: 'matmul', label: 'transposeB', inputs: [f([7, 13]), f([5, 13])], build: (_, a, b) => a!.matmul(b!, { transposeB: true }) },
  { op: 'matmul', label: 'both transposed', inputs: [f([13, 7]), f([5, 13])], build: (_, a, b) => a!.matmul(b!, { transposeA: true, transposeB: true }) },
  { op: 'matmul', label: 'batched broadcast', inputs: [f([3, 1, 4, 6]), f([2, 6, 5])], build: (_, a, b) => a!.matmul(b!) },
  { op: 'matmul', label: 'vector', inputs: [f([6]), f([6, 3])], build: (_, a, b) => a!.matmul(b!) },
  { op: 'matmul', label: '1xN Nx1', inputs: [f([1, 70]), f([70, 1])], build: (_, a, b) => a!.matmul(b!) },
  { op: 'matmul', label: 'tiles', inputs: [f([130, 67]), f([67, 129])], build: (_, a, b) => a!.matmul(b!), grad: false },

  // ---- shape
  { op: 'reshape', inputs: [f([2, 3])], build: (_, x) => x!.reshape([3, -1]).mul(2) },
  { op: 'transpose', inputs: [vals([2, 3], [1, 2, 3, 4, 5, 6])], build: (_, x) => x!.transpose(), expect: [1, 4, 2, 5, 3, 6] },
  { op: 'transpose', label: 'rank4', inputs: [f([2, 3, 4, 5])], build: (_, x) => x!.transpose([2, 0, 3, 1]) },
  { op: 'broadcastTo', inputs: [f([3, 1])], build: (_, x) => x!.broadcastTo([2, 3, 4]) },
  { op: 'expandDims', inputs: [f([3])], build: (_, x) => x!.expandDims(1).mul(x!) },
  { op: 'squeeze', inputs: [f([1, 3, 1])], build: (_, x) => x!.squeeze().sin() },
  { op: 'concat', inputs: [vals([1, 2], [1, 2]), vals([2, 2], [3, 4, 5, 6])], build: (_, a, b) => concat([a!, b!], 0), expect: [1, 2, 3, 4, 5, 6] },
  { op: 'concat', label: 'axis1 three', inputs: [f([2, 3]), f([2, 1]), f([2, 4])], build: (_, a, b, c) => concat([a!, b!, c!], -1) },
  { op: 'split', inputs: [f([4, 6])], build: (_, x) => { const [a, b] = x!.split([2, 4], 1); return a!.sum().add(b!.square().sum()); } },
  { op: 'slice', inputs: [vals([3, 3], [1, 2, 3, 4, 5, 6, 7, 8, 9])], build: (_, x) => x!.slice({ begin: [1, 0], size: [2, 2] }), expect: [4, 5, 7, 8] },
  { op: 'slice', label: 'rank3', inputs: [f([4, 5, 6])], build: (_, x) => x!.slice({ begin: [1, -3, 2], size: [2, -1, 3] }) },
  { op: 'pad', inputs: [vals([2], [1, 2])], build: (_, x) => x!.pad([[1, 2]], 9), expect: [9, 1, 2, 9, 9] },
  { op: 'pad', label: 'rank3', inputs: [f([2, 3, 2])], build: (_, x) => x!.pad([[0, 1], [2, 0], [1, 1]]) },
  { op: 'gather', inputs: [vals([3, 2], [1, 2, 3, 4, 5, 6]), vals([4], [2, 0, 2, 1], 'i32')], build: (_, x, i) => x!.gather(i!), expect: [5, 6, 1, 2, 5, 6, 3, 4], grad: false },
  // Fed indices out of range are a FeedError; computed ones still reach the kernels and read 0.
  { op: 'gather', label: 'constant indices out of range', inputs: [vals([3, 2], [1, 2, 3, 4, 5, 6])], build: (g, x) => x!.gather(g.constant([2, 0, 7, -1], [4], 'i32')), expect: [5, 6, 1, 2, 0, 0, 0, 0], grad: false },
  { op: 'gather', label: 'axis1', inputs: [f([3, 5, 2]), i32([2, 3], { index: 5 })], build: (_, x, i) => x!.gather(i!, { axis: 1 }), grad: [0] },
  { op: 'scatterAdd', inputs: [vals([3], [1, 2, 3]), vals([3], [1, 1, 0], 'i32')], build: (_, u, i) => u!.scatterAdd(i!, { axis: 0, size: 3 }), expect: [3, 3, 0], grad: [0] },
  { op: 'oneHot', inputs: [vals([3], [0, 2, 1], 'i32')], build: (_, i) => i!.oneHot(3), expect: [1, 0, 0, 0, 0, 1, 0, 1, 0] },
  { op: 'cast', label: 'int to f32', inputs: [i32([4])], build: (_, x) => x!.cast('f32') },

  // ---- convolution and pooling
  { op: 'conv2d', inputs: [vals([1, 1, 3, 3], [1, 2, 3, 4, 5, 6, 7, 8, 9]), vals([1, 1, 2, 2], [1, 0, 0, 1])], build: (_, x, w) => x!.conv2d(w!), expect: [6, 8, 12, 14] },
  { op: 'conv2d', label: 'stride pad', inputs: [f([2, 3, 7, 6]), f([4, 3, 3, 3])], build: (_, x, w) => x!.conv2d(w!, { stride: 2, padding: 1 }) },
  { op: 'conv2d', label: 'dilation groups', inputs: [f([1, 4, 8, 8]), f([6, 2, 3, 3])], build: (_, x, w) => x!.conv2d(w!, { dilation: 2, groups: 2, padding: [1, 2] }) },
  { op: 'conv2d', label: 'same', inputs: [f([2, 1, 5, 5]), f([2, 1, 3, 3])], build: (_, x, w) => x!.conv2d(w!, { padding: 'same' }) },
  { op: 'conv2dTranspose', inputs: [f([2, 3, 4, 4]), f([3, 2, 3, 3])], build: (_, x, w) => x!.conv2dTranspose(w!, { stride: 2, padding: 1, outputPadding: 1 }) },
  { op: 'conv2dTranspose', label: 'groups', inputs: [f([1, 4, 3, 3]), f([4, 1, 2, 2])], build: (_, x, w) => x!.conv2dTranspose(w!, { groups: 2 }) },
  { op: 'conv2dBackpropFilter', inputs: [f([2, 3, 6, 6]), f([2, 4, 3, 3])], build: (_, x, dy) => x!.conv2dBackpropFilter(dy!, { stride: [2, 2], padding: [1, 0, 1, 0], dilation: [1, 1], groups: 1, filterShape: [4, 3, 3, 3] }), grad: false },
  { op: 'maxPool2d', inputs: [vals([1, 1, 2, 4], [1, 5, 2, 0, 3, 4, 8, 7])], build: (_, x) => x!.maxPool2d({ kernel: 2 }), expect: [5, 8] },
  { op: 'maxPool2d', label: 'overlap pad', inputs: [f([2, 3, 7, 7])], build: (_, x) => x!.maxPool2d({ kernel: 3, stride: 2, padding: 1 }) },
  { op: 'maxPool2dGrad', inputs: [f([1, 2, 4, 4]), f([1, 2, 2, 2])], build: (_, x, dy) => x!.maxPool2dGrad(dy!, { kernel: [2, 2], stride: [2, 2], padding: [0, 0, 0, 0] }), grad: false },
  { op: 'avgPool2d', inputs: [vals([1, 1, 2, 2], [1, 2, 3, 6])], build: (_, x) => x!.avgPool2d({ kernel: 2 }), expect: [3] },
  { op: 'avgPool2d', label: 'stride', inputs: [f([2, 3, 6, 6])], build: (_, x) => x!.avgPool2d({ kernel: 2, stride: 2 }) },

  // ---- normalization, stochastic
  { op: 'batchNorm', inputs: [f([4, 3]), f([3]), f([3], 'positive'), f([3]), f([3])], build: (_, x, m, v, s, o) => x!.batchNorm({ mean: m!, variance: v!, scale: s!, offset: o! }) },
  { op: 'layerNorm', inputs: [f([3, 8]), f([8]), f([8])], build: (_, x, s, o) => x!.layerNorm({ scale: s!, offset: o! }), atol: 1e-4 },
  { op: 'dropout', inputs: [f([4, 50])], build: (_, x) => x!.dropout({ rate: 0.3, training: true, seed: 3 }), grad: false },
  { op: 'clip', inputs: [f([3, 4], 'awayFromZero')], build: (_, x) => x!.clip(-0.5, 0.5) },

  // ---- IEEE special values, fed at run time so no compiler can fold them (issue 10 §4 A-D, F)
  { op: 'sub', label: 'inf - inf', inputs: [vals([3], [Infinity, -Infinity, 1])], build: (_, x) => x!.sub(x!), expect: [NaN, NaN, 0], grad: false },
  { op: 'add', label: '(y + inf) - inf', inputs: [vals([3], [1, -1, 0]), vals([1], [Infinity])], build: (_, y, inf) => y!.add(inf!).sub(inf!), expect: [NaN, NaN, NaN], grad: false },
  { op: 'where', label: 'NaN and Infinity constants in one graph (never merged)', inputs: [vals([4], [NaN, 1, Infinity, -0])], build: (g, x) => x!.isNaN().where(g.constant(NaN), x!.equal(Infinity).where(g.constant(Infinity), x!.mul(g.constant(-Infinity)))), expect: [NaN, -Infinity, Infinity, NaN], grad: false },
  { op: 'div', label: 'by zeros([])', inputs: [vals([3], [1, -1, 0])], build: (g, y) => y!.div(g.zeros([])), expect: [Infinity, -Infinity, NaN], grad: false },
  { op: 'div', label: 'special operands', inputs: [vals([5], [Infinity, 1, -2, Infinity, 0]), vals([5], [2, Infinity, -Infinity, Infinity, NaN])], build: (_, a, b) => a!.div(b!), expect: [Infinity, 0, 0, NaN, NaN], grad: false },
  { op: 'mul', label: 'inf * 0', inputs: [vals([4], [Infinity, -Infinity, NaN, 2])], build: (_, x) => x!.mul(0).add(x!.mul(x!.sub(x!))), expect: [NaN, NaN, NaN, 0], grad: false },
  { op: 'pow', label: 'zero and infinite operands', inputs: [vals([8], [0, 0, -0, 0, Infinity, -Infinity, 1, -1]), vals([8], [-1, -2, -1, 0.5, -1, 3, Infinity, 0])], build: (_, a, b) => a!.pow(b!), expect: [Infinity, Infinity, -Infinity, 0, 0, -Infinity, NaN, 1], grad: false },
  { op: 'pow', label: 'zero exponent gradient', inputs: [vals([3], [0, 0, 2]), vals([3], [0, 0, 0])], build: (g, a, b) => g.grad(a!.pow(b!).sum(), [a!])[0]!, expect: [0, 0, 0], grad: false },
  { op: 'pow', label: 'near one', inputs: [vals([3], [1.0000001, 0.9999999, 2]), vals([3], [3, 1000, -0.5])], build: (_, a, b) => a!.pow(b!), expect: [Math.fround(1.0000001) ** 3, Math.fround(0.9999999) ** 1000, 2 ** -0.5], grad: false, atol: 0, rtol: 1e-6 },
  { op: 'tanh', label: 'tiny', inputs: [vals([3], [1e-7, -1e-7, 1e-30])], build: (_, x) => x!.tanh(), expect: [Math.tanh(Math.fround(1e-7)), -Math.tanh(Math.fround(1e-7)), Math.fround(1e-30)], grad: false, atol: 0, rtol: 1e-6 },
  { op: 'erf', label: 'tiny', inputs: [vals([3], [1e-7, -1e-20, 4])], build: (_, x) => x!.erf(), expect: [1.12837918028186e-7, -1.12837913128699e-20, 0.999999984582742], grad: false, atol: 0, rtol: 1e-6 },
  { op: 'gelu', label: 'tails', inputs: [vals([4], [-10, -Infinity, Infinity, NaN])], build: (_, x) => x!.gelu(), expect: [-7.619853024160595e-23, 0, Infinity, NaN], grad: false, atol: 0, rtol: 1e-5 },
  { op: 'exp', label: 'subnormal results', inputs: [vals([3], [-100, -88, 88.5])], build: (_, x) => x!.exp(), expect: [Math.exp(-100), Math.exp(-88), Math.exp(88.5)], grad: false, atol: 1.2e-38, rtol: 1e-6 },
  { op: 'log', label: 'near one', inputs: [vals([3], [1.0000001, 0.99999994, 1e-40])], build: (_, x) => x!.log(), expect: [Math.log(Math.fround(1.0000001)), Math.log(Math.fround(0.99999994)), Math.log(Math.fround(1e-40))], grad: false, atol: 0, rtol: 1e-6 },
  { op: 'sum', label: 'inf + -inf', inputs: [vals([2, 3], [Infinity, -Infinity, 1, Infinity, 1, 2])], build: (_, x) => x!.sum({ axes: [1] }), expect: [NaN, Infinity], grad: false },
  { op: 'matmul', label: 'inf and NaN', inputs: [vals([2, 2], [Infinity, 1, 0, NaN]), vals([2, 2], [1, 0, 1, 1])], build: (_, a, b) => a!.matmul(b!), expect: [Infinity, NaN, NaN, NaN], grad: false },
  { op: 'matmul', label: 'tiles with inf and NaN', inputs: [f([130, 67]), f([67, 129])], build: (g, a, b) => a!.mul(g.constant(Array.from({ length: 130 * 67 }, (_, i) => (i === 7 * 67 + 3 ? Infinity : i === 90 * 67 + 60 ? NaN : 1)), [130, 67])).matmul(b!), grad: false },
  { op: 'conv2d', label: 'inf input', inputs: [f([1, 2, 5, 5]), f([3, 2, 3, 3])], build: (g, x, w) => x!.mul(g.constant(Array.from({ length: 50 }, (_, i) => (i === 12 ? -Infinity : 1)), [1, 2, 5, 5])).conv2d(w!, { padding: 1 }), grad: false },
  { op: 'prod', label: 'inf * 0', inputs: [vals([2, 2], [Infinity, 0, -Infinity, 2])], build: (_, x) => x!.prod({ axes: [1] }), expect: [NaN, -Infinity], grad: false },
  { op: 'cumsum', label: 'inf + -inf', inputs: [vals([4], [1, Infinity, -Infinity, 2])], build: (_, x) => x!.cumsum({ axis: 0 }), expect: [1, Infinity, NaN, NaN], grad: false },
  { op: 'scatterAdd', label: 'inf + -inf', inputs: [vals([3], [Infinity, -Infinity, 1]), vals([3], [0, 0, 1], 'i32')], build: (_, u, i) => u!.scatterAdd(i!, { axis: 0, size: 2 }), expect: [NaN, 1], grad: false },
  { op: 'mean', label: 'inf', inputs: [vals([2, 2], [Infinity, 1, -Infinity, Infinity])], build: (_, x) => x!.mean({ axes: [1] }), expect: [Infinity, NaN], grad: false },
  { op: 'logSumExp', label: 'all -inf row', inputs: [vals([2, 2], [-Infinity, -Infinity, 1, -Infinity])], build: (_, x) => x!.logSumExp({ axes: [1] }), expect: [-Infinity, 1], grad: false },
  { op: 'softmax', label: '-inf mask', inputs: [vals([1, 3], [0, -Infinity, 0])], build: (_, x) => x!.softmax(), expect: [0.5, 0, 0.5], grad: false },
  { op: 'softmaxCrossEntropy', label: '-inf logit', inputs: [vals([1, 5], [4, -Infinity, 4, 4, 4]), vals([1], [2], 'i32')], build: (_, l, y) => l!.softmaxCrossEntropy(y!), expect: [Math.log(4)], grad: false },
  { op: 'softmaxCrossEntropy', label: '-inf logit, f32 target', inputs: [vals([1, 3], [0, -Infinity, 0]), vals([1, 3], [0.5, 0, 0.5])], build: (_, l, y) => l!.softmaxCrossEntropy(y!), expect: [Math.LN2], grad: false },
  { op: 'fill', label: 'non-finite', inputs: [vals([3], [1, 2, 3])], build: (g, x) => x!.equal(3).where(g.fill([], NaN), x!.add(g.fill([3], -Infinity))), expect: [-Infinity, -Infinity, NaN], grad: false },
  { op: 'constant', label: 'non-finite', inputs: [vals([4], [1, 1, 1, 1])], build: (g, x) => x!.mul(g.constant([NaN, Infinity, -Infinity, 2])), expect: [NaN, Infinity, -Infinity, 2], grad: false },
  { op: 'maximum', label: '-inf scalar operand', inputs: [vals([3], [1, NaN, -Infinity])], build: (_, x) => x!.maximum(-Infinity), expect: [1, NaN, -Infinity], grad: false },
  { op: 'pad', label: '-inf value', inputs: [vals([2], [1, 2])], build: (_, x) => x!.pad([[1, 1]], -Infinity), expect: [-Infinity, 1, 2, -Infinity], grad: false },
  { op: 'maxPool2d', label: '-inf and NaN', inputs: [vals([1, 1, 2, 2], [-Infinity, -Infinity, NaN, 1])], build: (_, x) => x!.maxPool2d({ kernel: [1, 2] }), expect: [-Infinity, NaN], grad: false },

  // ---- zero-size dimensions: every op family takes empty tensors (issue 10 §4 E)
  { op: 'neg', label: 'zero-size', inputs: [f([0, 3])], build: (_, x) => x!.neg(), expectShape: [0, 3], grad: false },
  { op: 'add', label: 'zero-size broadcast', inputs: [f([0, 1]), f([4])], build: (_, a, b) => a!.add(b!).exp(), expectShape: [0, 4], grad: false },
  { op: 'where', label: 'zero-size', inputs: [bool([2, 0]), f([0]), f([2, 1])], build: (_, c, a, b) => c!.where(a!, b!), expectShape: [2, 0], grad: false },
  { op: 'cast', label: 'zero-size', inputs: [f([0])], build: (_, x) => x!.cast('i32'), expectShape: [0], grad: false },
  { op: 'fill', label: 'zero-size', inputs: [], build: (g) => g.fill([0, 2], 3), expectShape: [0, 2], grad: false },
  { op: 'randomUniform', label: 'zero-size', inputs: [], build: (g) => g.randomUniform([3, 0], { seed: 1 }), expectShape: [3, 0], grad: false },
  { op: 'sum', label: 'zero-size axis', inputs: [f([0, 3])], build: (_, x) => x!.sum({ axes: [0] }), expect: [0, 0, 0], grad: true },
  { op: 'sum', label: 'zero-size kept axis', inputs: [f([0, 3])], build: (_, x) => x!.sum({ axes: [1] }), expectShape: [0], grad: false },
  { op: 'prod', label: 'zero-size axis', inputs: [f([2, 0])], build: (_, x) => x!.prod({ axes: [1] }), expect: [1, 1], grad: false },
  { op: 'max', label: 'zero-size axis', inputs: [f([2, 0])], build: (_, x) => x!.max({ axes: [1] }), expect: [-Infinity, -Infinity], grad: false },
  { op: 'min', label: 'zero-size axis', inputs: [f([0, 2])], build: (_, x) => x!.min({ axes: [0] }), expect: [Infinity, Infinity], grad: false },
  { op: 'mean', label: 'zero-size axis', inputs: [f([0, 2])], build: (_, x) => x!.mean({ axes: [0] }), expect: [NaN, NaN], grad: false },
  { op: 'argMax', label: 'zero-size', inputs: [f([0, 3])], build: (_, x) => x!.argMax({ axis: 1 }), expectShape: [0], grad: false },
  { op: 'argMin', label: 'zero-size', inputs: [f([3, 0, 2])], build: (_, x) => x!.argMin({ axis: 2 }), expectShape: [3, 0], grad: false },
  { op: 'matmul', label: 'zero-size rows', inputs: [f([0, 3]), f([3, 4])], build: (_, a, b) => a!.matmul(b!), expectShape: [0, 4], grad: false },
  { op: 'matmul', label: 'zero-size inner', inputs: [f([2, 0]), f([0, 3])], build: (_, a, b) => a!.matmul(b!), expect: [0, 0, 0, 0, 0, 0], grad: true },
  { op: 'matmul', label: 'zero-size batch', inputs: [f([0, 2, 3]), f([3, 2])], build: (_, a, b) => a!.matmul(b!), expectShape: [0, 2, 2], grad: false },
  { op: 'reshape', label: 'zero-size', inputs: [f([0, 3])], build: (_, x) => x!.reshape([3, 0, 5]).neg(), expectShape: [3, 0, 5], grad: false },
  { op: 'transpose', label: 'zero-size', inputs: [f([0, 3])], build: (_, x) => x!.transpose(), expectShape: [3, 0], grad: false },
  { op: 'transpose', label: 'zero-size rank3', inputs: [f([2, 0, 3])], build: (_, x) => x!.transpose([2, 0, 1]), expectShape: [3, 2, 0], grad: true },
  { op: 'broadcastTo', label: 'zero-size', inputs: [f([1, 3])], build: (_, x) => x!.broadcastTo([0, 3]), expectShape: [0, 3], grad: false },
  { op: 'slice', label: 'to zero size', inputs: [f([3, 4])], build: (_, x) => x!.slice({ begin: [1, 2], size: [0, 2] }), expectShape: [0, 2], grad: false },
  { op: 'slice', label: 'of zero size', inputs: [f([0, 4])], build: (_, x) => x!.slice({ begin: [0, 1], size: [0, 2] }), expectShape: [0, 2], grad: false },
  { op: 'pad', label: 'zero-size input', inputs: [f([0, 2])], build: (_, x) => x!.pad([[1, 0], [0, 1]], 5), expect: [5, 5, 5], grad: false },
  { op: 'pad', label: 'zero-size output', inputs: [f([0, 2])], build: (_, x) => x!.pad([[0, 0], [1, 1]], 5), expectShape: [0, 4], grad: false },
  { op: 'concat', label: 'zero-size part', inputs: [f([0, 3]), vals([1, 3], [1, 2, 3])], build: (_, a, b) => concat([a!, b!], 0), expect: [1, 2, 3], grad: false },
  { op: 'concat', label: 'all zero-size', inputs: [f([2, 0]), f([2, 0])], build: (_, a, b) => concat([a!, b!], 1), expectShape: [2, 0], grad: false },
  { op: 'gather', label: 'zero indices', inputs: [f([3, 2]), vals([0], [], 'i32')], build: (_, x, i) => x!.gather(i!), expectShape: [0, 2], grad: false },
  { op: 'gather', label: 'from zero-size rows', inputs: [f([3, 0]), vals([2], [1, 2], 'i32')], build: (_, x, i) => x!.gather(i!), expectShape: [2, 0], grad: false },
  { op: 'scatterAdd', label: 'zero updates', inputs: [f([0, 2]), vals([0], [], 'i32')], build: (_, u, i) => u!.scatterAdd(i!, { axis: 0, size: 3 }), expect: [0, 0, 0, 0, 0, 0], grad: false },
  { op: 'oneHot', label: 'zero labels', inputs: [vals([0], [], 'i32')], build: (_, i) => i!.oneHot(4), expectShape: [0, 4], grad: false },
  { op: 'conv2d', label: 'zero batch', inputs: [f([0, 2, 4, 4]), f([3, 2, 3, 3])], build: (_, x, w) => x!.conv2d(w!, { padding: 1 }), expectShape: [0, 3, 4, 4], grad: true },
  { op: 'conv2d', label: 'zero out channels', inputs: [f([1, 2, 4, 4]), f([0, 2, 3, 3])], build: (_, x, w) => x!.conv2d(w!), expectShape: [1, 0, 2, 2], grad: false },
  { op: 'conv2dTranspose', label: 'zero batch', inputs: [f([0, 3, 3, 3]), f([3, 2, 2, 2])], build: (_, x, w) => x!.conv2dTranspose(w!, { stride: 2 }), expectShape: [0, 2, 6, 6], grad: false },
  { op: 'conv2dBackpropFilter', label: 'zero batch', inputs: [f([0, 2, 4, 4]), f([0, 3, 2, 2])], build: (_, x, dy) => x!.conv2dBackpropFilter(dy!, { stride: [1, 1], padding: [0, 0, 0, 0], dilation: [1, 1], groups: 1, filterShape: [3, 2, 3, 3] }), expect: Array(54).fill(0), grad: false },
  { op: 'maxPool2d', label: 'zero batch', inputs: [f([0, 2, 4, 4])], build: (_, x) => x!.maxPool2d({ kernel: 2 }), expectShape: [0, 2, 2, 2], grad: false },
  { op: 'maxPool2dGrad', label: 'zero batch', inputs: [f([0, 2, 4, 4]), f([0, 2, 2, 2])], build: (_, x, dy) => x!.maxPool2dGrad(dy!, { kernel: [2, 2], stride: [2, 2], padding: [0, 0, 0, 0] }), expectShape: [0, 2, 4, 4], grad: false },
  { op: 'avgPool2d', label: 'zero batch', inputs: [f([0, 2, 4, 4])], build: (_, x) => x!.avgPool2d({ kernel: 2 }), expectShape: [0, 2, 2, 2], grad: false },
  { op: 'softmax', label: 'zero rows', inputs: [f([0, 5])], build: (_, x) => x!.softmax(), expectShape: [0, 5], grad: true },
  { op: 'logSumExp', label: 'zero-size axis', inputs: [f([2, 0])], build: (_, x) => x!.logSumExp({ axes: [1] }), expect: [-Infinity, -Infinity], grad: false },
  { op: 'softmaxCrossEntropy', label: 'zero batch', inputs: [f([0, 4]), vals([0], [], 'i32')], build: (_, l, y) => l!.softmaxCrossEntropy(y!), expectShape: [0], grad: false },
  { op: 'variance', label: 'zero rows', inputs: [f([0, 4])], build: (_, x) => x!.variance({ axes: [1] }), expectShape: [0], grad: false },
  { op: 'layerNorm', label: 'zero rows', inputs: [f([0, 8]), f([8]), f([8])], build: (_, x, s, o) => x!.layerNorm({ scale: s!, offset: o! }), expectShape: [0, 8], grad: true },
  { op: 'batchNorm', label: 'zero batch', inputs: [f([0, 3]), f([3]), f([3], 'positive'), f([3]), f([3])], build: (_, x, m, v, s, o) => x!.batchNorm({ mean: m!, variance: v!, scale: s!, offset: o! }), expectShape: [0, 3], grad: false },
  { op: 'dropout', label: 'zero-size', inputs: [f([0, 50])], build: (_, x) => x!.dropout({ rate: 0.3, training: true, seed: 3 }), expectShape: [0, 50], grad: false },
  { op: 'cumsum', label: 'zero-size axis', inputs: [f([2, 0])], build: (_, x) => x!.cumsum({ axis: 1 }), expectShape: [2, 0], grad: false },
  { op: 'cumsum', label: 'zero-size rows', inputs: [f([0, 3])], build: (_, x) => x!.cumsum({ axis: 1, exclusive: true }), expectShape: [0, 3], grad: true },
  { op: 'clip', label: 'zero-size', inputs: [f([3, 0])], build: (_, x) => x!.clip(-0.5, 0.5), expectShape: [3, 0], grad: false },

  // ---- large elementwise: sizes past 65,535 workgroups
  { op: 'add', label: 'huge', inputs: [f([BIG], 'unit'), f([1], 'unit')], build: (_, a, b) => a!.add(b!).relu(), large: true, grad: false },
];

/** Primitives with no row of their own, and why (exclusions are data, with a reason). */
export const NOT_IN_TABLE: Readonly<Record<string, string>> = {
  input: 'every row feeds its inputs through it',
  param: 'exercised by the optimizer and executable tests (resident state)',
  assign: 'a state update: tested by the training-step and optimizer tests',
  dimSize: 'emitted by mean over symbolic dims; covered by the mean rows and symbolic-batch tests',
};
