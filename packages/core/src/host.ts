/** Host tensors: what run() takes as feeds and returns as fetches. */
import type { DType } from './shape';

export type TypedArray = Float32Array | Int32Array | Uint8Array;
export interface HostTensor<T extends TypedArray = TypedArray> {
  readonly data: T;
  readonly shape: readonly number[];
  readonly dtype: DType;
}
/** A feed: a typed array (shape taken from the input, one symbolic dim solved), or data with a shape. */
export type FeedValue = TypedArray | number[] | { data: TypedArray | number[]; shape: readonly number[] };

export function arrayFor(dtype: DType, n: number): TypedArray {
  return dtype === 'f32' ? new Float32Array(n) : dtype === 'i32' ? new Int32Array(n) : new Uint8Array(n);
}
export function dtypeOfArray(a: TypedArray): DType {
  return a instanceof Float32Array ? 'f32' : a instanceof Int32Array ? 'i32' : 'bool';
}
export function toTyped(dtype: DType, values: ArrayLike<number>): TypedArray {
  const a = arrayFor(dtype, values.length);
  for (let i = 0; i < values.length; i++) a[i] = dtype === 'bool' ? (values[i] ? 1 : 0) : values[i]!;
  return a;
}
