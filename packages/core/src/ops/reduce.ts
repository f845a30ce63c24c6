/**
 * Reductions over axes, and scans along one axis. sum/max/min/prod carry their identity and
 * combiner as expressions, so a backend's reduce kernel is one template for all of them.
 * REDUCE_OPS is what the spec table takes from this file: a spec added to it is registered.
 */
import { z } from 'zod';
import { E, type Expr } from '../expr';
import { normAxis, type TensorType } from '../shape';
import { defineOp, type GradRule, type Grads } from '../spec';
import type { Tensor } from '../tensor';
import { type AxisParams, axisParams, expectDType, forEachReduction, reduceAxes, reducedShape, type ReduceParams } from './util';

const reduceAttrs = z.object({ axes: z.array(z.number().int()).optional(), keepDims: z.boolean().default(false) }).strict();
export type ReduceAttrs = z.infer<typeof reduceAttrs>;

const inferReduce = (name: string) => (inputs: readonly TensorType[], a: ReduceAttrs): TensorType => {
  const x = inputs[0]!;
  expectDType(x, ['f32', 'i32'], `${name} input`);
  const axes = reduceAxes(x.shape.length, a.axes, name);
  return { shape: reducedShape(x.shape, axes, a.keepDims), dtype: x.dtype };
};

/** Reshape a reduced tensor back to rank with 1s, then broadcast to the input's shape. */
export function unreduce(t: Tensor, x: Tensor, axes: readonly number[] | undefined): Tensor {
  const ax = reduceAxes(x.rank, axes, 'unreduce');
  const kept = x.shape.map((d, i) => (ax.includes(i) ? 1 : d));
  return t.reshape(kept).broadcastTo(x.shape);
}

function reduceOp(name: string, init: (t: 'f32' | 'i32') => number, combine: (a: number, b: number) => number,
  exprCombine: (acc: Expr, x: Expr) => Expr,
  grad?: GradRule<ReduceAttrs>) {
  return defineOp<ReduceAttrs, 'reduce', 1, ReduceParams>({
    name, kind: 'reduce', arity: 1, attrs: reduceAttrs as z.ZodType<ReduceAttrs>,
    infer: inferReduce(name),
    params: ([x], a): ReduceParams => ({ axes: reduceAxes(x!.shape.length, a.axes, name) }),
    reduce: { init: (t) => init(t as 'f32' | 'i32'), combine: exprCombine },
    ref: ([x], a, ctx) => {
      const axes = reduceAxes(x!.shape.length, a.axes, name);
      const out = new Float64Array(ctx.out.shape.reduce((p, q) => p * q, 1)).fill(init(x!.dtype as 'f32' | 'i32'));
      forEachReduction(x!.shape, axes, (o, i) => (out[o] = combine(out[o]!, x!.data[i]!)));
      return out;
    },
    ...(grad ? { grad } : {}),
  });
}

const nanMax = (a: number, b: number) => (Number.isNaN(a) || Number.isNaN(b) ? NaN : Math.max(a, b));
const nanMin = (a: number, b: number) => (Number.isNaN(a) || Number.isNaN(b) ? NaN : Math.min(a, b));
const I32_MAX = 2147483647, I32_MIN = -2147483648;

/** max/min gradient: split dy evenly among the elements equal to the extremum. */
const extremumGrad: GradRule<ReduceAttrs> = ({ inputs: [x], output, dy, attrs }) => {
  const hit = x!.equal(unreduce(output, x!, attrs.axes));
  const count = hit.cast('f32').sum({ axes: attrs.axes, keepDims: true });
  // where, not a 0/1 mask times dy: 0 * Inf would put NaN on the elements that are not the extremum.
  return [hit.where(unreduce(dy, x!, attrs.axes).div(count), 0)];
};

export const REDUCE = {
  sum: reduceOp('sum', () => 0, (a, b) => a + b, (acc, x) => E.add(acc, x),
    ({ inputs: [x], dy, attrs }): Grads => [unreduce(dy, x!, attrs.axes)]),
  prod: reduceOp('prod', () => 1, (a, b) => a * b, (acc, x) => E.mul(acc, x),
    ({ inputs: [x], output, dy, attrs }): Grads => [unreduce(dy.mul(output), x!, attrs.axes).div(x!)]),
  max: reduceOp('max', (t) => (t === 'i32' ? I32_MIN : -Infinity), nanMax, (acc, x) => (x.t === 'f32' ? E.maxNaN(x, acc) : E.call('max', acc, x)), extremumGrad),
  min: reduceOp('min', (t) => (t === 'i32' ? I32_MAX : Infinity), nanMin, (acc, x) => (x.t === 'f32' ? E.minNaN(x, acc) : E.call('min', acc, x)), extremumGrad),
};

const argAttrs = z.object({ axis: z.number().int().default(-1), keepDims: z.boolean().default(false) }).strict();
export type ArgAttrs = z.infer<typeof argAttrs>;

/** Index of the first max/min along one axis (NaN counts as the extremum, like NumPy). */
function argOp(name: 'argMax' | 'argMin') {
  const better = name === 'argMax' ? (a: number, b: number) => a > b : (a: number, b: number) => a < b;
  return defineOp<ArgAttrs, 'reduce', 1, AxisParams>({
    name, kind: 'reduce', arity: 1, attrs: argAttrs as z.ZodType<ArgAttrs>,
    infer: ([x], a) => {
      expectDType(x!, ['f32', 'i32'], `${name} input`);
      const axis = normAxis(a.axis, x!.shape.length, name);
      return { shape: reducedShape(x!.shape, [axis], a.keepDims), dtype: 'i32' };
    },
    params: ([x], a) => axisParams(x!.shape, a.axis, name),
    ref: ([x], a, ctx) => {
      const axis = normAxis(a.axis, x!.shape.length, name);
      const n = ctx.out.shape.reduce((p, q) => p * q, 1);
      const best = new Float64Array(n).fill(NaN);
      const out = new Float64Array(n).fill(-1);
      const inner = x!.shape.slice(axis + 1).reduce((p, q) => p * q, 1);
      const len = x!.shape[axis]!;
      forEachReduction(x!.shape, [axis], (o, i) => {
        const k = Math.floor(i / inner) % len;
        const v = x!.data[i]!;
        if (out[o] === -1 || (!Number.isNaN(best[o]!) && (Number.isNaN(v) || better(v, best[o]!)))) {
          best[o] = v;
          out[o] = k;
        }
      });
      return out;
    },
  });
}

export const ARG_REDUCE = { argMax: argOp('argMax'), argMin: argOp('argMin') };

const scanAttrs = z.object({ axis: z.number().int(), exclusive: z.boolean().optional(), reverse: z.boolean().optional() }).strict();
export type ScanAttrs = z.infer<typeof scanAttrs>;
/**
 * What a scan kernel loops over: the input viewed as [outer, len, inner] around the axis.
 * Element (o, k, i) is at (o * len + k) * inner + i; the scan runs over k (from len - 1 down
 * when `reverse`), and an `exclusive` scan leaves out the element itself.
 */
export type ScanParams = { readonly outer: number; readonly len: number; readonly inner: number; readonly exclusive: boolean; readonly reverse: boolean };

function scanParams(shape: readonly number[], a: ScanAttrs): ScanParams {
  const axis = normAxis(a.axis, shape.length, 'cumsum');
  const prod = (s: readonly number[]) => s.reduce((p, q) => p * q, 1);
  return { outer: prod(shape.slice(0, axis)), len: shape[axis]!, inner: prod(shape.slice(axis + 1)), exclusive: a.exclusive ?? false, reverse: a.reverse ?? false };
}

/**
 * Running sum along `axis` (NumPy cumsum, TF cumsum with `exclusive` and `reverse`). Its
 * gradient is the same scan of dy in the other direction.
 */
export const CUMSUM = defineOp({
  name: 'cumsum', kind: 'scan', arity: 1, attrs: scanAttrs,
  infer: ([x], a) => {
    expectDType(x!, ['f32', 'i32'], 'cumsum input');
    normAxis(a.axis, x!.shape.length, 'cumsum');
    return { shape: x!.shape, dtype: x!.dtype };
  },
  params: ([x], a) => scanParams(x!.shape, a),
  ref: ([x], a) => {
    const { outer, len, inner, exclusive, reverse } = scanParams(x!.shape, a);
    const out = new Float64Array(x!.data.length);
    for (let o = 0; o < outer; o++) {
      for (let i = 0; i < inner; i++) {
        let acc = 0;
        for (let j = 0; j < len; j++) {
          const at = (o * len + (reverse ? len - 1 - j : j)) * inner + i;
          if (exclusive) { out[at] = acc; acc += x!.data[at]!; } else { acc += x!.data[at]!; out[at] = acc; }
          if (x!.dtype === 'i32') acc |= 0;
        }
      }
    }
    return out;
  },
  grad: ({ dy, attrs }): Grads => [dy.cumsum({ axis: attrs.axis, ...(attrs.exclusive ? { exclusive: true } : {}), ...(attrs.reverse ? {} : { reverse: true }) })],
});

export const REDUCE_OPS = {
  ...REDUCE, ...ARG_REDUCE,
  /**
   * Running sum along `axis`: out[k] = x[0] + ... + x[k]; `exclusive` leaves x[k] out, `reverse`
   * sums from the end. f32 or i32, same shape and dtype (i32 wraps).
   * @throws ShapeError for an axis out of range; DTypeError for bool; OptionsError without an axis.
   * @example x.cumsum({ axis: -1 }); x.cumsum({ axis: 0, exclusive: true, reverse: true })
   */
  cumsum: CUMSUM,
};
