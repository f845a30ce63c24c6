/**
 * Every op users call, as functions (`ops.add(a, b)`) and as Tensor methods (`a.add(b)`; the
 * class defines one method per entry, see tensor.ts). A primitive without a hand-written
 * wrapper below gets one derived from its spec: `(inputs..., attrs)`, so a new elementwise
 * primitive needs no line here. Hand-written wrappers lift numbers to tensors and normalise
 * options; composites emit primitives and have no kernel or gradient of their own.
 *
 * Each op's arguments are checked at this boundary (ops/args.ts) before it adds any node:
 * a derived op's from its spec (arity and attribute schema), a hand-written op's from the
 * argument list written beside it. Docstrings live on the op's entry: a derived op's on its
 * spec entry, a hand-written op's here; both reach `ops.*`, Tensor's methods and the API reference.
 */
import { z } from 'zod';
import { DTypeError, GraphError, OptionsError, ShapeError } from '../errors';
import { type DType, type Dim, normAxis, type Shape } from '../shape';
import type { Attrs } from '../spec';
import type { Tensor, TensorLike } from '../tensor';
import { type Arg, arg, checkedOp, dtypeSchema, int, ints, isTensor, number, optional, options, shapeSchema, tensor, tensorField, tensorLike, tensorLikeField } from './args';
import { PRIMITIVE_NAMES, type PRIMITIVES, type PrimitiveName, type SpecOf, spec } from './primitives';
import { reduceAxes } from './util';

// ---------------------------------------------------------------- plumbing

function graphOf(op: string, xs: readonly TensorLike[]) {
  const t = xs.find(isTensor);
  if (!t) throw new GraphError(`${op}: needs at least one Tensor argument (got only numbers or booleans)`);
  return t.graph;
}

/** Apply a primitive to tensor-like inputs; numbers become scalars of the tensor's dtype. */
export function apply(op: PrimitiveName, inputs: readonly TensorLike[], attrs: Record<string, unknown> = {}): Tensor {
  const g = graphOf(op, inputs);
  const like = inputs.find(isTensor);
  return g.addNode(op, inputs.map((x) => g.lift(x, like)), attrs);
}

// ---------------------------------------------------------------- options

/** Reduction axes: an axis, a list of axes, or `{ axes, keepDims }` (all axes when absent). */
export type ReduceOptions = { axes?: number | number[]; keepDims?: boolean };
const reduceArg = optional(arg('options', 'an axis, a list of axes or { axes, keepDims }', {
  value: z.union([int, ints]),
  options: z.object({ axes: z.union([int, ints]).optional(), keepDims: z.boolean().optional() }).strict(),
}));
const reduceOpts = (o: ReduceOptions | number | number[] | undefined) => {
  const v: ReduceOptions = typeof o === 'number' || Array.isArray(o) ? { axes: o } : o ?? {};
  return { axes: v.axes === undefined ? undefined : typeof v.axes === 'number' ? [v.axes] : v.axes, keepDims: v.keepDims ?? false };
};
const axisArg = (keys: z.ZodRawShape = {}) => optional(arg('options', `an axis or { axis${Object.keys(keys).map((k) => `, ${k}`).join('')} }`, {
  value: int, options: z.object({ axis: int.optional(), ...keys }).strict(),
}));

type Pair = number | [number, number];
const positive = z.number().int().positive();
const pairSchema = z.union([positive, z.tuple([positive, positive])]);
const pair = (v: Pair): [number, number] => (typeof v === 'number' ? [v, v] : v);
/** Convolution and pooling padding: all sides, [vertical, horizontal], [top, bottom, left, right], or 'valid' / 'same'. */
export type Padding = number | [number, number] | [number, number, number, number] | 'valid' | 'same';
const nonNeg = z.number().int().nonnegative();
const paddingSchema = z.union([nonNeg, z.tuple([nonNeg, nonNeg]), z.tuple([nonNeg, nonNeg, nonNeg, nonNeg]), z.enum(['valid', 'same'])]);
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
  return typeof p === 'number' ? [p, p, p, p] : p.length === 2 ? [p[0], p[0], p[1], p[1]] : p;
}

/** conv2d options: stride and dilation per spatial axis, padding (see Padding), channel groups. */
export interface ConvOptions {
  /** Step between windows: one number for both axes or [vertical, horizontal]; default 1. */
  stride?: Pair;
  /** Zeros added around the input; default 0. */
  padding?: Padding;
  /** Spacing between filter taps; default 1. */
  dilation?: Pair;
  /** Channel groups (input and output channels must divide by it); default 1. */
  groups?: number;
}
const convFields = { stride: pairSchema.optional(), padding: paddingSchema.optional(), dilation: pairSchema.optional(), groups: positive.optional() };
const convOpts = optional(options(z.object(convFields).strict()));
function convAttrs(x: Tensor, w: Tensor, o: ConvOptions, what: string) {
  const stride = pair(o.stride ?? 1), dilation = pair(o.dilation ?? 1);
  const k: [number, number] = [w.shape[2] as number, w.shape[3] as number];
  return { stride, dilation, groups: o.groups ?? 1, padding: pads4(o.padding ?? 0, x, k, stride, dilation, what) };
}

/** Pooling options: window size, stride (default: the window) and padding (see Padding). */
export interface PoolOptions {
  /** Window size: one number for both axes or [height, width]. */
  kernel: Pair;
  /** Step between windows; default the kernel size. */
  stride?: Pair;
  /** Padding; default 0. For maxPool2d padded cells never win, for avgPool2d they count as zeros. */
  padding?: Padding;
}
const poolOpts = options(z.object({ kernel: pairSchema, stride: pairSchema.optional(), padding: paddingSchema.optional() }).strict());
function poolAttrs(x: Tensor, o: PoolOptions, what: string) {
  const kernel = pair(o.kernel);
  const stride = pair(o.stride ?? kernel);
  return { kernel, stride, padding: pads4(o.padding ?? 0, x, kernel, stride, [1, 1], what) };
}

/** A spec's attribute schema as a checked argument (conv2dBackpropFilter, maxPool2dGrad, derived ops). */
const specAttrs = (name: PrimitiveName, argName = 'attrs'): Arg => {
  const schema = spec(name).attrs;
  const a = options(schema, argName);
  return schema.safeParse({}).success ? optional(a) : a;
};

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

/** A hand-written op: its checked arguments and its function. */
interface OpDef<F> { readonly args: readonly Arg[]; readonly fn: F }

const self = tensor('x');
const alphaArg = (dflt: number) => optional(arg('alpha', `a number or { alpha } (default ${dflt})`, { value: number, options: z.object({ alpha: number.optional() }).strict() }));

const handOps = {
  /**
   * max(x, alpha * x): x where x > 0, else alpha * x. f32, any shape; output same shape.
   * `alpha` (a number or `{ alpha }`) is the slope for x <= 0, default 0.2.
   * @throws DTypeError if x is not f32; OptionsError if alpha is not a number.
   * @example x.leakyRelu(0.1)
   */
  leakyRelu: { args: [tensorLike('x'), alphaArg(0.2)], fn: (x: TensorLike, alpha: number | { alpha?: number } = 0.2): Tensor => apply('leakyRelu', [x], { alpha: typeof alpha === 'number' ? alpha : alpha.alpha ?? 0.2 }) },
  /**
   * Exponential linear unit: x where x > 0, else alpha * (e^x - 1). f32, any shape.
   * `alpha` (a number or `{ alpha }`) scales the negative part, default 1.
   * @throws DTypeError if x is not f32; OptionsError if alpha is not a number.
   * @example x.elu()
   */
  elu: { args: [tensorLike('x'), alphaArg(1)], fn: (x: TensorLike, alpha: number | { alpha?: number } = 1): Tensor => apply('elu', [x], { alpha: typeof alpha === 'number' ? alpha : alpha.alpha ?? 1 }) },
  /**
   * Convert to another dtype, same shape. f32 -> i32 truncates toward zero; any -> bool is x != 0;
   * bool -> f32/i32 is 0 or 1. Differentiable only f32 -> f32.
   * @throws OptionsError for an unknown dtype.
   * @example labels.cast('f32')
   */
  cast: { args: [tensorLike('x'), arg('dtype', "'f32', 'i32' or 'bool'", { value: dtypeSchema })], fn: (x: TensorLike, dtype: DType): Tensor => apply('cast', [x], { dtype }) },
  /**
   * `cond.where(a, b)`: a where cond is true, else b. cond is bool; a and b share a dtype (a
   * number takes the other's); all three broadcast together.
   * @throws DTypeError if cond is not bool or a and b differ; ShapeError if shapes do not broadcast.
   * @example x.greater(0).where(x, 0) // relu
   */
  where: { args: [tensorLike('cond'), tensorLike('a'), tensorLike('b')], fn: (cond: TensorLike, a: TensorLike, b: TensorLike): Tensor => {
    const g = graphOf('where', [cond, a, b]);
    const like = [a, b].find(isTensor);
    return g.addNode('where', [g.lift(cond), g.lift(a, like), g.lift(b, like)], {});
  } },
  /**
   * Clamp to [lo, hi] elementwise (NaN stays NaN). f32 or i32, same shape and dtype.
   * @throws OptionsError if lo or hi is not a number.
   * @example probs.clip(1e-7, 1 - 1e-7)
   */
  clip: { args: [self, arg('lo', 'a number', { value: number }), arg('hi', 'a number', { value: number })], fn: (x: Tensor, lo: number, hi: number): Tensor => x.maximum(lo).minimum(hi) },

  // reductions
  /**
   * Sum over `axes` (all axes by default), dropping them unless keepDims. f32 or i32, same dtype.
   * x [2, 3] with axes 1 -> [2] (keepDims: [2, 1]).
   * @throws ShapeError for an axis out of range or repeated; DTypeError for bool.
   * @example x.sum(); x.sum(-1); x.sum({ axes: [0, 1], keepDims: true })
   */
  sum: { args: [self, reduceArg], fn: (x: Tensor, o?: ReduceOptions | number | number[]): Tensor => apply('sum', [x], reduceOpts(o)) },
  /**
   * Product over `axes` (all by default); shapes as in sum. f32 or i32.
   * @throws ShapeError for a bad axis; DTypeError for bool.
   * @example x.prod(0)
   */
  prod: { args: [self, reduceArg], fn: (x: Tensor, o?: ReduceOptions | number | number[]): Tensor => apply('prod', [x], reduceOpts(o)) },
  /**
   * Maximum over `axes` (all by default); NaN wins. Shapes as in sum; f32 or i32. The gradient
   * is shared equally among tied maxima.
   * @throws ShapeError for a bad axis; DTypeError for bool.
   * @example logits.max({ axes: [-1], keepDims: true })
   */
  max: { args: [self, reduceArg], fn: (x: Tensor, o?: ReduceOptions | number | number[]): Tensor => apply('max', [x], reduceOpts(o)) },
  /**
   * Minimum over `axes` (all by default); NaN wins. Shapes as in sum; f32 or i32.
   * @throws ShapeError for a bad axis; DTypeError for bool.
   * @example x.min(1)
   */
  min: { args: [self, reduceArg], fn: (x: Tensor, o?: ReduceOptions | number | number[]): Tensor => apply('min', [x], reduceOpts(o)) },
  /**
   * Index (i32) of the first maximum along one axis (default -1), which is dropped unless
   * keepDims. x f32/i32 [B, C] -> i32 [B]. Not differentiable.
   * @throws ShapeError for an axis out of range; DTypeError for bool.
   * @example const predicted = logits.argMax(-1)
   */
  argMax: { args: [self, axisArg({ keepDims: z.boolean().optional() })], fn: (x: Tensor, o: { axis?: number; keepDims?: boolean } | number = {}): Tensor => apply('argMax', [x], typeof o === 'number' ? { axis: o } : o) },
  /**
   * Index (i32) of the first minimum along one axis (default -1); shapes as in argMax.
   * @throws ShapeError for an axis out of range; DTypeError for bool.
   * @example distances.argMin(1)
   */
  argMin: { args: [self, axisArg({ keepDims: z.boolean().optional() })], fn: (x: Tensor, o: { axis?: number; keepDims?: boolean } | number = {}): Tensor => apply('argMin', [x], typeof o === 'number' ? { axis: o } : o) },
  /**
   * Mean over `axes` (all by default); shapes as in sum. f32 in, f32 out (a symbolic dim such as
   * 'batch' divides by its size at run time).
   * @throws ShapeError for a bad axis; DTypeError unless f32.
   * @example loss.mean(); x.mean({ axes: [0], keepDims: true })
   */
  mean: { args: [self, reduceArg], fn: (x: Tensor, o?: ReduceOptions | number | number[]): Tensor => {
    const r = reduceOpts(o);
    const axes = reduceAxes(x.rank, r.axes, 'mean');
    return x.sum(r).div(x.graph.addNode('dimSize', [], { dims: axes.map((a) => x.shape[a]!) }));
  } },
  /**
   * Population variance (divides by n) over `axes`; shapes as in sum. f32.
   * @throws ShapeError for a bad axis; DTypeError unless f32.
   * @example x.variance({ axes: [0] })
   */
  variance: { args: [self, reduceArg], fn: (x: Tensor, o?: ReduceOptions | number | number[]): Tensor => {
    const r = reduceOpts(o);
    return x.sub(x.mean({ ...r, keepDims: true })).square().mean(r);
  } },
  /**
   * log(sum(exp(x))) over `axes`, computed stably (the max is subtracted first and never
   * differentiated; an infinite max gives that infinity, not NaN). Shapes as in sum; f32.
   * @throws ShapeError for a bad axis; DTypeError unless f32.
   * @example logits.logSumExp(-1)
   */
  logSumExp: { args: [self, reduceArg], fn: (x: Tensor, o?: ReduceOptions | number | number[]): Tensor => {
    const r = reduceOpts(o);
    const m = x.max({ axes: r.axes, keepDims: true }).stopGradient();
    const safe = m.sub(m).isNaN().where(0, m); // an infinite max would turn x - m into NaN
    const s = x.sub(safe).exp().sum({ axes: r.axes, keepDims: true }).log().add(safe);
    return r.keepDims ? s : s.reshape(x.shape.filter((_, i) => !reduceAxes(x.rank, r.axes, 'logSumExp').includes(i)));
  } },

  // softmax family
  /**
   * exp(x) / sum(exp(x)) along `axis` (default -1), computed stably. f32; same shape.
   * @throws ShapeError for an axis out of range; DTypeError unless f32.
   * @example const probs = logits.softmax()
   */
  softmax: { args: [self, axisArg()], fn: (x: Tensor, o: { axis?: number } | number = {}): Tensor => {
    const axis = typeof o === 'number' ? o : o.axis ?? -1;
    const e = x.sub(x.max({ axes: [axis], keepDims: true }).stopGradient()).exp();
    return e.div(e.sum({ axes: [axis], keepDims: true }));
  } },
  /**
   * x - logSumExp(x) along `axis` (default -1): log-probabilities, stable for large logits. f32.
   * @throws ShapeError for an axis out of range; DTypeError unless f32.
   * @example logits.logSoftmax(-1)
   */
  logSoftmax: { args: [self, axisArg()], fn: (x: Tensor, o: { axis?: number } | number = {}): Tensor => {
    const axis = typeof o === 'number' ? o : o.axis ?? -1;
    return x.sub(x.logSumExp({ axes: [axis], keepDims: true }));
  } },
  /**
   * Per-example cross-entropy of logits f32 [..., C] against integer class labels (i32
   * [...], one rank less) or one-hot/probability labels (f32 [..., C]); output f32 [...].
   * Stable (built on logSoftmax). Fed integer labels outside [0, C) are a FeedError at run time.
   * Option `labelSmoothing` in [0, 1] mixes the target with the uniform distribution.
   * @throws ShapeError if the class axis is symbolic or the labels are neither i32 [...] nor f32
   *   [..., C] of the logits' shape (naming both); DTypeError for bool labels.
   * @example const loss = logits.softmaxCrossEntropy(labels).mean()
   */
  softmaxCrossEntropy: { args: [tensor('logits'), tensor('labels'), optional(options(z.object({ labelSmoothing: z.number().min(0).max(1).optional() }).strict()))], fn: (logits: Tensor, labels: Tensor, o: { labelSmoothing?: number } = {}): Tensor => {
      const labelSmoothing = o.labelSmoothing ?? 0;
      const classes = logits.shape.at(-1);
      if (typeof classes !== 'number') throw new ShapeError('softmaxCrossEntropy: the class dimension must be static');
      // Checked here, not left to the mul below: its error would name an internal node.
      const want = labels.dtype === 'i32' ? logits.shape.slice(0, -1) : logits.shape;
      if (labels.dtype === 'bool' || labels.rank !== want.length || labels.shape.some((d, i) => d !== want[i])) {
        const Err = labels.dtype === 'bool' ? DTypeError : ShapeError;
        throw new Err(
          `softmaxCrossEntropy: labels ${labels} must be i32 class indices [${logits.shape.slice(0, -1).join(', ')}] (the logits' shape without the class axis) ` +
            `or f32 one-hot/probability rows [${logits.shape.join(', ')}], for logits ${logits}` +
            (labels.dtype === 'f32' && labels.rank === logits.rank - 1 ? ' (f32 class indices: cast them with .cast(\'i32\'))' : ''),
        );
      }
      let target = labels.dtype === 'i32' ? oneHotOf(labels, { depth: classes }, 'softmaxCrossEntropy labels') : labels;
      if (labelSmoothing > 0) target = target.mul(1 - labelSmoothing).add(labelSmoothing / classes);
      // 0 log 0 is 0 (a class the target gives no weight costs nothing even at a -inf logit);
      // target * logp would make it 0 * -inf = NaN.
      return target.equal(0).where(0, target.mul(logits.logSoftmax())).sum({ axes: [-1] }).neg();
    } },

  // linear algebra
  /**
   * Matrix product, f32: a [..., M, K] x b [..., K, N] -> [..., M, N], batch dims broadcast.
   * A rank-1 operand is a vector (its axis is dropped from the result, as in NumPy).
   * `transposeA` / `transposeB` use the operand's last two axes swapped.
   * @throws ShapeError if the inner dims differ or batch dims do not broadcast; DTypeError unless f32.
   * @example const y = x.matmul(w) // [batch, 784] x [784, 10] -> [batch, 10]
   */
  matmul: { args: [tensor('a'), tensor('b'), optional(options(z.object({ transposeA: z.boolean().optional(), transposeB: z.boolean().optional() }).strict()))], fn: (a: Tensor, b: Tensor, o: { transposeA?: boolean; transposeB?: boolean } = {}): Tensor => {
      const va = a.rank === 1, vb = b.rank === 1;
      const r = apply('matmul', [va ? a.expandDims(0) : a, vb ? b.expandDims(-1) : b], o);
      return va || vb ? r.reshape(r.shape.filter((_, i) => !((va && i === r.rank - 2) || (vb && i === r.rank - 1)))) : r;
    } },

  // shape
  /**
   * Same elements in a new shape (free: no copy). One dim may be -1 (inferred); symbolic dims
   * must appear in both shapes. Any dtype.
   * @throws ShapeError if the sizes differ or -1 is ambiguous; OptionsError if shape is not an array of dims.
   * @example x.reshape(['batch', -1]) // [batch, 28, 28] -> [batch, 784]
   */
  reshape: { args: [self, arg('shape', 'a shape (an array of non-negative integers, symbol names and at most one -1)', { value: shapeSchema })], fn: (x: Tensor, shape: Shape): Tensor => apply('reshape', [x], { shape: [...shape] }) },
  /**
   * Permute axes: output axis i is input axis perm[i] (default: reversed). Any dtype.
   * @throws ShapeError if perm is not a permutation of the input's axes.
   * @example x.transpose([0, 2, 1]) // [B, M, N] -> [B, N, M]
   */
  transpose: { args: [self, optional(arg('perm', 'a permutation (array of axes) or { perm }', { value: ints, options: z.object({ perm: ints.optional() }).strict() }))], fn: (x: Tensor, perm?: number[] | { perm?: number[] }): Tensor => apply('transpose', [x], Array.isArray(perm) ? { perm } : perm ?? {}) },
  /**
   * Repeat size-1 (and missing leading) dims to `shape`, NumPy broadcasting. Any dtype.
   * @throws ShapeError if x does not broadcast to shape.
   * @example bias.broadcastTo([4, 10]) // [10] -> [4, 10]
   */
  broadcastTo: { args: [self, arg('shape', 'a shape (an array of non-negative integers and symbol names)', { value: shapeSchema })], fn: (x: Tensor, shape: Shape): Tensor => apply('broadcastTo', [x], { shape: [...shape] }) },
  /**
   * Insert a size-1 axis at `axis` (default 0; negative counts from the end of the result).
   * @throws ShapeError for an axis out of range.
   * @example x.expandDims(-1) // [B, T] -> [B, T, 1]
   */
  expandDims: { args: [self, optional(arg('axis', 'an axis or { axis }', { value: int, options: z.object({ axis: int }).strict() }))], fn: (x: Tensor, axis: number | { axis: number } = 0): Tensor => {
    const a = normAxis(typeof axis === 'number' ? axis : axis.axis, x.rank + 1, 'expandDims');
    const s = [...x.shape];
    s.splice(a, 0, 1);
    return x.reshape(s);
  } },
  /**
   * Drop size-1 axes: the given ones, or all of them.
   * @throws ShapeError if a given axis is out of range or not of size 1.
   * @example x.squeeze(1) // [B, 1, C] -> [B, C]
   */
  squeeze: { args: [self, optional(arg('axes', 'an axis, a list of axes or { axes }', { value: z.union([int, ints]), options: z.object({ axes: ints.optional() }).strict() }))], fn: (x: Tensor, axes?: number | number[] | { axes?: number[] }): Tensor => {
      const list = typeof axes === 'number' ? [axes] : Array.isArray(axes) ? axes : axes?.axes;
      const ax = list ? list.map((a) => normAxis(a, x.rank, 'squeeze')) : x.shape.flatMap((d, i) => (d === 1 ? [i] : []));
      for (const a of ax) if (x.shape[a] !== 1) throw new ShapeError(`squeeze: dim ${a} of ${x} is ${x.shape[a]}, not 1`);
      return x.reshape(x.shape.filter((_, i) => !ax.includes(i)));
    } },
  /**
   * A box of x: `size[i]` elements from `begin[i]` along each axis (negative begin counts from
   * the end; size -1 takes the rest; default all -1). One begin and size per axis. Any dtype.
   * @throws ShapeError if begin/size do not have x's rank or run out of range.
   * @example x.slice({ begin: [0, 2], size: [-1, 3] }) // [B, 10] -> [B, 3]
   */
  slice: { args: [self, options(z.object({ begin: ints, size: ints.optional() }).strict())], fn: (x: Tensor, o: { begin: number[]; size?: number[] }): Tensor => apply('slice', [x], { begin: o.begin, size: o.size ?? o.begin.map(() => -1) }) },
  /**
   * Pad each axis with [before, after] elements of `value` (default 0). Any dtype.
   * @throws ShapeError if there is not one pair per axis, or a symbolic dim would be padded.
   * @example img.pad([[0, 0], [0, 0], [1, 1], [1, 1]]) // NCHW, one pixel around
   */
  pad: { args: [self, arg('pads', 'a list of [before, after] pairs (one per axis) or { pads, value }', {
    value: z.array(z.tuple([nonNeg, nonNeg])), options: z.object({ pads: z.array(z.tuple([nonNeg, nonNeg])), value: number.optional() }).strict(),
  }), optional(arg('value', 'a number', { value: number }))], fn: (x: Tensor, pads: [number, number][] | { pads: [number, number][]; value?: number }, value = 0): Tensor =>
    Array.isArray(pads) ? apply('pad', [x], { pads, value }) : apply('pad', [x], { pads: pads.pads, value: pads.value ?? 0 }) },
  /**
   * Rows of x along `axis` (default 0) picked by i32 indices: x [N, D] with indices [B, T] at
   * axis 0 -> [B, T, D]. Indices out of range read 0; fed ones are a FeedError at run time.
   * @throws DTypeError unless indices are i32; ShapeError for an axis out of range.
   * @example const vectors = table.gather(tokenIds)
   */
  gather: { args: [self, tensor('indices'), axisArg()], fn: (x: Tensor, indices: Tensor, o: { axis?: number } | number = {}): Tensor => apply('gather', [x, indices], typeof o === 'number' ? { axis: o } : o) },
  /**
   * The adjoint of gather: a zero tensor with `size` rows along `axis`, each update row added at
   * its index (duplicates sum). updates [..., K, ...] with i32 indices [K] -> [..., size, ...].
   * @throws DTypeError unless indices are i32; ShapeError if updates do not match the indices at axis.
   * @example rows.scatterAdd(ids, { axis: 0, size: vocab })
   */
  scatterAdd: { args: [tensor('updates'), tensor('indices'), specAttrs('scatterAdd', 'options')], fn: (updates: Tensor, indices: Tensor, o: { axis: number; size: number }): Tensor => apply('scatterAdd', [updates, indices], o) },
  /**
   * i32 indices [...] -> f32 one-hot [..., depth] (onValue 1, offValue 0 by default). Fed
   * indices outside [0, depth) are a FeedError at run time.
   * @throws OptionsError for a depth that is not a non-negative integer.
   * @example labels.oneHot(10)
   */
  oneHot: { args: [tensor('indices'), arg('depth', 'a depth or { depth, onValue, offValue }', { value: nonNeg, options: z.object({ depth: nonNeg, onValue: number.optional(), offValue: number.optional() }).strict() })], fn: (indices: Tensor, depth: number | { depth: number; onValue?: number; offValue?: number }): Tensor =>
      oneHotOf(indices, typeof depth === 'number' ? { depth } : depth, 'oneHot indices') },
  /**
   * Cut x along `axis` (default 0) into `sizes` (a list) or into that many equal parts (a number).
   * @throws ShapeError if the sizes do not add up to the dim, it does not divide, or it is symbolic.
   * @example const [q, k, v] = qkv.split(3, -1)
   */
  split: { args: [self, arg('sizes', 'a number of equal parts or a list of sizes', { value: z.union([positive, z.array(nonNeg)]) }), optional(arg('axis', 'an axis', { value: int }))], fn: (x: Tensor, sizes: number | number[], axis = 0): Tensor[] => {
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
    } },

  // convolution and pooling (NCHW)
  /**
   * 2-D convolution (cross-correlation, as in PyTorch), NCHW, f32: x [N, C, H, W] with filter
   * w [O, C / groups, KH, KW] -> [N, O, OH, OW], OH = floor((H + pads - dilation (KH - 1) - 1) / stride) + 1.
   * @throws ShapeError for ranks other than 4, channels that do not match the filter and groups,
   * or an empty output; DTypeError unless f32; OptionsError for a bad stride/padding/dilation/groups.
   * @example x.conv2d(w, { stride: 2, padding: 'same' })
   */
  conv2d: { args: [self, tensor('w'), convOpts], fn: (x: Tensor, w: Tensor, o: ConvOptions = {}): Tensor => apply('conv2d', [x, w], convAttrs(x, w, o, 'conv2d')) },
  /**
   * Transposed convolution (the gradient of conv2d with respect to its input), NCHW, f32:
   * x [N, C, H, W], filter w [C, O / groups, KH, KW] -> [N, O, (H - 1) stride - pads + dilation (KH - 1) + outputPadding + 1, ...].
   * `outputPadding` (smaller than stride or dilation) picks among the input sizes a strided conv maps to H.
   * @throws ShapeError for ranks other than 4, mismatched channels, a bad outputPadding; DTypeError unless f32.
   * @example x.conv2dTranspose(w, { stride: 2 }) // x [N, C, 7, 7], w [C, O, 3, 3] -> [N, O, 15, 15]
   */
  conv2dTranspose: { args: [self, tensor('w'), optional(options(z.object({ ...convFields, outputPadding: z.union([nonNeg, z.tuple([nonNeg, nonNeg])]).optional() }).strict()))], fn: (x: Tensor, w: Tensor, o: ConvOptions & { outputPadding?: Pair | [number, number] } = {}): Tensor => {
      const { padding, ...rest } = o;
      const op = o.outputPadding === undefined ? [0, 0] : typeof o.outputPadding === 'number' ? [o.outputPadding, o.outputPadding] : o.outputPadding;
      const base = convAttrs(x, w, { ...rest, padding: padding === 'same' ? 0 : padding ?? 0 }, 'conv2dTranspose');
      return apply('conv2dTranspose', [x, w], { ...base, outputPadding: op });
    } },
  /**
   * The gradient of conv2d with respect to its filter (what autodiff emits): x [N, C, H, W] and
   * dy [N, O, OH, OW] -> filter-shaped f32 [O, C / groups, KH, KW]. Attributes as the conv's, plus filterShape.
   * @throws ShapeError if dy is not the conv's output shape; OptionsError for bad attributes.
   * @example x.conv2dBackpropFilter(dy, { stride: [1, 1], padding: [0, 0, 0, 0], dilation: [1, 1], groups: 1, filterShape: [8, 3, 3, 3] })
   */
  conv2dBackpropFilter: { args: [self, tensor('dy'), specAttrs('conv2dBackpropFilter')], fn: (x: Tensor, dy: Tensor, attrs: Record<string, unknown>): Tensor => apply('conv2dBackpropFilter', [x, dy], attrs) },
  /**
   * Max over each pooling window, NCHW, f32: x [N, C, H, W] -> [N, C, OH, OW] (sizes as conv2d's).
   * The gradient goes to each window's first maximum.
   * @throws ShapeError unless rank 4 or if the output would be empty; OptionsError without a kernel.
   * @example x.maxPool2d({ kernel: 2 }) // [N, C, 28, 28] -> [N, C, 14, 14]
   */
  maxPool2d: { args: [self, poolOpts], fn: (x: Tensor, o: PoolOptions): Tensor => apply('maxPool2d', [x], poolAttrs(x, o, 'maxPool2d')) },
  /**
   * The gradient of maxPool2d (what autodiff emits): x [N, C, H, W] and dy [N, C, OH, OW] -> [N, C, H, W].
   * @throws ShapeError if dy is not the pool's output shape; OptionsError for bad attributes.
   * @example x.maxPool2dGrad(dy, { kernel: [2, 2], stride: [2, 2], padding: [0, 0, 0, 0] })
   */
  maxPool2dGrad: { args: [self, tensor('dy'), specAttrs('maxPool2dGrad')], fn: (x: Tensor, dy: Tensor, attrs: Record<string, unknown>): Tensor => apply('maxPool2dGrad', [x, dy], attrs) },
  /**
   * Mean over each pooling window (padding counts as zeros), NCHW, f32; sizes as maxPool2d.
   * Built as a depthwise conv2d with a constant filter.
   * @throws ShapeError unless rank 4, if channels are symbolic or the output would be empty.
   * @example x.avgPool2d({ kernel: 2, stride: 2 })
   */
  avgPool2d: { args: [self, poolOpts], fn: (x: Tensor, o: PoolOptions): Tensor => {
    const a = poolAttrs(x, o, 'avgPool2d');
    const c = x.shape[1];
    if (typeof c !== 'number') throw new ShapeError('avgPool2d: channels must be static');
    const k = a.kernel[0] * a.kernel[1];
    const w = x.graph.fill([c, 1, a.kernel[0], a.kernel[1]], 1 / k);
    return apply('conv2d', [x, w], { stride: a.stride, padding: a.padding, dilation: [1, 1], groups: c });
  } },

  // normalization and regularisation
  /**
   * (x - mean) / sqrt(variance + epsilon) * scale + offset, f32, every term broadcast against x
   * (tensors or numbers); epsilon defaults to 1e-5. Output x's shape.
   * @throws OptionsError without mean and variance; ShapeError if a term does not broadcast.
   * @example x.batchNorm({ mean: m, variance: v, scale: gamma, offset: beta })
   */
  batchNorm: { args: [self, options(z.object({ mean: tensorLikeField, variance: tensorLikeField, scale: tensorLikeField.optional(), offset: tensorLikeField.optional(), epsilon: number.optional() }).strict())], fn: (x: Tensor, o: { mean: TensorLike; variance: TensorLike; scale?: TensorLike; offset?: TensorLike; epsilon?: number }): Tensor => {
      let y = x.sub(o.mean).mul(x.graph.lift(o.variance).add(o.epsilon ?? 1e-5).rsqrt());
      if (o.scale !== undefined) y = y.mul(o.scale);
      return o.offset !== undefined ? y.add(o.offset) : y;
    } },
  /**
   * Normalise over `axes` (default [-1]) to zero mean and unit variance, then scale and offset
   * (broadcast against x). f32; output x's shape.
   * @throws ShapeError for an axis out of range or a scale/offset that does not broadcast.
   * @example h.layerNorm({ scale: gamma, offset: beta }) // gamma, beta: [D]
   */
  layerNorm: { args: [self, optional(options(z.object({ axes: ints.optional(), epsilon: number.optional(), scale: tensorLikeField.optional(), offset: tensorLikeField.optional() }).strict()))], fn: (x: Tensor, o: { axes?: number[]; epsilon?: number; scale?: TensorLike; offset?: TensorLike } = {}): Tensor => {
      const axes = o.axes ?? [-1];
      const mean = x.mean({ axes, keepDims: true });
      const variance = x.variance({ axes, keepDims: true });
      return x.batchNorm({ mean, variance, epsilon: o.epsilon ?? 1e-5, ...(o.scale !== undefined ? { scale: o.scale } : {}), ...(o.offset !== undefined ? { offset: o.offset } : {}) });
    } },
  /**
   * Inverted dropout on the device: while training, each element is zeroed with probability
   * `rate` and the rest scaled by 1 / (1 - rate); otherwise x unchanged. `training` defaults to
   * the graph's train flag (`run(..., { train: true })`); a boolean fixes it. f32, x's shape.
   * @throws OptionsError unless 0 <= rate < 1.
   * @example h.dropout({ rate: 0.5 })
   */
  dropout: { args: [self, options(z.object({ rate: z.number().min(0).lt(1), seed: int.optional(), training: z.union([z.boolean(), tensorField]).optional() }).strict())], fn: (x: Tensor, o: { rate: number; seed?: number; training?: Tensor | boolean }): Tensor => {
      if (o.rate === 0 || o.training === false) return x;
      const keep = x.graph.randomUniform(x.shape, o.seed === undefined ? {} : { seed: o.seed }).greaterEqual(o.rate);
      const dropped = keep.where(x.div(1 - o.rate), 0);
      if (o.training === true) return dropped;
      return (o.training ?? x.graph.isTraining()).where(dropped, x);
    } },
};

/**
 * Join tensors along `axis` (default 0): same dtype, same shape except along axis.
 * [2, 3] and [4, 3] at axis 0 -> [6, 3].
 * @throws ShapeError for no tensors, shapes that differ off the axis or a symbolic axis;
 * DTypeError if dtypes differ; OptionsError unless xs is a non-empty array of Tensors.
 * @example concat([a, b], -1)
 */
export const concat: (xs: readonly Tensor[], axis?: number) => Tensor = checkedOp('concat', [
  arg('xs', 'a non-empty array of Tensors', { value: z.array(tensorField).min(1) }), optional(arg('axis', 'an axis', { value: int })),
], (xs: readonly Tensor[], axis = 0): Tensor => xs[0]!.graph.addNode('concat', xs, { axis }));

// ---------------------------------------------------------------- derived from the spec table

type Specs = typeof PRIMITIVES;
type Inputs<N> = N extends 1 ? [x: TensorLike] : N extends 2 ? [a: TensorLike, b: TensorLike] : N extends 3 ? [a: TensorLike, b: TensorLike, c: TensorLike] : never;
type AttrsOf<K extends PrimitiveName> = SpecOf<K>['attrs'] extends z.ZodType<infer A> ? A : never;
/** No attribute argument for a primitive without attributes; optional when all have defaults. */
type AttrArg<A> = string extends keyof A ? [] : {} extends A ? [attrs?: A] : [attrs: A]; // eslint-disable-line @typescript-eslint/no-empty-object-type
type HandDefs = typeof handOps;
/** Primitives users call on tensors (sources and assign are Graph methods; concat takes a list). */
type Callable = { [K in PrimitiveName]: SpecOf<K>['kind'] extends 'source' | 'state' ? never : SpecOf<K>['arity'] extends 0 | 'variadic' ? never : K }[PrimitiveName];
type DerivedName = Exclude<Callable, keyof HandDefs>;
// Filtered over `keyof Specs` (a homomorphic mapped type), so each op keeps its spec entry's docstring.
type Derived = { [K in keyof Specs as K extends DerivedName ? K : never]: (...args: [...Inputs<SpecOf<K>['arity']>, ...AttrArg<AttrsOf<K>>]) => Tensor };
type Hand = { [K in keyof HandDefs]: HandDefs[K]['fn'] };

const INPUT_NAMES = [[], ['x'], ['a', 'b'], ['a', 'b', 'c']] as const;

/** A derived op's arguments: its tensor inputs, then its attributes (none when it has none). */
function derivedArgs(name: PrimitiveName): Arg[] {
  const s = spec(name);
  const inputs = INPUT_NAMES[s.arity as 1 | 2 | 3].map(tensorLike);
  const shape = (s.attrs as { shape?: object }).shape;
  return shape && Object.keys(shape).length === 0 ? inputs : [...inputs, specAttrs(name)];
}

function derive(name: PrimitiveName) {
  const n = spec(name).arity as number;
  return (...args: unknown[]): Tensor => apply(name, args.slice(0, n) as TensorLike[], (args[n] ?? {}) as Attrs);
}
const derived = Object.fromEntries(PRIMITIVE_NAMES.filter((n) => {
  const s = spec(n);
  return s.kind !== 'source' && s.kind !== 'state' && typeof s.arity === 'number' && s.arity > 0 && !Object.hasOwn(handOps, n);
}).map((n) => [n, checkedOp(n, derivedArgs(n), derive(n))])) as unknown as Derived;
const hand = Object.fromEntries(Object.entries(handOps).map(([n, d]) => [n, checkedOp(n, d.args, d.fn as (...a: never[]) => unknown)])) as unknown as Hand;

type OpTable = Derived & Hand;
/** Every op as a function of its tensor first argument: what Tensor's methods are made from. */
export const METHOD_OPS: OpTable = { ...derived, ...hand };
/**
 * Every op as a function: `ops.add(a, b)` is `a.add(b)`. Arguments are checked before any node
 * is added (a wrong argument is a GraphError or OptionsError naming the op and the argument).
 * @example
 * ```ts
 * import { Graph, ops } from '@kiln/core';
 * const g = new Graph();
 * const x = g.input('x', ['batch', 3]);
 * const y = ops.relu(ops.add(x, 1)); // same as x.add(1).relu()
 * ```
 */
export const ops: OpTable & { concat: typeof concat } = { ...METHOD_OPS, concat };

/** The op table as methods: the first argument becomes `this`. */
export type FluentOps = {
  [K in keyof OpTable]: OpTable[K] extends (x: never, ...rest: infer R) => infer Ret ? (...rest: R) => Ret : never;
};
