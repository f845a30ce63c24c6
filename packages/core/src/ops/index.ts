/**
 * Every op users call, as functions (`ops.add(a, b)`) and as Tensor methods (`a.add(b)`; the
 * class defines one method per entry, see tensor.ts). A primitive without a hand-written
 * wrapper below gets one derived from its spec: `(inputs..., attrs)`, so a new elementwise
 * primitive needs no line here. Hand-written wrappers lift numbers to tensors and normalise
 * options; composites emit primitives and have no kernel or gradient of their own.
 */
import { z } from 'zod';
import { GraphError, OptionsError, ShapeError } from '../errors';
import { parseOptions } from '../options';
import { type DType, type Dim, normAxis, type Shape } from '../shape';
import type { Attrs } from '../spec';
import type { Tensor, TensorLike } from '../tensor';
import { PRIMITIVE_NAMES, type PrimitiveName, type SpecOf, spec } from './primitives';
import { reduceAxes } from './util';

// ---------------------------------------------------------------- plumbing

// Tensors are the only objects among op arguments (the rest are numbers and booleans); the
// graph checks each input is a Tensor of its own when the node is added.
const isTensor = (x: unknown): x is Tensor => typeof x === 'object' && x !== null;

function graphOf(...xs: TensorLike[]) {
  const t = xs.find(isTensor);
  if (!t) throw new GraphError('op needs at least one Tensor argument (got only numbers)');
  return t.graph;
}

/** Apply a primitive to tensor-like inputs; numbers become scalars of the tensor's dtype. */
export function apply(op: PrimitiveName, inputs: readonly TensorLike[], attrs: Record<string, unknown> = {}): Tensor {
  const g = graphOf(...inputs);
  const like = inputs.find(isTensor);
  return g.addNode(op, inputs.map((x) => g.lift(x, like)), attrs);
}

// ---------------------------------------------------------------- options

const axesOpt = z.object({ axes: z.union([z.number().int(), z.array(z.number().int())]).optional(), keepDims: z.boolean().default(false) }).strict();
export type ReduceOptions = { axes?: number | number[]; keepDims?: boolean };
const reduceOpts = (o: ReduceOptions | number | number[] | undefined, what: string) => {
  const v = typeof o === 'number' || Array.isArray(o) ? { axes: o } : o;
  const p = parseOptions(axesOpt, v, what);
  return { axes: p.axes === undefined ? undefined : typeof p.axes === 'number' ? [p.axes] : p.axes, keepDims: p.keepDims };
};

type Pair = number | [number, number];
const pair = (v: Pair, what: string): [number, number] => {
  const p = typeof v === 'number' ? [v, v] : v;
  if (!Array.isArray(p) || p.length !== 2 || !p.every((x) => Number.isInteger(x) && x > 0)) throw new OptionsError(`${what}: expected a positive integer or a pair, got ${JSON.stringify(v)}`);
  return p as [number, number];
};
export type Padding = number | [number, number] | [number, number, number, number] | 'valid' | 'same';
/** Padding as [top, bottom, left, right]; 'same' pads so that out = ceil(in / stride). */
function pads4(p: Padding, x: Tensor, k: [number, number], s: [number, number], d: [number, number], what: string): [number, number, number, number] {
  if (p === 'valid') return [0, 0, 0, 0];
  if (p === 'same') {
    const side = (size: Dim, i: 0 | 1): [number, number] => {
      if (typeof size !== 'number') throw new ShapeError(`${what}: 'same' padding needs static spatial dims`);
      const out = Math.ceil(size / s[i]);
      const total = Math.max(0, (out - 1) * s[i] + d[i] * (k[i] - 1) + 1 - size);
      return [Math.floor(total / 2), total - Math.floor(total / 2)];
    };
    const [t, b] = side(x.shape[2]!, 0), [l, r] = side(x.shape[3]!, 1);
    return [t, b, l, r];
  }
  const v = typeof p === 'number' ? [p, p, p, p] : p.length === 2 ? [p[0], p[0], p[1], p[1]] : p;
  if (!v.every((n) => Number.isInteger(n) && n >= 0)) throw new OptionsError(`${what}: bad padding ${JSON.stringify(p)}`);
  return v as [number, number, number, number];
}

export interface ConvOptions { stride?: Pair; padding?: Padding; dilation?: Pair; groups?: number }
const convOpt = z.object({ stride: z.any().optional(), padding: z.any().optional(), dilation: z.any().optional(), groups: z.number().int().positive().optional(), outputPadding: z.any().optional() }).strict();
function convAttrs(x: Tensor, w: Tensor, o: ConvOptions, what: string) {
  parseOptions(convOpt, o, what);
  const stride = pair(o.stride ?? 1, `${what} stride`), dilation = pair(o.dilation ?? 1, `${what} dilation`);
  const k: [number, number] = [w.shape[2] as number, w.shape[3] as number];
  return { stride, dilation, groups: o.groups ?? 1, padding: pads4(o.padding ?? 0, x, k, stride, dilation, what) };
}

export interface PoolOptions { kernel: Pair; stride?: Pair; padding?: Padding }
const poolOpt = z.object({ kernel: z.any(), stride: z.any().optional(), padding: z.any().optional() }).strict();
function poolAttrs(x: Tensor, o: PoolOptions, what: string) {
  parseOptions(poolOpt, o, what);
  if (o.kernel === undefined) throw new OptionsError(`${what}: 'kernel' is required`);
  const kernel = pair(o.kernel, `${what} kernel`);
  const stride = pair(o.stride ?? kernel, `${what} stride`);
  return { kernel, stride, padding: pads4(o.padding ?? 0, x, kernel, stride, [1, 1], what) };
}

// ---------------------------------------------------------------- the ops

/**
 * One-hot rows; fed labels outside [0, depth) are refused at run time (an all-zero row
 * would be a silent wrong answer), `use` names the caller in that FeedError.
 */
function oneHotOf(indices: Tensor, o: { depth: number; onValue?: number; offValue?: number }, use: string): Tensor {
  if (!Number.isInteger(o.depth) || o.depth < 0) throw new OptionsError(`${use}: depth must be a non-negative integer, got ${String(o.depth)}`);
  const hit = indices.expandDims(-1).equal(indices.graph.range(o.depth));
  indices.graph.requireIndexRange(indices, o.depth, `${use} (${o.depth} classes)`, hit);
  return hit.where(o.onValue ?? 1, o.offValue ?? 0).cast('f32');
}

const handOps = {
  // elementwise with options (the rest are derived from their specs)
  leakyRelu: (x: TensorLike, alpha: number | { alpha?: number } = 0.2): Tensor => apply('leakyRelu', [x], { alpha: typeof alpha === 'number' ? alpha : alpha.alpha ?? 0.2 }),
  elu: (x: TensorLike, alpha: number | { alpha?: number } = 1): Tensor => apply('elu', [x], { alpha: typeof alpha === 'number' ? alpha : alpha.alpha ?? 1 }),
  cast: (x: TensorLike, dtype: DType): Tensor => apply('cast', [x], { dtype }),

  /** cond.where(a, b): a where cond is true, else b. */
  where: (cond: TensorLike, a: TensorLike, b: TensorLike): Tensor => {
    const g = graphOf(cond, a, b);
    const like = [a, b].find(isTensor);
    return g.addNode('where', [g.lift(cond), g.lift(a, like), g.lift(b, like)], {});
  },
  clip: (x: Tensor, lo: number, hi: number): Tensor => x.maximum(lo).minimum(hi),

  // reductions
  sum: (x: Tensor, o?: ReduceOptions | number | number[]): Tensor => apply('sum', [x], reduceOpts(o, 'sum')),
  prod: (x: Tensor, o?: ReduceOptions | number | number[]): Tensor => apply('prod', [x], reduceOpts(o, 'prod')),
  max: (x: Tensor, o?: ReduceOptions | number | number[]): Tensor => apply('max', [x], reduceOpts(o, 'max')),
  min: (x: Tensor, o?: ReduceOptions | number | number[]): Tensor => apply('min', [x], reduceOpts(o, 'min')),
  argMax: (x: Tensor, o: { axis?: number; keepDims?: boolean } | number = {}): Tensor => apply('argMax', [x], typeof o === 'number' ? { axis: o } : o),
  argMin: (x: Tensor, o: { axis?: number; keepDims?: boolean } | number = {}): Tensor => apply('argMin', [x], typeof o === 'number' ? { axis: o } : o),
  mean: (x: Tensor, o?: ReduceOptions | number | number[]): Tensor => {
    const r = reduceOpts(o, 'mean');
    const axes = reduceAxes(x.rank, r.axes, 'mean');
    return x.sum(r).div(x.graph.addNode('dimSize', [], { dims: axes.map((a) => x.shape[a]!) }));
  },
  variance: (x: Tensor, o?: ReduceOptions | number | number[]): Tensor => {
    const r = reduceOpts(o, 'variance');
    return x.sub(x.mean({ ...r, keepDims: true })).square().mean(r);
  },
  /** log(sum(exp(x))) computed stably: the max is subtracted first (and never differentiated). */
  logSumExp: (x: Tensor, o?: ReduceOptions | number | number[]): Tensor => {
    const r = reduceOpts(o, 'logSumExp');
    const m = x.max({ axes: r.axes, keepDims: true }).stopGradient();
    const safe = m.sub(m).isNaN().where(0, m); // an infinite max would turn x - m into NaN
    const s = x.sub(safe).exp().sum({ axes: r.axes, keepDims: true }).log().add(safe);
    return r.keepDims ? s : s.reshape(x.shape.filter((_, i) => !reduceAxes(x.rank, r.axes, 'logSumExp').includes(i)));
  },

  // softmax family
  softmax: (x: Tensor, o: { axis?: number } | number = {}): Tensor => {
    const axis = typeof o === 'number' ? o : o.axis ?? -1;
    const e = x.sub(x.max({ axes: [axis], keepDims: true }).stopGradient()).exp();
    return e.div(e.sum({ axes: [axis], keepDims: true }));
  },
  logSoftmax: (x: Tensor, o: { axis?: number } | number = {}): Tensor => {
    const axis = typeof o === 'number' ? o : o.axis ?? -1;
    return x.sub(x.logSumExp({ axes: [axis], keepDims: true }));
  },
  /**
   * Per-example cross-entropy of logits against integer class labels (i32, one rank less)
   * or one-hot/probability labels (f32, same shape). Stable: built on logSoftmax.
   */
  softmaxCrossEntropy: (logits: Tensor, labels: Tensor, o: { labelSmoothing?: number } = {}): Tensor => {
    const { labelSmoothing } = parseOptions(z.object({ labelSmoothing: z.number().min(0).max(1).default(0) }).strict(), o, 'softmaxCrossEntropy');
    const classes = logits.shape.at(-1);
    if (typeof classes !== 'number') throw new ShapeError('softmaxCrossEntropy: the class dimension must be static');
    let target = labels.dtype === 'i32' ? oneHotOf(labels, { depth: classes }, 'softmaxCrossEntropy labels') : labels;
    if (labels.dtype === 'i32' && labels.rank !== logits.rank - 1) throw new ShapeError(`softmaxCrossEntropy: integer labels ${labels} must have the logits' shape without the class axis (logits ${logits})`);
    if (labelSmoothing > 0) target = target.mul(1 - labelSmoothing).add(labelSmoothing / classes);
    // 0 log 0 is 0 (a class the target gives no weight costs nothing even at a -inf logit);
    // target * logp would make it 0 * -inf = NaN.
    return target.equal(0).where(0, target.mul(logits.logSoftmax())).sum({ axes: [-1] }).neg();
  },

  // linear algebra
  matmul: (a: Tensor, b: Tensor, o: { transposeA?: boolean; transposeB?: boolean } = {}): Tensor => {
    const va = a.rank === 1, vb = b.rank === 1;
    const r = apply('matmul', [va ? a.expandDims(0) : a, vb ? b.expandDims(-1) : b], o);
    return va || vb ? r.reshape(r.shape.filter((_, i) => !((va && i === r.rank - 2) || (vb && i === r.rank - 1)))) : r;
  },

  // shape
  reshape: (x: Tensor, shape: Shape): Tensor => apply('reshape', [x], { shape: [...shape] }),
  transpose: (x: Tensor, perm?: number[] | { perm?: number[] }): Tensor => apply('transpose', [x], Array.isArray(perm) ? { perm } : perm ?? {}),
  broadcastTo: (x: Tensor, shape: Shape): Tensor => apply('broadcastTo', [x], { shape: [...shape] }),
  expandDims: (x: Tensor, axis: number | { axis: number } = 0): Tensor => {
    const a = normAxis(typeof axis === 'number' ? axis : axis.axis, x.rank + 1, 'expandDims');
    const s = [...x.shape];
    s.splice(a, 0, 1);
    return x.reshape(s);
  },
  squeeze: (x: Tensor, axes?: number | number[] | { axes?: number[] }): Tensor => {
    const list = typeof axes === 'number' ? [axes] : Array.isArray(axes) ? axes : axes?.axes;
    const ax = list ? list.map((a) => normAxis(a, x.rank, 'squeeze')) : x.shape.flatMap((d, i) => (d === 1 ? [i] : []));
    for (const a of ax) if (x.shape[a] !== 1) throw new ShapeError(`squeeze: dim ${a} of ${x} is ${x.shape[a]}, not 1`);
    return x.reshape(x.shape.filter((_, i) => !ax.includes(i)));
  },
  slice: (x: Tensor, o: { begin: number[]; size?: number[] }): Tensor => apply('slice', [x], { begin: o.begin, size: o.size ?? o.begin.map(() => -1) }),
  pad: (x: Tensor, pads: [number, number][] | { pads: [number, number][]; value?: number }, value = 0): Tensor =>
    Array.isArray(pads) ? apply('pad', [x], { pads, value }) : apply('pad', [x], { pads: pads.pads, value: pads.value ?? 0 }),
  gather: (x: Tensor, indices: Tensor, o: { axis?: number } | number = {}): Tensor => apply('gather', [x, indices], typeof o === 'number' ? { axis: o } : o),
  scatterAdd: (updates: Tensor, indices: Tensor, o: { axis: number; size: number }): Tensor => apply('scatterAdd', [updates, indices], o),
  /** indices (i32) -> f32 one-hot along a new last axis. */
  oneHot: (indices: Tensor, depth: number | { depth: number; onValue?: number; offValue?: number }): Tensor =>
    oneHotOf(indices, typeof depth === 'number' ? { depth } : depth, 'oneHot indices'),
  split: (x: Tensor, sizes: number | number[], axis = 0): Tensor[] => {
    const a = normAxis(axis, x.rank, 'split');
    const d = x.shape[a];
    if (typeof d !== 'number') throw new ShapeError(`split: cannot split symbolic dim '${d}'`);
    if (typeof sizes === 'number' && d % sizes) throw new ShapeError(`split: dim ${a} of size ${d} does not split into ${sizes} equal parts`);
    const list = typeof sizes === 'number' ? Array(sizes).fill(d / sizes) : sizes;
    if (list.reduce((p, q) => p + q, 0) !== d) throw new ShapeError(`split: sizes [${list.join(', ')}] do not add up to ${d}`);
    let at = 0;
    return list.map((len) => {
      const begin = x.shape.map((_, i) => (i === a ? at : 0));
      at += len;
      return x.slice({ begin, size: x.shape.map((dd, i) => (i === a ? len : typeof dd === 'number' ? dd : -1)) });
    });
  },

  // convolution and pooling (NCHW)
  conv2d: (x: Tensor, w: Tensor, o: ConvOptions = {}): Tensor => apply('conv2d', [x, w], convAttrs(x, w, o, 'conv2d')),
  conv2dTranspose: (x: Tensor, w: Tensor, o: ConvOptions & { outputPadding?: Pair | [number, number] } = {}): Tensor => {
    const { padding, ...rest } = o;
    const op = o.outputPadding === undefined ? [0, 0] : typeof o.outputPadding === 'number' ? [o.outputPadding, o.outputPadding] : o.outputPadding;
    const base = convAttrs(x, w, { ...rest, padding: padding === 'same' ? 0 : padding ?? 0 }, 'conv2dTranspose');
    return apply('conv2dTranspose', [x, w], { ...base, outputPadding: op });
  },
  conv2dBackpropFilter: (x: Tensor, dy: Tensor, attrs: Record<string, unknown>): Tensor => apply('conv2dBackpropFilter', [x, dy], attrs),
  maxPool2d: (x: Tensor, o: PoolOptions): Tensor => apply('maxPool2d', [x], poolAttrs(x, o, 'maxPool2d')),
  maxPool2dGrad: (x: Tensor, dy: Tensor, attrs: Record<string, unknown>): Tensor => apply('maxPool2dGrad', [x, dy], attrs),
  /** Average pooling as a depthwise conv2d with a constant filter (padding counts as zeros). */
  avgPool2d: (x: Tensor, o: PoolOptions): Tensor => {
    const a = poolAttrs(x, o, 'avgPool2d');
    const c = x.shape[1];
    if (typeof c !== 'number') throw new ShapeError('avgPool2d: channels must be static');
    const k = a.kernel[0] * a.kernel[1];
    const w = x.graph.fill([c, 1, a.kernel[0], a.kernel[1]], 1 / k);
    return apply('conv2d', [x, w], { stride: a.stride, padding: a.padding, dilation: [1, 1], groups: c });
  },

  // normalization and regularisation
  /** (x - mean) / sqrt(variance + epsilon) * scale + offset, all broadcast against x. */
  batchNorm: (x: Tensor, o: { mean: TensorLike; variance: TensorLike; scale?: TensorLike; offset?: TensorLike; epsilon?: number }): Tensor => {
    let y = x.sub(o.mean).mul(x.graph.lift(o.variance).add(o.epsilon ?? 1e-5).rsqrt());
    if (o.scale !== undefined) y = y.mul(o.scale);
    return o.offset !== undefined ? y.add(o.offset) : y;
  },
  layerNorm: (x: Tensor, o: { axes?: number[]; epsilon?: number; scale?: TensorLike; offset?: TensorLike } = {}): Tensor => {
    const axes = o.axes ?? [-1];
    const mean = x.mean({ axes, keepDims: true });
    const variance = x.variance({ axes, keepDims: true });
    return x.batchNorm({ mean, variance, epsilon: o.epsilon ?? 1e-5, ...(o.scale !== undefined ? { scale: o.scale } : {}), ...(o.offset !== undefined ? { offset: o.offset } : {}) });
  },
  /** Inverted dropout on the device: zero with probability `rate` while training, identity otherwise. */
  dropout: (x: Tensor, o: { rate: number; seed?: number; training?: Tensor | boolean }): Tensor => {
    const { rate, seed } = parseOptions(z.object({ rate: z.number().min(0).lt(1), seed: z.number().int().optional(), training: z.any().optional() }).strict(), o, 'dropout');
    if (rate === 0 || o.training === false) return x;
    const keep = x.graph.randomUniform(x.shape, seed === undefined ? {} : { seed }).greaterEqual(rate);
    const dropped = keep.where(x.div(1 - rate), 0);
    if (o.training === true) return dropped;
    return (o.training ?? x.graph.isTraining()).where(dropped, x);
  },
};

/** concat is the one op whose first argument is a list. */
export function concat(xs: readonly Tensor[], axis = 0): Tensor {
  if (!xs.length) throw new ShapeError('concat: needs at least one tensor');
  return xs[0]!.graph.addNode('concat', xs, { axis });
}

// ---------------------------------------------------------------- derived from the spec table

type Inputs<N> = N extends 1 ? [x: TensorLike] : N extends 2 ? [a: TensorLike, b: TensorLike] : N extends 3 ? [a: TensorLike, b: TensorLike, c: TensorLike] : never;
type AttrsOf<K extends PrimitiveName> = SpecOf<K>['attrs'] extends z.ZodType<infer A> ? A : never;
type AttrArg<A> = {} extends A ? [attrs?: A] : [attrs: A]; // eslint-disable-line @typescript-eslint/no-empty-object-type
/** Primitives users call on tensors (sources and assign are Graph methods; concat takes a list). */
type Callable = { [K in PrimitiveName]: SpecOf<K>['kind'] extends 'source' | 'state' ? never : SpecOf<K>['arity'] extends 0 | 'variadic' ? never : K }[PrimitiveName];
type Derived = { [K in Exclude<Callable, keyof typeof handOps>]: (...args: [...Inputs<SpecOf<K>['arity']>, ...AttrArg<AttrsOf<K>>]) => Tensor };

function derive(name: PrimitiveName) {
  const n = spec(name).arity as number;
  return (...args: unknown[]): Tensor => apply(name, args.slice(0, n) as TensorLike[], (args[n] ?? {}) as Attrs);
}
const derived = Object.fromEntries(PRIMITIVE_NAMES.filter((n) => {
  const s = spec(n);
  return s.kind !== 'source' && s.kind !== 'state' && typeof s.arity === 'number' && s.arity > 0 && !Object.hasOwn(handOps, n);
}).map((n) => [n, derive(n)])) as Derived;

type OpTable = Derived & typeof handOps;
/** Every op as a function of its tensor first argument: what Tensor's methods are made from. */
export const METHOD_OPS: OpTable = { ...derived, ...handOps };
export const ops = { ...METHOD_OPS, concat };

/** The op table as methods: the first argument becomes `this`. */
export type FluentOps = {
  [K in keyof OpTable]: OpTable[K] extends (x: never, ...rest: infer R) => infer Ret ? (...rest: R) => Ret : never;
};
