/**
 * The kernel table of the WebGPU backend: one lowering per primitive that needs a kernel of its
 * own. Elementwise primitives are not here (every fused ElementwiseStep is rendered to WGSL
 * from its expression); neither are sources, reshape (an alias) or assign (end-of-run copies).
 * Typed `satisfies Record<KernelPrimitive, ...>`: a new such primitive fails tsc until it has a row.
 */
import { EPILOGUE_OPS, type KernelPrimitive, PROLOGUE_OPS, type OpStep, UnsupportedError } from '@kiln/core';
import type { BuildContext, Kernel } from '../kernel';
import { CONV_KERNELS } from './conv';
import { LINALG_KERNELS } from './linalg';
import { MOVEMENT_KERNELS } from './movement';
import { REDUCE_KERNELS } from './reduce';

/** Any row of the table, called with an OpStep of its primitive. */
export type OpLowering = (step: OpStep, ctx: BuildContext) => Kernel[];

export const OP_KERNELS = {
  ...REDUCE_KERNELS,
  ...LINALG_KERNELS,
  ...MOVEMENT_KERNELS,
  ...CONV_KERNELS,
} satisfies { [K in KernelPrimitive]: (step: OpStep<K>, ctx: BuildContext) => Kernel[] };

/**
 * The kernel(s) of one OpStep. NOTE: TypeScript cannot relate `step.op` to the step type its row
 * takes (a correlated union), hence the one widening here; the table's type checks every row.
 */
export function lowerOp(step: OpStep, ctx: BuildContext): Kernel[] {
  const row = (OP_KERNELS as Partial<Record<KernelPrimitive, OpLowering>>)[step.op];
  if (!row) throw new UnsupportedError(`webgpu: '${step.op}' has no kernel (ops: ${step.ops.join(', ')})`);
  // Only the GEMM family and reductions apply epilogues, only reductions prologues (core's
  // EPILOGUE_OPS, PROLOGUE_OPS); a kernel that would drop one is refused.
  if (step.epilogue && !EPILOGUE_OPS.has(step.op)) throw new UnsupportedError(`webgpu: '${step.op}' cannot apply an epilogue (ops: ${step.ops.join(', ')})`);
  if (step.prologue && !PROLOGUE_OPS.has(step.op)) throw new UnsupportedError(`webgpu: '${step.op}' cannot apply a prologue (ops: ${step.ops.join(', ')})`);
  return row(step, ctx);
}
