/**
 * What every primitive becomes on WebGPU. Typed `satisfies Record<PrimitiveName, ...>`, so a
 * new primitive fails tsc until it has an entry here.
 */
import type { OpStep, PrimitiveName } from '@kiln/core';
import type { BuildContext, Kernel } from '../kernel';
import { conv2dBackpropFilterKernel, conv2dKernel, conv2dTransposeKernel, poolKernel } from './conv';
import { matmulKernel } from './linalg';
import { concatKernels, gatherKernel, scatterAddKernels, viewKernel } from './movement';
import { argReduceKernel, reduceKernels } from './reduce';

export type OpLowering = (step: OpStep, ctx: BuildContext) => Kernel[];

/** 'elementwise': rendered from the fused expression; 'buffer': a feed/param/constant; 'alias': no kernel; 'assign': end-of-run copy. */
type Entry = OpLowering | 'elementwise' | 'buffer' | 'alias' | 'assign';

const one = (f: (step: OpStep, ctx: BuildContext) => Kernel): OpLowering => (s, c) => [f(s, c)];

export const OP_KERNELS = {
  input: 'buffer', param: 'buffer', constant: 'buffer',
  fill: 'elementwise', random: 'elementwise', dimSize: 'elementwise',
  neg: 'elementwise', abs: 'elementwise', sign: 'elementwise', exp: 'elementwise', log: 'elementwise',
  sqrt: 'elementwise', rsqrt: 'elementwise', square: 'elementwise', reciprocal: 'elementwise',
  sin: 'elementwise', cos: 'elementwise', relu: 'elementwise', leakyRelu: 'elementwise', elu: 'elementwise',
  sigmoid: 'elementwise', tanh: 'elementwise', gelu: 'elementwise', erf: 'elementwise', softplus: 'elementwise',
  add: 'elementwise', sub: 'elementwise', mul: 'elementwise', div: 'elementwise', pow: 'elementwise',
  maximum: 'elementwise', minimum: 'elementwise', equal: 'elementwise', notEqual: 'elementwise',
  less: 'elementwise', lessEqual: 'elementwise', greater: 'elementwise', greaterEqual: 'elementwise',
  logicalAnd: 'elementwise', logicalOr: 'elementwise', logicalNot: 'elementwise', isNaN: 'elementwise',
  stopGradient: 'elementwise', cast: 'elementwise', where: 'elementwise',
  sum: reduceKernels, prod: reduceKernels, max: reduceKernels, min: reduceKernels,
  argMax: one(argReduceKernel), argMin: one(argReduceKernel),
  matmul: one(matmulKernel),
  reshape: 'alias',
  transpose: one(viewKernel), broadcastTo: one(viewKernel), slice: one(viewKernel), pad: one(viewKernel),
  concat: concatKernels, gather: one(gatherKernel), scatterAdd: scatterAddKernels,
  conv2d: one(conv2dKernel), conv2dTranspose: one(conv2dTransposeKernel), conv2dBackpropFilter: one(conv2dBackpropFilterKernel),
  maxPool2d: one(poolKernel), maxPool2dGrad: one(poolKernel),
  assign: 'assign',
} satisfies Record<PrimitiveName, Entry>;
