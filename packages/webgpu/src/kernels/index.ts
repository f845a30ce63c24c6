/**
 * The kernel table of the WebGPU backend: one lowering per primitive that needs a kernel of its
 * own. Elementwise primitives are not here (every fused ElementwiseStep is rendered to WGSL
 * from its expression); neither are sources, reshape (an alias) or assign (end-of-run copies).
 * Typed `satisfies Record<KernelPrimitive, ...>`: a new such primitive fails tsc until it has a row.
 */
import type { KernelPrimitive, OpStep } from '@kiln/core';
import type { BuildContext, Kernel } from '../kernel';
import { CONV_KERNELS } from './conv';
import { LINALG_KERNELS } from './linalg';
import { MOVEMENT_KERNELS } from './movement';
import { REDUCE_KERNELS } from './reduce';

export type OpLowering = (step: OpStep, ctx: BuildContext) => Kernel[];

export const OP_KERNELS = {
  ...REDUCE_KERNELS,
  ...LINALG_KERNELS,
  ...MOVEMENT_KERNELS,
  ...CONV_KERNELS,
} satisfies Record<KernelPrimitive, OpLowering>;
