/**
 * Convolutions as implicit GEMMs (one GEMM per group; the im2col gather happens inside the
 * loaders, so no patch matrix is ever written), and max pooling.
 *
 *   conv2d               C[o][n·oy·ox]   = W[o][c·ky·kx]   x im2col(x)[c·ky·kx][n·oy·ox]
 *   conv2dTranspose      C[co][n·oy·ox]  = W'[co][ci·ky·kx] x col2im-gather(x)   (taps that land)
 *   conv2dBackpropFilter C[o][c·ky·kx]   = dy[o][n·oy·ox]  x im2col(x)ᵀ
 */
import type { ConvGeometry, OpStep, PlanOperand } from '@kiln/core';
import { shapeSize, shapeToString } from '@kiln/core';
import { type BuildContext, grid1d, type Kernel, single } from '../kernel';
import { shader } from '../preprocess';
import { exprKey } from '../render';
import { epilogueHook } from './fused';
import { gemmKernel, type GemmIO, param } from './gemm';

function meta(step: OpStep, name: string) {
  return { name, ops: step.ops, step, shapes: `${step.inputs.map((x) => shapeToString(x.shape)).join(' * ')} -> ${shapeToString(step.out.shape)}` };
}

/**
 * The loader parameters every convolution GEMM reads (uniforms, so one pipeline serves every
 * shape): [C, H, W, OH, OW, KH, KW, strideY, strideX, dilationY, dilationX, padTop, padLeft,
 * channels per group (input side), channels per group (output side), channels (output side)].
 */
const LOCALS = `  let C = ${param(0)};
  let H = ${param(1)};
  let W = ${param(2)};
  let OH = ${param(3)};
  let OW = ${param(4)};
  let KH = ${param(5)};
  let KW = ${param(6)};`;

/** fn im2col(g, k, n) -> f32: input X [NB, C, H, W] as the patch matrix of group g; `tapIsK` for conv2d, swapped for the filter gradient. */
function im2colFn(tapIsK: boolean): string {
  const [tap, pos] = tapIsK ? ['k', 'n'] : ['n', 'k'];
  return `fn im2col(g: u32, k: u32, n: u32) -> f32 {
${LOCALS}
  let c = ${tap} / (KH * KW);
  let ky = (${tap} / KW) % KH;
  let kx = ${tap} % KW;
  let nb = ${pos} / (OH * OW);
  let oy = (${pos} / OW) % OH;
  let ox = ${pos} % OW;
  let iy = i32(oy * ${param(7)} + ky * ${param(9)}) - i32(${param(11)});
  let ix = i32(ox * ${param(8)} + kx * ${param(10)}) - i32(${param(12)});
  if (iy < 0i || iy >= i32(H) || ix < 0i || ix >= i32(W)) {
    return 0.0;
  }
  return X[((nb * C + g * ${param(13)} + c) * H + u32(iy)) * W + u32(ix)];
}`;
}

/** LOCALS' uniforms for a GEMM reading input [., C, H, W] into output [., ., OH, OW] (conv2d and its filter gradient). */
function convParams(g: ConvGeometry): number[] {
  return [g.C, g.H, g.W, g.OH, g.OW, g.KH, g.KW, g.sh, g.sw, g.dh, g.dw, g.pt, g.pl, g.Cg, g.Og, g.O];
}

/** Y [NB, O, OH, OW] at (row m of group g, column n = nb·oy·ox). */
const storeNCHW = (g: string, m: string, n: string, v: string) =>
  `{ let P = ${param(3)} * ${param(4)}; Y[((${n}) / P * ${param(15)} + ${g} * ${param(14)} + ${m}) * P + (${n}) % P] = ${v}; }`;

export function conv2dKernel(step: OpStep<'conv2d'>, ctx: BuildContext): Kernel {
  const [x, w] = step.inputs as [PlanOperand, PlanOperand];
  const g = step.params;
  const io: GemmIO = {
    M: g.Og, N: g.N * g.OH * g.OW, K: g.Cg * g.KH * g.KW, batch: g.G,
    params: convParams(g),
    buffers: [
      { name: 'X', access: 'read', target: { buf: x.buf } },
      { name: 'Wt', access: 'read', target: { buf: w.buf } },
      { name: 'Y', access: 'read_write', target: { buf: step.out.buf } },
    ],
    helpers: im2colFn(true), variant: 'conv',
    a: (g, m, k) => `Wt[(${g} * ${param(14)} + ${m}) * dims.k + ${k}]`,
    b: (g, k, n) => `im2col(${g}, ${k}, ${n})`,
    store: storeNCHW,
  };
  return gemmKernel(io, meta(step, 'conv2d'), ctx);
}

export function conv2dTransposeKernel(step: OpStep<'conv2dTranspose'>, ctx: BuildContext): Kernel {
  const [x, w] = step.inputs as [PlanOperand, PlanOperand];
  // g is the conv2d this is the adjoint of: its input is this op's output, its output this op's input x.
  const g = step.params;
  // x (the gradient of a conv2d's output) sits where that conv's output was: gather the taps that land on (oy, ox).
  const helpers = `fn gather_x(g: u32, k: u32, n: u32) -> f32 {
${LOCALS}
  let ci = k / (KH * KW);
  let ky = (k / KW) % KH;
  let kx = k % KW;
  let nb = n / (OH * OW);
  let oy = (n / OW) % OH;
  let ox = n % OW;
  let sy = i32(${param(7)});
  let sx = i32(${param(8)});
  let ty = i32(oy + ${param(11)}) - i32(ky * ${param(9)});
  let tx = i32(ox + ${param(12)}) - i32(kx * ${param(10)});
  if (ty < 0i || tx < 0i || ty % sy != 0i || tx % sx != 0i) {
    return 0.0;
  }
  let iy = ty / sy;
  let ix = tx / sx;
  if (iy >= i32(H) || ix >= i32(W)) {
    return 0.0;
  }
  return X[((nb * C + g * ${param(13)} + ci) * H + u32(iy)) * W + u32(ix)];
}`;
  const io: GemmIO = {
    M: g.Cg, N: g.N * g.H * g.W, K: g.Og * g.KH * g.KW, batch: g.G,
    // LOCALS from x's side: C, H, W are the forward conv's output; OH, OW its input.
    params: [g.O, g.OH, g.OW, g.H, g.W, g.KH, g.KW, g.sh, g.sw, g.dh, g.dw, g.pt, g.pl, g.Og, g.Cg, g.C],
    buffers: [
      { name: 'X', access: 'read', target: { buf: x.buf } },
      { name: 'Wt', access: 'read', target: { buf: w.buf } },
      { name: 'Y', access: 'read_write', target: { buf: step.out.buf } },
    ],
    helpers, variant: 'convT',
    a: (g, m, k) => `Wt[((${g} * ${param(13)} + (${k}) / (${param(5)} * ${param(6)})) * ${param(14)} + ${m}) * (${param(5)} * ${param(6)}) + (${k}) % (${param(5)} * ${param(6)})]`,
    b: (g, k, n) => `gather_x(${g}, ${k}, ${n})`,
    store: storeNCHW,
  };
  return gemmKernel(io, meta(step, 'conv2dTranspose'), ctx);
}

export function conv2dBackpropFilterKernel(step: OpStep<'conv2dBackpropFilter'>, ctx: BuildContext): Kernel {
  const [x, dy] = step.inputs as [PlanOperand, PlanOperand];
  const g = step.params;
  const io: GemmIO = {
    M: g.Og, N: g.Cg * g.KH * g.KW, K: g.N * g.OH * g.OW, batch: g.G,
    params: convParams(g),
    buffers: [
      { name: 'X', access: 'read', target: { buf: x.buf } },
      { name: 'DY', access: 'read', target: { buf: dy.buf } },
      { name: 'DW', access: 'read_write', target: { buf: step.out.buf } },
    ],
    helpers: im2colFn(false), variant: 'convW',
    a: (g, m, k) => `DY[((${k}) / (${param(3)} * ${param(4)}) * ${param(15)} + ${g} * ${param(14)} + ${m}) * (${param(3)} * ${param(4)}) + (${k}) % (${param(3)} * ${param(4)})]`,
    b: (g, k, n) => `im2col(${g}, ${k}, ${n})`,
    store: (g, m, n, v) => `DW[(${g} * ${param(14)} + ${m}) * dims.n + ${n}] = ${v};`,
  };
  return gemmKernel(io, meta(step, 'conv2dBackpropFilter'), ctx);
}

const POOL_WG = 64;

export function poolKernel(step: OpStep<'maxPool2d' | 'maxPool2dGrad'>): Kernel {
  const x = step.inputs[0]!;
  const p = step.params;
  const grad = step.op === 'maxPool2dGrad';
  const n = shapeSize(step.out.shape);
  // Core's epilogue (fuseEpilogues) in the store, its inputs bound after the kernel's own.
  const hook = epilogueHook(step.epilogue, step.out.shape, grad ? 3 : 2);
  const source = shader('pool.wgsl', {
    GRAD: grad ? 1 : 0, WG: POOL_WG, N: n, H: p.H, W: p.W, OH: p.OH, OW: p.OW,
    KH: p.KH, KW: p.KW, SY: p.sh, SX: p.sw, PT: p.pt, PL: p.pl, ...hook.defines,
  });
  const epilogue = step.epilogue ? ` epilogue e${exprKey(step.epilogue.expr)} ${step.epilogue.inputs.map((i) => `${i.dtype}${shapeToString(i.shape)}`).join(' ')}` : '';
  return {
    name: step.op,
    key: `${step.op}[${shapeToString(x.shape)} -> ${p.OH}x${p.OW} k${p.KH},${p.KW} s${p.sh},${p.sw} p${p.pt},${p.pl}]${epilogue}`,
    source, workgroupSize: POOL_WG, grid: grid1d(n, POOL_WG),
    bindings: [
      { target: { buf: step.out.buf }, access: 'read_write' },
      { target: { buf: x.buf }, access: 'read' },
      ...(grad ? [{ target: { buf: step.inputs[1]!.buf }, access: 'read' as const }] : []),
      ...hook.bindings,
    ],
    ops: step.ops,
    shapes: `${step.inputs.map((i) => shapeToString(i.shape)).join(' ')} -> ${shapeToString(step.out.shape)}`,
    bytes: 4 * (shapeSize(x.shape) + n), flops: n * p.KH * p.KW,
  };
}

/** This file's rows of the kernel table (kernels/index.ts). */
export const CONV_KERNELS = {
  conv2d: single(conv2dKernel), conv2dTranspose: single(conv2dTransposeKernel), conv2dBackpropFilter: single(conv2dBackpropFilterKernel),
  maxPool2d: single(poolKernel), maxPool2dGrad: single(poolKernel),
};
