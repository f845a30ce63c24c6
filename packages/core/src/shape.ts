import { ShapeError } from './errors';

/** A dimension is a size, or a symbol (e.g. 'batch') bound when the graph runs. */
export type Dim = number | string;
/** A tensor shape: one Dim per axis (`[]` for a scalar). */
export type Shape = readonly Dim[];
/** Element types: 32-bit float, 32-bit signed integer, boolean. */
export type DType = 'f32' | 'i32' | 'bool';
/** Every DType. */
export const DTYPES: readonly DType[] = ['f32', 'i32', 'bool'];

/** A shape and a dtype: what shape inference computes for a node. */
export interface TensorType {
  readonly shape: Shape;
  readonly dtype: DType;
}

/** `[2, batch, 3]`, as error messages print shapes. */
export const shapeToString = (s: Shape): string => `[${s.join(', ')}]`;

/** Whether every dim is a number (no symbols). */
export const shapeIsConcrete = (s: Shape): s is readonly number[] => s.every((d) => typeof d === 'number');

/** Number of elements; throws on symbolic dims (callers specialise first). */
export function shapeSize(s: Shape): number {
  let n = 1;
  for (const d of s) {
    if (typeof d !== 'number') throw new ShapeError(`shape ${shapeToString(s)} has symbolic dim '${d}'`);
    n *= d;
  }
  return n;
}

/** Strides of a shape broadcast NumPy-style to `out` (0 along broadcast dims), for index maps. */
export function shapeBroadcastStrides(inShape: readonly number[], out: readonly number[]): number[] {
  const st = shapeStrides(inShape);
  const lead = out.length - inShape.length;
  return out.map((_, d) => (d < lead || inShape[d - lead] === 1 ? 0 : st[d - lead]!));
}

/** Row-major strides of a concrete shape. */
export function shapeStrides(s: readonly number[]): number[] {
  const st = new Array<number>(s.length);
  let acc = 1;
  for (let i = s.length - 1; i >= 0; i--) {
    st[i] = acc;
    acc *= s[i]!;
  }
  return st;
}

/** Same rank and the same dims (symbols compared by name). */
export const shapesEqual = (a: Shape, b: Shape): boolean => a.length === b.length && a.every((d, i) => d === b[i]);

/** NumPy broadcasting of any number of shapes; a symbolic dim matches itself or 1. */
export function shapeBroadcast(shapes: readonly Shape[], what = 'broadcast'): Dim[] {
  const rank = Math.max(0, ...shapes.map((s) => s.length));
  const out: Dim[] = [];
  for (let i = 0; i < rank; i++) {
    let d: Dim = 1;
    for (const s of shapes) {
      const k = s.length - rank + i;
      if (k < 0) continue;
      const e = s[k]!;
      if (e === 1) continue;
      if (d === 1) d = e;
      else if (d !== e) {
        throw new ShapeError(`${what}: shapes ${shapes.map(shapeToString).join(' and ')} are not broadcast-compatible (dim ${i}: ${d} vs ${e})`);
      }
    }
    out.push(d);
  }
  return out;
}

/** Normalise a possibly negative axis against a rank, with a clear error. */
export function normAxis(axis: number, rank: number, what: string): number {
  const a = axis < 0 ? axis + rank : axis;
  if (!Number.isInteger(a) || a < 0 || a >= rank) throw new ShapeError(`${what}: axis ${axis} out of range for rank ${rank}`);
  return a;
}

/** Substitute symbol bindings into a shape. */
export function shapeBind(s: Shape, bindings: ReadonlyMap<string, number>): number[] {
  return s.map((d) => {
    if (typeof d === 'number') return d;
    const v = bindings.get(d);
    if (v === undefined) throw new ShapeError(`symbolic dim '${d}' is not bound`);
    return v;
  });
}
