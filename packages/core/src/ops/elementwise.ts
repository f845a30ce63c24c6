/**
 * Elementwise primitives. Each is one entry: dtype rule, scalar expression (emitted as
 * WGSL and JavaScript by the backends), float64 scalar reference, and gradient rule.
 */
import { z } from 'zod';
import { DTypeError } from '../errors';
import { E, type Expr, type EType } from '../expr';
import { randomExpr, randomValue } from '../rng';
import { erf, ndtr } from '../special';
import { type DType, DTYPES, shapeBroadcast, type TensorType } from '../shape';
import { type Attrs, defineOp, type GradRule, type PrimitiveSpec, type RefValue, type Grads } from '../spec';
import type { Tensor } from '../tensor';
import { broadcastIndex, expectDType, ieeeNumber, sameDType } from './util';

type DTypeRule = 'float' | 'numeric' | 'any' | 'compare' | 'bool';
const noAttrs = z.object({}).strict();
type Scalar = (xs: number[], attrs: Attrs) => number;

/** Apply a scalar function over broadcast inputs, rounding to the output dtype. */
function refElementwise(scalar: Scalar, inputs: readonly RefValue[], attrs: Attrs, out: { shape: readonly number[]; dtype: DType }): Float64Array {
  const n = out.shape.reduce((a, b) => a * b, 1);
  // Inputs already of the output's size need no index map (keeps huge cases fast).
  const maps = inputs.map((x) => (x.data.length === n ? null : broadcastIndex(x.shape, out.shape)));
  const r = new Float64Array(n);
  const args = new Array<number>(inputs.length);
  for (let i = 0; i < n; i++) {
    for (let k = 0; k < inputs.length; k++) {
      const m = maps[k];
      args[k] = inputs[k]!.data[m ? m[i]! : i]!;
    }
    r[i] = toDType(scalar(args, attrs), out.dtype);
  }
  return r;
}

const F32_MAX = 3.4028234663852886e38;

/** Round a float64 result the way the dtype stores it (i32 wraps, bool is 0/1). */
export function toDType(v: number, dtype: DType): number {
  if (dtype === 'i32') return Number.isFinite(v) ? Math.trunc(v) | 0 : 0;
  if (dtype === 'bool') return v !== 0 ? 1 : 0; // NaN is true, as in NumPy and the expression (x != 0)
  // Values are kept in float64 but overflow like f32 does, so overflow agrees across backends.
  return Math.abs(v) > F32_MAX ? Math.sign(v) * Infinity : v;
}

function inferElementwise(name: string, rule: DTypeRule, inputs: readonly TensorType[]): TensorType {
  const shape = shapeBroadcast(inputs.map((t) => t.shape), name);
  switch (rule) {
    case 'float': inputs.forEach((t) => expectDType(t, ['f32'], `${name} input`)); return { shape, dtype: 'f32' };
    case 'numeric': inputs.forEach((t) => expectDType(t, ['f32', 'i32'], `${name} input`)); return { shape, dtype: sameDType(inputs, name) };
    case 'any': return { shape, dtype: sameDType(inputs, name) };
    case 'compare': sameDType(inputs, name); return { shape, dtype: 'bool' };
    case 'bool': inputs.forEach((t) => expectDType(t, ['bool'], `${name} input`)); return { shape, dtype: 'bool' };
  }
}

interface EwDef<A extends Attrs, N extends number> {
  arity: N;
  rule: DTypeRule;
  attrs?: z.ZodType<A>;
  expr: (a: readonly Expr[], attrs: A, out: EType) => Expr;
  scalar: (xs: number[], attrs: A) => number;
  grad?: GradRule<A>;
  /** Overrides the shared dtype rule (ops whose output dtype is not the rule's). */
  infer?: (inputs: readonly TensorType[], attrs: A) => TensorType;
}

function ew<A extends Attrs = Record<string, never>, const N extends number = number>(name: string, d: EwDef<A, N>): PrimitiveSpec<A> & { readonly kind: 'elementwise'; readonly arity: N } {
  return defineOp<A, 'elementwise', N>({
    name,
    kind: 'elementwise',
    arity: d.arity,
    attrs: (d.attrs ?? noAttrs) as z.ZodType<A>,
    infer: d.infer ?? ((inputs) => inferElementwise(name, d.rule, inputs)),
    expr: d.expr,
    ref: (inputs, attrs, ctx) => refElementwise(d.scalar as Scalar, inputs, attrs, ctx.out),
    ...(d.grad ? { grad: d.grad } : {}),
  });
}

const f = (v: number) => E.lit(v, 'f32');
const lit = (v: number, t: EType) => E.lit(v, t);
const isFloat = (t: EType) => t === 'f32';
const alphaAttrs = z.object({ alpha: z.number() }).strict();

/** tanh(|x|) = -t / (2 + t) with t = expm1(-2|x|): relatively accurate near 0, 1 for large |x|. */
function tanhExpr(x: Expr): Expr {
  const t = E.expm1(E.mul(f(-2), E.call('abs', x)));
  const r = E.div(E.neg(t), E.add(f(2), t));
  return E.select(E.lt(x, f(0)), E.neg(r), r);
}

const SQRT1_2 = Math.SQRT1_2;
const INV_SQRT_2PI = 0.3989422804014327;

export const ELEMENTWISE = {
  /** -x, elementwise. f32 or i32, same shape and dtype. @throws DTypeError for bool. @example x.neg() */
  neg: ew('neg', { arity: 1, rule: 'numeric', expr: ([a]) => E.neg(a!), scalar: ([a]) => -a!, grad: ({ dy }): Grads => [dy.neg()] }),
  // Masks in gradients are where(), never a multiplication: 0 * Inf would be NaN.
  /** |x|, elementwise. f32 or i32, same shape and dtype. @throws DTypeError for bool. @example x.abs() */
  abs: ew('abs', { arity: 1, rule: 'numeric', expr: ([a]) => E.call('abs', a!), scalar: ([a]) => Math.abs(a!), grad: ({ inputs: [x], dy }): Grads => [dy.mul(x!.sign())] }),
  /** -1, 0 or 1 by the sign of x (NaN stays NaN); zero gradient. f32 or i32, same shape and dtype. @throws DTypeError for bool. @example x.sign() */
  sign: ew('sign', {
    arity: 1, rule: 'numeric',
    expr: ([a], _, t) => E.select(E.gt(a!, lit(0, t)), lit(1, t), E.select(E.lt(a!, lit(0, t)), lit(-1, t), a!)),
    scalar: ([a]) => Math.sign(a!), grad: ({ dy }): Grads => [dy.graph.fill(dy.shape, 0)],
  }),
  /** e^x, elementwise. f32 -> f32, same shape. @throws DTypeError unless f32. @example x.exp() */
  exp: ew('exp', { arity: 1, rule: 'float', expr: ([a]) => E.exp(a!), scalar: ([a]) => Math.exp(a!), grad: ({ output, dy }): Grads => [dy.mul(output)] }),
  /** Natural logarithm (NaN below 0, -Infinity at 0). f32 -> f32, same shape. @throws DTypeError unless f32. @example probs.log() */
  log: ew('log', { arity: 1, rule: 'float', expr: ([a]) => E.log(a!), scalar: ([a]) => Math.log(a!), grad: ({ inputs: [x], dy }): Grads => [dy.div(x!)] }),
  /** Square root (NaN below 0). f32 -> f32, same shape. @throws DTypeError unless f32. @example x.sqrt() */
  sqrt: ew('sqrt', { arity: 1, rule: 'float', expr: ([a]) => E.sqrt(a!), scalar: ([a]) => Math.sqrt(a!), grad: ({ output, dy }): Grads => [dy.mul(0.5).div(output)] }),
  /** 1 / sqrt(x). f32 -> f32, same shape. @throws DTypeError unless f32. @example variance.add(1e-5).rsqrt() */
  rsqrt: ew('rsqrt', { arity: 1, rule: 'float', expr: ([a]) => E.div(f(1), E.sqrt(a!)), scalar: ([a]) => 1 / Math.sqrt(a!), grad: ({ inputs: [x], output, dy }): Grads => [dy.mul(output).mul(-0.5).div(x!)] }),
  /** x * x, elementwise. f32 or i32, same shape and dtype. @throws DTypeError for bool. @example err.square().mean() */
  square: ew('square', { arity: 1, rule: 'numeric', expr: ([a]) => E.mul(a!, a!), scalar: ([a]) => a! * a!, grad: ({ inputs: [x], dy }): Grads => [dy.mul(x!).mul(2)] }),
  /** 1 / x, elementwise. f32 -> f32, same shape. @throws DTypeError unless f32. @example x.reciprocal() */
  reciprocal: ew('reciprocal', { arity: 1, rule: 'float', expr: ([a]) => E.div(f(1), a!), scalar: ([a]) => 1 / a!, grad: ({ output, dy }): Grads => [dy.mul(output.square()).neg()] }),
  /** Sine (radians). f32 -> f32, same shape. @throws DTypeError unless f32. @example t.sin() */
  sin: ew('sin', { arity: 1, rule: 'float', expr: ([a]) => E.call('sin', a!), scalar: ([a]) => Math.sin(a!), grad: ({ inputs: [x], dy }): Grads => [dy.mul(x!.cos())] }),
  /** Cosine (radians). f32 -> f32, same shape. @throws DTypeError unless f32. @example t.cos() */
  cos: ew('cos', { arity: 1, rule: 'float', expr: ([a]) => E.call('cos', a!), scalar: ([a]) => Math.cos(a!), grad: ({ inputs: [x], dy }): Grads => [dy.mul(x!.sin()).neg()] }),
  /** max(x, 0), elementwise. f32 or i32, same shape and dtype. @throws DTypeError for bool. @example x.matmul(w).relu() */
  relu: ew('relu', {
    arity: 1, rule: 'numeric',
    expr: ([a], _, t) => E.select(E.lt(a!, lit(0, t)), lit(0, t), a!),
    // The gradient reads the output (y > 0 iff x > 0), so the input need not be kept for it.
    scalar: ([a]) => (a! < 0 ? 0 : a!), grad: ({ output, dy }): Grads => [output.greater(0).where(dy, 0)],
  }),
  leakyRelu: ew('leakyRelu', {
    arity: 1, rule: 'float', attrs: alphaAttrs,
    expr: ([a], { alpha }) => E.select(E.gt(a!, f(0)), a!, E.mul(a!, f(alpha))),
    scalar: ([a], { alpha }) => (a! > 0 ? a! : a! * alpha),
    grad: ({ inputs: [x], dy, attrs }): Grads => [dy.mul(x!.greater(0).where(1, attrs.alpha))],
  }),
  elu: ew('elu', {
    arity: 1, rule: 'float', attrs: alphaAttrs,
    expr: ([a], { alpha }) => E.select(E.gt(a!, f(0)), a!, E.mul(f(alpha), E.expm1(a!))),
    scalar: ([a], { alpha }) => (a! > 0 ? a! : alpha * Math.expm1(a!)),
    grad: ({ inputs: [x], output, dy, attrs }): Grads => [x!.greater(0).where(dy, dy.mul(output.add(attrs.alpha)))],
  }),
  /** 1 / (1 + e^-x), stable for large |x|. f32 -> f32, same shape. @throws DTypeError unless f32. @example logits.sigmoid() */
  sigmoid: ew('sigmoid', {
    arity: 1, rule: 'float',
    // e = exp(-|x|) never overflows, and e / (1 + e) keeps tiny results for x << 0.
    expr: ([a]) => {
      const e = E.exp(E.neg(E.call('abs', a!)));
      return E.select(E.lt(a!, f(0)), E.div(e, E.add(f(1), e)), E.div(f(1), E.add(f(1), e)));
    },
    scalar: ([a]) => (a! < 0 ? Math.exp(a!) / (1 + Math.exp(a!)) : 1 / (1 + Math.exp(-a!))),
    grad: ({ output, dy }): Grads => [dy.mul(output).mul(output.neg().add(1))],
  }),
  /** Hyperbolic tangent. f32 -> f32, same shape. @throws DTypeError unless f32. @example h.tanh() */
  tanh: ew('tanh', { arity: 1, rule: 'float', expr: ([a]) => tanhExpr(a!), scalar: ([a]) => Math.tanh(a!), grad: ({ output, dy }): Grads => [dy.mul(output.square().neg().add(1))] }),
  /** Gaussian error linear unit, x * Phi(x) (exact, not the tanh approximation). f32 -> f32, same shape. @throws DTypeError unless f32. @example h.gelu() */
  gelu: ew('gelu', {
    arity: 1, rule: 'float',
    // x Phi(x) with Phi = ndtr: no cancellation for x << 0 (1 + erf(x / sqrt 2) has no digits
    // left there); below -15 it is under f32's smallest subnormal, so 0 (also for -Inf).
    expr: ([a]) => E.select(E.lt(a!, f(-15)), f(0), E.mul(a!, E.call('ndtr', a!))),
    scalar: ([a]) => (a! < -15 ? 0 : a! * ndtr(a!)),
    grad: ({ inputs: [x], dy }): Grads => {
      const cdf = x!.mul(SQRT1_2).erf().add(1).mul(0.5);
      const pdf = x!.square().mul(-0.5).exp().mul(INV_SQRT_2PI);
      return [dy.mul(cdf.add(x!.mul(pdf)))];
    },
  }),
  /** The error function. f32 -> f32, same shape. @throws DTypeError unless f32. @example x.erf() */
  erf: ew('erf', {
    arity: 1, rule: 'float', expr: ([a]) => E.call('erf', a!), scalar: ([a]) => erf(a!),
    grad: ({ inputs: [x], dy }): Grads => [dy.mul(x!.square().neg().exp().mul(2 / Math.sqrt(Math.PI)))],
  }),
  /** log(1 + e^x), computed stably. f32 -> f32, same shape. @throws DTypeError unless f32. @example x.softplus() */
  softplus: ew('softplus', {
    arity: 1, rule: 'float',
    expr: ([a]) => E.add(E.select(E.gt(a!, f(0)), a!, f(0)), E.log1p(E.exp(E.neg(E.call('abs', a!))))),
    scalar: ([a]) => Math.max(a!, 0) + Math.log1p(Math.exp(-Math.abs(a!))),
    grad: ({ inputs: [x], dy }): Grads => [dy.mul(x!.sigmoid())],
  }),
  /** x / (1 + |x|): a tanh-like squashing with polynomial tails. f32 -> f32, same shape. @throws DTypeError unless f32. @example h.softsign() */
  softsign: ew('softsign', {
    arity: 1, rule: 'float',
    expr: ([a]) => E.div(a!, E.add(f(1), E.call('abs', a!))),
    scalar: ([a]) => a! / (1 + Math.abs(a!)),
    grad: ({ inputs: [x], dy }): Grads => [dy.div(x!.abs().add(1).square())],
  }),
  /** a + b. Broadcasts (NumPy rules); a number takes the tensor's dtype. f32 or i32, both the same; output the broadcast shape. @throws ShapeError if the shapes do not broadcast; DTypeError if the dtypes differ or are bool. @example x.add(bias); x.add(1) */
  add: ew('add', { arity: 2, rule: 'numeric', expr: ([a, b]) => E.add(a!, b!), scalar: ([a, b]) => a! + b!, grad: ({ dy }): Grads => [dy, dy] }),
  /** a - b. Broadcasts (NumPy rules); a number takes the tensor's dtype. f32 or i32, both the same; output the broadcast shape. @throws ShapeError if the shapes do not broadcast; DTypeError if the dtypes differ or are bool. @example x.sub(mean) */
  sub: ew('sub', { arity: 2, rule: 'numeric', expr: ([a, b]) => E.sub(a!, b!), scalar: ([a, b]) => a! - b!, grad: ({ dy }): Grads => [dy, dy.neg()] }),
  /** a * b. Broadcasts (NumPy rules); a number takes the tensor's dtype. f32 or i32, both the same; output the broadcast shape. @throws ShapeError if the shapes do not broadcast; DTypeError if the dtypes differ or are bool. @example x.mul(0.5) */
  mul: ew('mul', { arity: 2, rule: 'numeric', expr: ([a, b]) => E.mul(a!, b!), scalar: ([a, b]) => a! * b!, grad: ({ inputs: [a, b], dy }): Grads => [dy.mul(b!), dy.mul(a!)] }),
  /** a / b (i32 division truncates). Broadcasts (NumPy rules); a number takes the tensor's dtype. f32 or i32, both the same; output the broadcast shape. @throws ShapeError if the shapes do not broadcast; DTypeError if the dtypes differ or are bool. @example x.div(255) */
  div: ew('div', {
    arity: 2, rule: 'numeric', expr: ([a, b]) => E.div(a!, b!),
    scalar: ([a, b]) => a! / b!,
    grad: ({ inputs: [, b], output, dy }): Grads => [dy.div(b!), dy.mul(output).div(b!).neg()],
  }),
  /** a^b with JavaScript's Math.pow special cases, broadcast. f32 only. @throws ShapeError if the shapes do not broadcast; DTypeError unless f32. @example x.pow(2) */
  pow: ew('pow', {
    arity: 2, rule: 'float',
    // JavaScript's Math.pow special cases (negative bases, zeros, infinities) on every backend.
    expr: ([a, b]) => E.call('pow', a!, b!),
    scalar: ([a, b]) => Math.pow(a!, b!),
    grad: ({ inputs: [a, b], output, dy }): Grads => [
      // d/da is 0 where b == 0 (PyTorch): b a^(b-1) would be 0 * Inf = NaN at a = 0.
      b!.equal(0).where(0, dy.mul(b!).mul(a!.pow(b!.sub(1)))),
      dy.mul(output).mul(a!.greater(0).where(a!.maximum(1e-30).log(), 0)),
    ],
  }),
  /** Elementwise max of a and b; NaN wins. Broadcasts (NumPy rules); a number takes the tensor's dtype. f32 or i32, both the same; output the broadcast shape. @throws ShapeError if the shapes do not broadcast; DTypeError if the dtypes differ or are bool. @example x.maximum(0) */
  maximum: ew('maximum', {
    arity: 2, rule: 'numeric',
    expr: ([a, b], _, t) => (isFloat(t) ? E.maxNaN(a!, b!) : E.call('max', a!, b!)),
    scalar: ([a, b]) => (Number.isNaN(a!) || Number.isNaN(b!) ? NaN : Math.max(a!, b!)),
    grad: ({ inputs: [a, b], dy }): Grads => [a!.greaterEqual(b!).where(dy, 0), a!.less(b!).where(dy, 0)],
  }),
  /** Elementwise min of a and b; NaN wins. Broadcasts (NumPy rules); a number takes the tensor's dtype. f32 or i32, both the same; output the broadcast shape. @throws ShapeError if the shapes do not broadcast; DTypeError if the dtypes differ or are bool. @example x.minimum(6) */
  minimum: ew('minimum', {
    arity: 2, rule: 'numeric',
    expr: ([a, b], _, t) => (isFloat(t) ? E.minNaN(a!, b!) : E.call('min', a!, b!)),
    scalar: ([a, b]) => (Number.isNaN(a!) || Number.isNaN(b!) ? NaN : Math.min(a!, b!)),
    grad: ({ inputs: [a, b], dy }): Grads => [a!.lessEqual(b!).where(dy, 0), a!.greater(b!).where(dy, 0)],
  }),
  /** a == b, elementwise. Broadcasts; any dtype, both the same; output bool of the broadcast shape. Not differentiable. @throws ShapeError if the shapes do not broadcast; DTypeError if the dtypes differ. @example predicted.equal(labels) */
  equal: ew('equal', { arity: 2, rule: 'compare', expr: ([a, b]) => E.eq(a!, b!), scalar: ([a, b]) => +(a === b) }),
  /** a != b, elementwise. Broadcasts; any dtype, both the same; output bool of the broadcast shape. Not differentiable. @throws ShapeError if the shapes do not broadcast; DTypeError if the dtypes differ. @example ids.notEqual(0) */
  notEqual: ew('notEqual', { arity: 2, rule: 'compare', expr: ([a, b]) => E.call('ne', a!, b!), scalar: ([a, b]) => +(a !== b) }),
  /** a < b, elementwise. Broadcasts; any dtype, both the same; output bool of the broadcast shape. Not differentiable. @throws ShapeError if the shapes do not broadcast; DTypeError if the dtypes differ. @example x.less(0) */
  less: ew('less', { arity: 2, rule: 'compare', expr: ([a, b]) => E.lt(a!, b!), scalar: ([a, b]) => +(a! < b!) }),
  /** a <= b, elementwise. Broadcasts; any dtype, both the same; output bool of the broadcast shape. Not differentiable. @throws ShapeError if the shapes do not broadcast; DTypeError if the dtypes differ. @example x.lessEqual(1) */
  lessEqual: ew('lessEqual', { arity: 2, rule: 'compare', expr: ([a, b]) => E.le(a!, b!), scalar: ([a, b]) => +(a! <= b!) }),
  /** a > b, elementwise. Broadcasts; any dtype, both the same; output bool of the broadcast shape. Not differentiable. @throws ShapeError if the shapes do not broadcast; DTypeError if the dtypes differ. @example x.greater(0).where(x, 0) */
  greater: ew('greater', { arity: 2, rule: 'compare', expr: ([a, b]) => E.gt(a!, b!), scalar: ([a, b]) => +(a! > b!) }),
  /** a >= b, elementwise. Broadcasts; any dtype, both the same; output bool of the broadcast shape. Not differentiable. @throws ShapeError if the shapes do not broadcast; DTypeError if the dtypes differ. @example u.greaterEqual(0.5) */
  greaterEqual: ew('greaterEqual', { arity: 2, rule: 'compare', expr: ([a, b]) => E.ge(a!, b!), scalar: ([a, b]) => +(a! >= b!) }),
  /** a AND b. bool inputs, broadcast; output bool. @throws DTypeError unless bool; ShapeError if the shapes do not broadcast. @example x.greater(0).logicalAnd(x.less(1)) */
  logicalAnd: ew('logicalAnd', { arity: 2, rule: 'bool', expr: ([a, b]) => E.and(a!, b!), scalar: ([a, b]) => +(!!a && !!b) }),
  /** a OR b. bool inputs, broadcast; output bool. @throws DTypeError unless bool; ShapeError if the shapes do not broadcast. @example x.isNaN().logicalOr(x.equal(Infinity)) */
  logicalOr: ew('logicalOr', { arity: 2, rule: 'bool', expr: ([a, b]) => E.or(a!, b!), scalar: ([a, b]) => +(!!a || !!b) }),
  /** NOT x. bool -> bool, same shape. @throws DTypeError unless bool. @example mask.logicalNot() */
  logicalNot: ew('logicalNot', { arity: 1, rule: 'bool', expr: ([a]) => E.call('not', a!), scalar: ([a]) => +!a }),
  /** Whether x is NaN. f32 -> bool, same shape. @throws DTypeError unless f32. @example loss.isNaN() */
  isNaN: ew('isNaN', {
    arity: 1, rule: 'float', expr: ([a]) => E.isnan(a!), scalar: ([a]) => +Number.isNaN(a!),
    infer: ([x]) => { expectDType(x!, ['f32'], 'isNaN input'); return { shape: x!.shape, dtype: 'bool' }; },
  }),
  /** Identity whose gradient is zero: the building block of stable composites. Any dtype, same shape. @example x.max({ keepDims: true }).stopGradient() */
  stopGradient: ew('stopGradient', { arity: 1, rule: 'any', expr: ([a]) => a!, scalar: ([a]) => a! }),
  cast: ew('cast', {
    arity: 1, rule: 'any', attrs: z.object({ dtype: z.enum(DTYPES as [DType, ...DType[]]) }).strict(),
    expr: ([a], { dtype }) => (dtype === 'bool' ? E.call('ne', a!, lit(0, a!.t)) : E.cast(a!, dtype)),
    scalar: ([a]) => a!,
    infer: ([x], { dtype }) => ({ shape: x!.shape, dtype }),
    grad: ({ inputs: [x], dy, attrs }): Grads => [x!.dtype === 'f32' && attrs.dtype === 'f32' ? dy : null],
  }),
};

/** where(cond, a, b): a where cond is true, else b; all three broadcast. */
export const WHERE = ew('where', {
  arity: 3, rule: 'any',
  expr: ([c, a, b]) => E.select(c!, a!, b!),
  scalar: ([c, a, b]) => (c ? a! : b!),
  grad: ({ inputs: [c], dy }): Grads => [null, c!.where(dy, 0), c!.where(0, dy)],
  infer: ([c, a, b]) => {
    if (c!.dtype !== 'bool') throw new DTypeError(`where: condition must be bool, got ${c!.dtype}`);
    return { shape: shapeBroadcast([c!.shape, a!.shape, b!.shape], 'where'), dtype: sameDType([a!, b!], 'where') };
  },
});

const shapeAttr = z.array(z.union([z.number().int().nonnegative(), z.string()]));

/** A tensor of one value: an elementwise op with no inputs, so it fuses into its consumers. */
export const FILL = defineOp({
  name: 'fill', kind: 'elementwise', arity: 0,
  attrs: z.object({ shape: shapeAttr, value: ieeeNumber, dtype: z.enum(DTYPES as [DType, ...DType[]]) }).strict(),
  infer: (_, a) => ({ shape: a.shape, dtype: a.dtype }),
  expr: (_, a) => E.lit(toDType(a.value, a.dtype), a.dtype),
  ref: (_, a, ctx) => new Float64Array(ctx.out.shape.reduce((x, y) => x * y, 1)).fill(toDType(a.value, a.dtype)),
});

/** Counter-based random numbers: hash(seed, run counter, index), computed where used. */
export const RANDOM = defineOp({
  name: 'random', kind: 'elementwise', arity: 0,
  attrs: z.object({ shape: shapeAttr, dist: z.enum(['uniform', 'normal']), a: z.number(), b: z.number(), seed: z.number().int() }).strict(),
  infer: (_, a) => ({ shape: a.shape, dtype: 'f32' }),
  expr: (_, a) => randomExpr(a.dist, a.a, a.b, a.seed),
  ref: (_, a, ctx) => {
    const n = ctx.out.shape.reduce((x, y) => x * y, 1);
    return Float64Array.from({ length: n }, (_, i) => randomValue(a.dist, a.a, a.b, a.seed, ctx.step, i));
  },
});
