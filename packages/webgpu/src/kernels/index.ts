/**
 * The kernel table of the WebGPU backend: one lowering per primitive that needs a kernel of its
 * own. Elementwise primitives are not here (every fused ElementwiseStep is rendered to WGSL
 * from its expression); neither are sources, reshape (an alias) or assign (end-of-run copies).
 * Typed `satisfies Record<KernelPrimitive, ...>`: a new such primitive fails tsc until it has a row.
 */
import type { KernelPrimitive, OpStep } from '@kiln/core';
import type { BuildContext, Kernel } from '../kernel';
import { conv2dBackpropFilterKernel, conv2dKernel, conv2dTransposeKernel, poolKernel } from './conv';
import { matmulKernel } from './linalg';
import { concatKernels, gatherKernel, scatterAddKernels, viewKernel } from './movement';
import { argReduceKernel, reduceKernels } from './reduce';

export type OpLowering = (step: OpStep, ctx: BuildContext) => Kernel[];

const one = (f: (step: OpStep, ctx: BuildContext) => Kernel): OpLowering => (s, c) => [f(s, c)];

export const OP_KERNELS = {
  sum: reduceKernels, prod: reduceKernels, max: reduceKernels, min: reduceKernels,
  argMax: one(argReduceKernel), argMin: one(argReduceKernel),
  matmul: one(matmulKernel),
  transpose: one(viewKernel), broadcastTo: one(viewKernel), slice: one(viewKernel), pad: one(viewKernel),
  concat: concatKernels, gather: one(gatherKernel), scatterAdd: scatterAddKernels,
  conv2d: one(conv2dKernel), conv2dTranspose: one(conv2dTransposeKernel), conv2dBackpropFilter: one(conv2dBackpropFilterKernel),
  maxPool2d: one(poolKernel), maxPool2dGrad: one(poolKernel),
} satisfies Record<KernelPrimitive, OpLowering>;
