/**
 * The kernel table of the CPU backend, keyed by primitive. `null` marks primitives that never
 * reach a backend as an OpStep: sources (feeds, params, constants), elementwise primitives
 * (they arrive fused, as ElementwiseSteps), reshape (an alias) and assign (an AssignStep).
 * Typed `satisfies Record<PrimitiveName, ...>`: a new primitive fails tsc until it has a row.
 */
import type { OpStep, PrimitiveName } from '@kiln/core';
import type { Kernel, LowerContext } from '../kernel';
import { CONV_KERNELS } from './conv';
import { LINALG_KERNELS } from './linalg';
import { MOVEMENT_KERNELS } from './movement';
import { REDUCE_KERNELS } from './reduce';

export type OpLowering = (step: OpStep, ctx: LowerContext) => Kernel;

const FUSED = null; // elementwise: lowered from ElementwiseStep.expr

export const OP_KERNELS = {
  input: null, param: null, constant: null, reshape: null, assign: null,
  fill: FUSED, random: FUSED, dimSize: FUSED,
  neg: FUSED, abs: FUSED, sign: FUSED, exp: FUSED, log: FUSED, sqrt: FUSED, rsqrt: FUSED, square: FUSED,
  reciprocal: FUSED, sin: FUSED, cos: FUSED, relu: FUSED, leakyRelu: FUSED, elu: FUSED, sigmoid: FUSED,
  tanh: FUSED, gelu: FUSED, erf: FUSED, softplus: FUSED,
  add: FUSED, sub: FUSED, mul: FUSED, div: FUSED, pow: FUSED, maximum: FUSED, minimum: FUSED,
  equal: FUSED, notEqual: FUSED, less: FUSED, lessEqual: FUSED, greater: FUSED, greaterEqual: FUSED,
  logicalAnd: FUSED, logicalOr: FUSED, logicalNot: FUSED, isNaN: FUSED, stopGradient: FUSED, cast: FUSED, where: FUSED,
  ...REDUCE_KERNELS,
  ...LINALG_KERNELS,
  ...MOVEMENT_KERNELS,
  ...CONV_KERNELS,
} satisfies Record<PrimitiveName, OpLowering | null>;
