/**
 * The kernel table of the CPU backend: one lowering per primitive that needs a kernel of its
 * own. Elementwise primitives are not here (they arrive fused, as ElementwiseSteps, and become
 * generated loops from their expression); neither are sources, reshape (an alias) or assign.
 * Typed `satisfies Record<KernelPrimitive, ...>`: a new such primitive fails tsc until it has a row.
 */
import { type KernelPrimitive, type OpStep, UnsupportedError } from '@kiln/core';
import type { Kernel, LowerContext } from '../kernel';
import { CONV_KERNELS } from './conv';
import { withEpilogue, withPrologue } from './fused';
import { LINALG_KERNELS } from './linalg';
import { MOVEMENT_KERNELS } from './movement';
import { REDUCE_KERNELS } from './reduce';

/** Any row of the table, called with an OpStep of its primitive. */
export type OpLowering = (step: OpStep, ctx: LowerContext) => Kernel;

export const OP_KERNELS = {
  ...REDUCE_KERNELS,
  ...LINALG_KERNELS,
  ...MOVEMENT_KERNELS,
  ...CONV_KERNELS,
} satisfies { [K in KernelPrimitive]: (step: OpStep<K>, ctx: LowerContext) => Kernel };

/**
 * The kernel(s) of one OpStep. NOTE: TypeScript cannot relate `step.op` to the step type its row
 * takes (a correlated union), hence the one widening here; the table's type checks every row.
 */
export function lowerOp(step: OpStep, ctx: LowerContext): Kernel {
  const row = (OP_KERNELS as Partial<Record<KernelPrimitive, OpLowering>>)[step.op];
  if (!row) throw new UnsupportedError(`cpu backend: '${step.op}' has no kernel (ops: ${step.ops.join(', ')})`);
  return withEpilogue(withPrologue(row, step, ctx), step, ctx);
}
