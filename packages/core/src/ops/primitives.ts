/**
 * The closed set of primitives, one spec each: this table is the one list of primitive names.
 * `PrimitiveName`, `PRIMITIVE_NAMES`, the public `ops.*` functions and `Tensor` methods
 * (ops/index.ts) and the backends' kernel tables (`KernelPrimitive`) are derived from it.
 */
import type { ConcreteType, KernelKind, KernelParams, PrimitiveSpec } from '../spec';
import { CONV2D, CONV2D_BACKPROP_FILTER, CONV2D_TRANSPOSE, MAX_POOL2D, MAX_POOL2D_GRAD } from './conv';
import { ELEMENTWISE, FILL, RANDOM, WHERE } from './elementwise';
import { MATMUL } from './linalg';
import { BROADCAST_TO, CONCAT, GATHER, PAD, RESHAPE, SCATTER_ADD, SLICE, TRANSPOSE } from './movement';
import { REDUCE_OPS } from './reduce';
import { ASSIGN, CONSTANT, INPUT, PARAM } from './source';
import { DIM_SIZE } from './shape-source';

/** The spec table: every primitive's spec by name (see PrimitiveSpec). */
export const PRIMITIVES = {
  input: INPUT, param: PARAM, constant: CONSTANT, fill: FILL, random: RANDOM, dimSize: DIM_SIZE,
  ...ELEMENTWISE, where: WHERE,
  ...REDUCE_OPS,
  matmul: MATMUL,
  reshape: RESHAPE, transpose: TRANSPOSE, broadcastTo: BROADCAST_TO, slice: SLICE, pad: PAD,
  concat: CONCAT, gather: GATHER, scatterAdd: SCATTER_ADD,
  conv2d: CONV2D, conv2dTranspose: CONV2D_TRANSPOSE, conv2dBackpropFilter: CONV2D_BACKPROP_FILTER,
  maxPool2d: MAX_POOL2D, maxPool2dGrad: MAX_POOL2D_GRAD,
  assign: ASSIGN,
};

type Specs = typeof PRIMITIVES;
/** The name of a primitive: a key of the spec table. */
export type PrimitiveName = keyof Specs;
/** The spec type of one primitive, with its literal kind and arity. */
export type SpecOf<K extends PrimitiveName> = Specs[K];
/**
 * Primitives that need a kernel of their own in every device backend: a backend's kernel table
 * is typed `satisfies Record<KernelPrimitive, ...>`, so tsc fails until each has one.
 * Elementwise primitives are not here: every backend renders them from their expression.
 */
export type KernelPrimitive = { [K in PrimitiveName]: Specs[K]['kind'] extends KernelKind ? K : never }[PrimitiveName];

/** The kernel parameters of a primitive's OpSteps (PrimitiveSpec.params; the attributes when it has none). */
export type ParamsOf<K extends KernelPrimitive> = K extends KernelPrimitive ? (Specs[K] extends { readonly params?: (...args: never[]) => infer P } ? P : KernelParams) : never;

/** Every primitive's name, in table order. */
export const PRIMITIVE_NAMES = Object.keys(PRIMITIVES) as PrimitiveName[];

/** Look a spec up with its attribute type erased (passes and backends work generically). */
export function spec(name: PrimitiveName): PrimitiveSpec {
  return PRIMITIVES[name] as unknown as PrimitiveSpec;
}

/** A kernel's normalised parameters for concrete inputs (PrimitiveSpec.params, or the attrs). */
export function kernelParams(name: PrimitiveName, inputs: readonly ConcreteType[], attrs: KernelParams, out: ConcreteType): KernelParams {
  const s = spec(name);
  return s.params ? s.params(inputs, attrs, out) : attrs;
}

/** Whether a primitive needs a kernel of its own (see KernelPrimitive). */
export function isKernelPrimitive(name: PrimitiveName): name is KernelPrimitive {
  const k = spec(name).kind;
  return k !== 'source' && k !== 'elementwise' && k !== 'alias' && k !== 'state';
}

/** Primitives rendered from their scalar expression (fused; no kernel of their own). */
export const ELEMENTWISE_NAMES = PRIMITIVE_NAMES.filter((n) => spec(n).kind === 'elementwise');
/** Primitives every device backend has a kernel for (see KernelPrimitive). */
export const KERNEL_PRIMITIVES = PRIMITIVE_NAMES.filter(isKernelPrimitive);

// Every spec's `name` is its key in the table (a typo would name kernels and errors wrongly).
for (const n of PRIMITIVE_NAMES) if (spec(n).name !== n) throw new Error(`primitive '${n}' has spec.name '${spec(n).name}'`);
