/** Host tensors: what run() takes as feeds and returns as fetches. */
import type { DType } from './shape';

/** Host arrays of the three dtypes: f32 Float32Array, i32 Int32Array, bool Uint8Array (0/1). */
export type TypedArray = Float32Array | Int32Array | Uint8Array;
/** A tensor on the host: values in a typed array of its dtype, and its shape (what run() returns). */
export interface HostTensor<T extends TypedArray = TypedArray> {
  readonly data: T;
  readonly shape: readonly number[];
  readonly dtype: DType;
}
/** A feed: a typed array (shape taken from the input, one symbolic dim solved), or data with a shape. */
export type FeedValue = TypedArray | number[] | { data: TypedArray | number[]; shape: readonly number[] };

/** A zeroed typed array of n elements for a dtype. */
export function arrayFor(dtype: DType, n: number): TypedArray {
  return dtype === 'f32' ? new Float32Array(n) : dtype === 'i32' ? new Int32Array(n) : new Uint8Array(n);
}
/** The dtype a typed array holds (Uint8Array is bool). */
export function dtypeOfArray(a: TypedArray): DType {
  return a instanceof Float32Array ? 'f32' : a instanceof Int32Array ? 'i32' : 'bool';
}
/** Values copied into a typed array of the dtype (f32 rounds, i32 truncates, bool is 1 for truthy values). */
export function toTyped(dtype: DType, values: ArrayLike<number>): TypedArray {
  const a = arrayFor(dtype, values.length);
  for (let i = 0; i < values.length; i++) a[i] = dtype === 'bool' ? (values[i] ? 1 : 0) : values[i]!;
  return a;
}
