/**
 * The closed set of primitives, one spec each. Backends key their kernel tables by
 * `PrimitiveName`; a table typed `satisfies Record<PrimitiveName, ...>` fails tsc when a
 * new primitive lacks an entry.
 */
import type { PrimitiveSpec } from '../spec';
import { PRIMITIVE_NAMES, type PrimitiveName } from './names';
import { CONV2D, CONV2D_BACKPROP_FILTER, CONV2D_TRANSPOSE, MAX_POOL2D, MAX_POOL2D_GRAD } from './conv';
import { ELEMENTWISE, FILL, RANDOM, WHERE } from './elementwise';
import { MATMUL } from './linalg';
import { BROADCAST_TO, CONCAT, GATHER, PAD, RESHAPE, SCATTER_ADD, SLICE, TRANSPOSE } from './movement';
import { ARG_REDUCE, REDUCE } from './reduce';
import { ASSIGN, CONSTANT, INPUT, PARAM } from './source';
import { DIM_SIZE } from './shape-source';

export const PRIMITIVES = {
  input: INPUT, param: PARAM, constant: CONSTANT, fill: FILL, random: RANDOM, dimSize: DIM_SIZE,
  ...ELEMENTWISE, where: WHERE,
  ...REDUCE, ...ARG_REDUCE,
  matmul: MATMUL,
  reshape: RESHAPE, transpose: TRANSPOSE, broadcastTo: BROADCAST_TO, slice: SLICE, pad: PAD,
  concat: CONCAT, gather: GATHER, scatterAdd: SCATTER_ADD,
  conv2d: CONV2D, conv2dTranspose: CONV2D_TRANSPOSE, conv2dBackpropFilter: CONV2D_BACKPROP_FILTER,
  maxPool2d: MAX_POOL2D, maxPool2dGrad: MAX_POOL2D_GRAD,
  assign: ASSIGN,
} satisfies Record<PrimitiveName, PrimitiveSpec<any>>; // eslint-disable-line @typescript-eslint/no-explicit-any

/** Look a spec up with its attribute type erased (passes and backends work generically). */
export function spec(name: PrimitiveName): PrimitiveSpec {
  return (PRIMITIVES as Record<string, unknown>)[name] as PrimitiveSpec;
}

export const ELEMENTWISE_NAMES = PRIMITIVE_NAMES.filter((n) => spec(n).kind === 'elementwise');

export { PRIMITIVE_NAMES, type PrimitiveName };
