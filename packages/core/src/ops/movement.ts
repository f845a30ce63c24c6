/**
 * Movement primitives. transpose, broadcastTo, slice and pad are all one "strided view"
 * (each output coordinate maps affinely to an input index, or to the pad value), so a
 * backend needs one copy kernel for the four; reshape is free (an alias of its input).
 */
import { z } from 'zod';
import { DTypeError, ShapeError } from '../errors';
import { type Dim, normAxis, shapeBroadcast, shapeSize, shapeStrides, shapesEqual, shapeToString, type TensorType } from '../shape';
import { defineOp, type PrimitiveSpec, type RefValue, type Grads } from '../spec';
import { axisParams, expectDType, ieeeNumber, sameDType } from './util';

/** Output coordinate c reads input[offset + sum(c[d] * strides[d])], or `value` outside [lo, hi). */
export interface StridedView {
  readonly strides: readonly number[];
  readonly offset: number;
  readonly lo?: readonly number[];
  readonly hi?: readonly number[];
  readonly value?: number;
}

/** Evaluate a view on the host (the reference for all strided movement ops). */
export function applyView(x: RefValue, view: StridedView, outShape: readonly number[]): Float64Array {
  const n = outShape.reduce((a, b) => a * b, 1);
  const out = new Float64Array(n);
  const r = outShape.length;
  const c = new Array<number>(r).fill(0);
  for (let i = 0; i < n; i++) {
    let off = view.offset;
    let inside = true;
    for (let d = 0; d < r; d++) {
      off += c[d]! * view.strides[d]!;
      if (view.lo && (c[d]! < view.lo[d]! || c[d]! >= view.hi![d]!)) inside = false;
    }
    out[i] = inside ? x.data[off]! : view.value ?? 0;
    for (let d = r - 1; d >= 0; d--) {
      if (++c[d]! < outShape[d]!) break;
      c[d] = 0;
    }
  }
  return out;
}

type ViewFn<A> = (inShape: readonly number[], attrs: A, outShape: readonly number[]) => StridedView;
export type MovementSpec<A extends Record<string, unknown>> = PrimitiveSpec<A> & { readonly view: ViewFn<A> };

function movement<A extends Record<string, unknown>>(spec: Omit<MovementSpec<A>, 'kind' | 'arity' | 'ref'>): MovementSpec<A> & { readonly kind: 'movement'; readonly arity: 1 } {
  return { ...spec, kind: 'movement', arity: 1, ref: ([x], a, ctx) => applyView(x!, spec.view(x!.shape, a, ctx.out.shape), ctx.out.shape) };
}

const dims = z.array(z.union([z.number().int(), z.string()]));
const ints = z.array(z.number().int());

/** Resolve a reshape target with at most one -1, cancelling matching symbolic dims. */
export function reshapeTarget(from: readonly Dim[], to: readonly Dim[]): Dim[] {
  const holes = to.filter((d) => d === -1).length;
  if (holes > 1) throw new ShapeError(`reshape: at most one -1 in ${shapeToString(to)}`);
  const syms = (s: readonly Dim[]) => s.filter((d): d is string => typeof d === 'string');
  const prod = (s: readonly Dim[]) => s.reduce<number>((a, d) => (typeof d === 'number' && d !== -1 ? a * d : a), 1);
  const left = [...syms(from)];
  for (const s of syms(to)) {
    const k = left.indexOf(s);
    if (k < 0) throw new ShapeError(`reshape: symbolic dim '${s}' of ${shapeToString(to)} is not in the input shape ${shapeToString(from)}`);
    left.splice(k, 1);
  }
  const pf = prod(from), pt = prod(to);
  if (holes === 0) {
    if (left.length || pf !== pt) throw new ShapeError(`reshape: cannot reshape ${shapeToString(from)} into ${shapeToString(to)} (sizes differ)`);
    return [...to];
  }
  let fill: Dim;
  if (left.length === 0) {
    if (pt === 0 || pf % pt !== 0) throw new ShapeError(`reshape: cannot reshape ${shapeToString(from)} into ${shapeToString(to)}`);
    fill = pf / pt;
  } else if (left.length === 1 && pf === pt) fill = left[0]!;
  else throw new ShapeError(`reshape: -1 in ${shapeToString(to)} is ambiguous for symbolic input ${shapeToString(from)}`);
  return to.map((d) => (d === -1 ? fill : d));
}

export const RESHAPE = defineOp({
  name: 'reshape', kind: 'alias', arity: 1,
  attrs: z.object({ shape: dims }).strict(),
  infer: ([x], a) => ({ shape: reshapeTarget(x!.shape, a.shape), dtype: x!.dtype }),
  ref: ([x]) => x!.data.slice(),
  grad: ({ inputs: [x], dy }): Grads => [dy.reshape(x!.shape)],
});

const permOf = (rank: number, perm?: readonly number[]) => perm ?? [...Array(rank).keys()].reverse();

export const TRANSPOSE = movement({
  name: 'transpose',
  attrs: z.object({ perm: ints.optional() }).strict(),
  infer: ([x], a) => {
    const perm = permOf(x!.shape.length, a.perm);
    const ok = perm.length === x!.shape.length && [...perm].sort((p, q) => p - q).every((p, i) => p === i);
    if (!ok) throw new ShapeError(`transpose: perm [${perm.join(', ')}] is not a permutation of rank ${x!.shape.length}`);
    return { shape: perm.map((p) => x!.shape[p]!), dtype: x!.dtype };
  },
  view: (s, a) => {
    const st = shapeStrides(s);
    return { strides: permOf(s.length, a.perm).map((p) => st[p]!), offset: 0 };
  },
  grad: ({ dy, attrs, inputs: [x] }): Grads => {
    const perm = permOf(x!.rank, attrs.perm);
    const inv = perm.map((_, i) => perm.indexOf(i));
    return [dy.transpose(inv)];
  },
});

export const BROADCAST_TO = movement({
  name: 'broadcastTo',
  attrs: z.object({ shape: dims }).strict(),
  infer: ([x], a) => {
    const b = shapeBroadcast([x!.shape, a.shape], 'broadcastTo');
    if (!shapesEqual(b, a.shape)) throw new ShapeError(`broadcastTo: cannot broadcast ${shapeToString(x!.shape)} to ${shapeToString(a.shape)}`);
    return { shape: a.shape, dtype: x!.dtype };
  },
  view: (s, _, out) => {
    const st = shapeStrides(s);
    const lead = out.length - s.length;
    return { strides: out.map((_, i) => (i < lead || s[i - lead] === 1 ? 0 : st[i - lead]!)), offset: 0 };
  },
  grad: ({ dy }): Grads => [dy], // autodiff sums dy back to the input's shape
});

function sliceBounds(shape: readonly Dim[], begin: readonly number[], size: readonly number[]): { begin: number[]; shape: Dim[] } {
  if (begin.length !== shape.length || size.length !== shape.length) {
    throw new ShapeError(`slice: begin [${begin.join(', ')}] and size [${size.join(', ')}] must have rank ${shape.length} like the input ${shapeToString(shape)}`);
  }
  const b: number[] = [];
  const out: Dim[] = [];
  shape.forEach((d, i) => {
    let bi = begin[i]!;
    const si = size[i]!;
    if (typeof d === 'string') {
      if (bi !== 0 || si !== -1) throw new ShapeError(`slice: symbolic dim '${d}' can only be taken whole (begin 0, size -1)`);
      b.push(0); out.push(d);
      return;
    }
    if (bi < 0) bi += d;
    const len = si === -1 ? d - bi : si;
    if (bi < 0 || len < 0 || bi + len > d) throw new ShapeError(`slice: begin ${begin[i]} size ${si} out of range for dim ${i} of ${shapeToString(shape)}`);
    b.push(bi); out.push(len);
  });
  return { begin: b, shape: out };
}

export const SLICE = movement({
  name: 'slice',
  attrs: z.object({ begin: ints, size: ints }).strict(),
  infer: ([x], a) => ({ shape: sliceBounds(x!.shape, a.begin, a.size).shape, dtype: x!.dtype }),
  view: (s, a) => {
    const st = shapeStrides(s);
    const { begin } = sliceBounds(s, a.begin, a.size);
    return { strides: st, offset: begin.reduce((acc, b, i) => acc + b * st[i]!, 0) };
  },
  grad: ({ inputs: [x], dy, attrs }): Grads => {
    const { begin, shape } = sliceBounds(x!.shape, attrs.begin, attrs.size);
    return [dy.pad(x!.shape.map((d, i) => [begin[i]!, typeof d === 'number' ? d - begin[i]! - (shape[i] as number) : 0] as [number, number]))];
  },
});

export const PAD = movement({
  name: 'pad',
  attrs: z.object({ pads: z.array(z.tuple([z.number().int().nonnegative(), z.number().int().nonnegative()])), value: ieeeNumber.default(0) }).strict(),
  infer: ([x], a) => {
    if (a.pads.length !== x!.shape.length) throw new ShapeError(`pad: ${a.pads.length} pad pairs for rank ${x!.shape.length} input ${shapeToString(x!.shape)}`);
    return {
      shape: x!.shape.map((d, i) => {
        const [lo, hi] = a.pads[i]!;
        if (typeof d === 'string') {
          if (lo || hi) throw new ShapeError(`pad: cannot pad symbolic dim '${d}'`);
          return d;
        }
        return d + lo + hi;
      }),
      dtype: x!.dtype,
    };
  },
  view: (s, a) => {
    const st = shapeStrides(s);
    return {
      strides: st,
      offset: -a.pads.reduce((acc, [lo], i) => acc + lo * st[i]!, 0),
      lo: a.pads.map(([lo]) => lo),
      hi: a.pads.map(([lo], i) => lo + s[i]!),
      value: a.value,
    };
  },
  grad: ({ inputs: [x], dy, attrs }): Grads => [dy.slice({ begin: attrs.pads.map(([lo]) => lo), size: x!.shape.map((d) => (typeof d === 'number' ? d : -1)) })],
});

export const CONCAT = defineOp({
  name: 'concat', kind: 'concat', arity: 'variadic',
  attrs: z.object({ axis: z.number().int() }).strict(),
  params: (_, a, out) => axisParams(out.shape, a.axis, 'concat'),
  infer: (xs, a) => {
    if (xs.length === 0) throw new ShapeError('concat: needs at least one input');
    const dtype = sameDType(xs, 'concat');
    const rank = xs[0]!.shape.length;
    const axis = normAxis(a.axis, rank, 'concat');
    let total = 0;
    for (const t of xs) {
      const same = t.shape.length === rank && t.shape.every((d, i) => i === axis || d === xs[0]!.shape[i]);
      if (!same) throw new ShapeError(`concat: shapes ${xs.map((x) => shapeToString(x.shape)).join(', ')} differ outside axis ${axis}`);
      const d = t.shape[axis]!;
      if (typeof d !== 'number') throw new ShapeError(`concat: cannot concatenate along symbolic dim '${d}'`);
      total += d;
    }
    return { shape: xs[0]!.shape.map((d, i) => (i === axis ? total : d)), dtype };
  },
  ref: (xs, a, ctx) => {
    const axis = normAxis(a.axis, ctx.out.shape.length, 'concat');
    const outer = ctx.out.shape.slice(0, axis).reduce((p, q) => p * q, 1);
    const inner = ctx.out.shape.slice(axis + 1).reduce((p, q) => p * q, 1);
    const out = new Float64Array(shapeSize(ctx.out.shape));
    let at = 0;
    for (const x of xs) {
      const len = x.shape[axis]! * inner;
      for (let o = 0; o < outer; o++) out.set(x.data.subarray(o * len, (o + 1) * len), o * ctx.out.shape[axis]! * inner + at);
      at += len;
    }
    return out;
  },
  grad: ({ inputs, dy, attrs }): Grads => {
    const axis = normAxis(attrs.axis, dy.rank, 'concat');
    let at = 0;
    return inputs.map((x) => {
      const len = x.shape[axis] as number;
      const begin = dy.shape.map((_, i) => (i === axis ? at : 0));
      at += len;
      return dy.slice({ begin, size: x.shape.map((d, i) => (i === axis ? len : typeof d === 'number' ? d : -1)) });
    });
  },
});

const gatherAttrs = z.object({ axis: z.number().int().default(0) }).strict();

function gatherShape(x: TensorType, idx: TensorType, axis: number): Dim[] {
  return [...x.shape.slice(0, axis), ...idx.shape, ...x.shape.slice(axis + 1)];
}

/** Index-range helper for gather/scatter references: [outer, axisLen, inner]. */
function split3(shape: readonly number[], axis: number): [number, number, number] {
  return [shape.slice(0, axis).reduce((a, b) => a * b, 1), shape[axis]!, shape.slice(axis + 1).reduce((a, b) => a * b, 1)];
}

/** gather(x, indices, axis): out-of-range indices read 0 (as on GPUs), never out of bounds. */
export const GATHER = defineOp({
  name: 'gather', kind: 'gather', arity: 2, attrs: gatherAttrs,
  params: ([x], a) => axisParams(x!.shape, a.axis, 'gather'),
  infer: ([x, idx], a) => {
    if (idx!.dtype !== 'i32') throw new DTypeError(`gather: indices must be i32, got ${idx!.dtype}`);
    const axis = normAxis(a.axis, x!.shape.length, 'gather');
    return { shape: gatherShape(x!, idx!, axis), dtype: x!.dtype };
  },
  ref: ([x, idx], a, ctx) => {
    const axis = normAxis(a.axis, x!.shape.length, 'gather');
    const [outer, len, inner] = split3(x!.shape, axis);
    const k = idx!.data.length;
    const out = new Float64Array(shapeSize(ctx.out.shape));
    for (let o = 0; o < outer; o++) {
      for (let j = 0; j < k; j++) {
        const src = idx!.data[j]!;
        if (src < 0 || src >= len) continue;
        for (let i = 0; i < inner; i++) out[(o * k + j) * inner + i] = x!.data[(o * len + src) * inner + i]!;
      }
    }
    return out;
  },
  grad: ({ inputs: [x, idx], dy, attrs }): Grads => {
    const axis = normAxis(attrs.axis, x!.rank, 'gather');
    return [dy.scatterAdd(idx!, { axis, size: x!.shape[axis] as number }), null];
  },
});

/** scatterAdd(updates, indices, axis, size): the adjoint of gather (sums duplicates). */
export const SCATTER_ADD = defineOp({
  name: 'scatterAdd', kind: 'gather', arity: 2,
  attrs: z.object({ axis: z.number().int(), size: z.number().int().nonnegative() }).strict(),
  params: (_, a, out) => axisParams(out.shape, a.axis, 'scatterAdd'),
  infer: ([u, idx], a) => {
    if (idx!.dtype !== 'i32') throw new DTypeError(`scatterAdd: indices must be i32, got ${idx!.dtype}`);
    expectDType(u!, ['f32', 'i32'], 'scatterAdd updates');
    const axis = a.axis;
    const r = idx!.shape.length;
    const ok = axis >= 0 && u!.shape.length >= axis + r && idx!.shape.every((d, i) => u!.shape[axis + i] === d);
    if (!ok) throw new ShapeError(`scatterAdd: updates ${shapeToString(u!.shape)} do not match indices ${shapeToString(idx!.shape)} at axis ${axis}`);
    return { shape: [...u!.shape.slice(0, axis), a.size, ...u!.shape.slice(axis + r)], dtype: u!.dtype };
  },
  ref: ([u, idx], a, ctx) => {
    const [outer, len, inner] = split3(ctx.out.shape, a.axis);
    const k = idx!.data.length;
    const out = new Float64Array(shapeSize(ctx.out.shape));
    for (let o = 0; o < outer; o++) {
      for (let j = 0; j < k; j++) {
        const dst = idx!.data[j]!;
        if (dst < 0 || dst >= len) continue;
        for (let i = 0; i < inner; i++) out[(o * len + dst) * inner + i]! += u!.data[(o * k + j) * inner + i]!;
      }
    }
    return out;
  },
  grad: ({ inputs: [, idx], dy, attrs }): Grads => [dy.gather(idx!, { axis: attrs.axis }), null],
});
