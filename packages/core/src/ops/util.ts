/** Helpers shared by op definitions: dtype checks, broadcasting indexers for references. */
import { z } from 'zod';
import { DTypeError, ShapeError } from '../errors';
import type { DType, Dim, Shape, TensorType } from '../shape';
import { normAxis, shapeStrides, shapeToString } from '../shape';

/**
 * A number attribute that may be NaN or +-Infinity (zod's z.number() refuses them): users write
 * -inf masks and NaN sentinels. Graph JSON encodes them (serialize.ts).
 */
export const ieeeNumber = z.custom<number>((v) => typeof v === 'number', 'expected a number (NaN and +-Infinity allowed)');

export function expectDType(t: TensorType, allowed: readonly DType[], what: string): void {
  if (!allowed.includes(t.dtype)) throw new DTypeError(`${what} must be ${allowed.join(' or ')}, got ${t.dtype}`);
}

export function sameDType(ts: readonly TensorType[], what: string): DType {
  const d = ts[0]!.dtype;
  for (const t of ts) if (t.dtype !== d) throw new DTypeError(`${what}: dtypes differ (${ts.map((x) => x.dtype).join(' vs ')}); cast one side first`);
  return d;
}

/** For each output linear index, the linear index into an input broadcast to `out`. */
export function broadcastIndex(inShape: readonly number[], out: readonly number[]): Int32Array {
  const n = out.reduce((a, b) => a * b, 1);
  const idx = new Int32Array(n);
  const r = out.length;
  const inStr = shapeStrides(inShape);
  const strides = out.map((_, i) => {
    const k = i - (r - inShape.length);
    return k < 0 || inShape[k] === 1 ? 0 : inStr[k]!;
  });
  const coord = new Array<number>(r).fill(0);
  let off = 0;
  for (let i = 0; i < n; i++) {
    idx[i] = off;
    for (let d = r - 1; d >= 0; d--) {
      coord[d]!++;
      off += strides[d]!;
      if (coord[d]! < out[d]!) break;
      off -= strides[d]! * coord[d]!;
      coord[d] = 0;
    }
  }
  return idx;
}

/** Reduction axes normalised and sorted; undefined means all axes. */
export function reduceAxes(rank: number, axes: readonly number[] | undefined, what: string): number[] {
  if (axes === undefined) return [...Array(rank).keys()];
  const s = [...new Set(axes.map((a) => normAxis(a, rank, what)))].sort((a, b) => a - b);
  if (s.length !== axes.length) throw new ShapeError(`${what}: repeated axis in [${axes.join(', ')}]`);
  return s;
}

export function reducedShape(shape: Shape, axes: readonly number[], keepDims: boolean): Dim[] {
  const out: Dim[] = [];
  shape.forEach((d, i) => {
    if (!axes.includes(i)) out.push(d);
    else if (keepDims) out.push(1);
  });
  return out;
}

/** Split a concrete shape into [outer, reduced, inner]-style iteration for references. */
export function forEachReduction(shape: readonly number[], axes: readonly number[], fn: (outIndex: number, inIndex: number) => void): void {
  const keep = shape.map((_, i) => !axes.includes(i));
  const outShape = shape.filter((_, i) => keep[i]);
  const outStr = shapeStrides(outShape);
  const n = shape.reduce((a, b) => a * b, 1);
  const coord = new Array<number>(shape.length).fill(0);
  for (let i = 0; i < n; i++) {
    let o = 0;
    let k = 0;
    for (let d = 0; d < shape.length; d++) if (keep[d]) o += coord[d]! * outStr[k++]!;
    fn(o, i);
    for (let d = shape.length - 1; d >= 0; d--) {
      if (++coord[d]! < shape[d]!) break;
      coord[d] = 0;
    }
  }
}

export const describe = (t: TensorType): string => `${t.dtype}${shapeToString(t.shape)}`;

/**
 * What a kernel working along one axis loops over: the shape viewed as [outer, len, inner]
 * around the resolved `axis` (element (o, k, i) is at (o * len + k) * inner + i).
 */
export type AxisParams = { readonly axis: number; readonly outer: number; readonly len: number; readonly inner: number };

export function axisParams(shape: readonly number[], axis: number, what: string): AxisParams {
  const a = normAxis(axis, shape.length, what);
  const prod = (s: readonly number[]) => s.reduce((p, q) => p * q, 1);
  return { axis: a, outer: prod(shape.slice(0, a)), len: shape[a]!, inner: prod(shape.slice(a + 1)) };
}

/** A reduction's kernel parameters: the reduced axes, resolved and ascending. */
export type ReduceParams = { readonly axes: readonly number[] };
