/**
 * Convolutions as implicit GEMMs (one GEMM per group; the im2col gather happens inside the
 * loaders, so no patch matrix is ever written), and max pooling.
 *
 *   conv2d               C[o][n·oy·ox]   = W[o][c·ky·kx]   x im2col(x)[c·ky·kx][n·oy·ox]
 *   conv2dTranspose      C[co][n·oy·ox]  = W'[co][ci·ky·kx] x col2im-gather(x)   (taps that land)
 *   conv2dBackpropFilter C[o][c·ky·kx]   = dy[o][n·oy·ox]  x im2col(x)ᵀ
 */
import type { OpStep, PlanOperand } from '@kiln/core';
import { shapeToString } from '@kiln/core';
import { type BuildContext, grid1d, type Kernel, single } from '../kernel';
import { numel } from '../layout';
import { shader } from '../preprocess';
import { gemmKernel, type GemmIO, param } from './gemm';

interface ConvAttrs { stride: [number, number]; padding: [number, number, number, number]; dilation: [number, number]; groups: number }

function meta(step: OpStep, name: string) {
  return { name, ops: step.ops, shapes: `${step.inputs.map((x) => shapeToString(x.shape)).join(' * ')} -> ${shapeToString(step.out.shape)}` };
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

function convParams(x: readonly number[], out: readonly number[], k: readonly number[], a: ConvAttrs, cin: number, cout: number, O: number): number[] {
  return [x[1]!, x[2]!, x[3]!, out[2]!, out[3]!, k[0]!, k[1]!, a.stride[0], a.stride[1], a.dilation[0], a.dilation[1], a.padding[0], a.padding[2], cin, cout, O];
}

/** Y [NB, O, OH, OW] at (row m of group g, column n = nb·oy·ox). */
const storeNCHW = (g: string, m: string, n: string, v: string) =>
  `{ let P = ${param(3)} * ${param(4)}; Y[((${n}) / P * ${param(15)} + ${g} * ${param(14)} + ${m}) * P + (${n}) % P] = ${v}; }`;

export function conv2dKernel(step: OpStep, ctx: BuildContext): Kernel {
  const [x, w] = step.inputs as [PlanOperand, PlanOperand];
  const a = step.attrs as unknown as ConvAttrs;
  const [NB] = x.shape as [number, number, number, number];
  const [O, Cg, KH, KW] = w.shape as [number, number, number, number];
  const [, , OH, OW] = step.out.shape as [number, number, number, number];
  const og = O / a.groups;
  const io: GemmIO = {
    M: og, N: NB * OH * OW, K: Cg * KH * KW, batch: a.groups,
    params: convParams(x.shape, step.out.shape, [KH, KW], a, Cg, og, O),
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

export function conv2dTransposeKernel(step: OpStep, ctx: BuildContext): Kernel {
  const [x, w] = step.inputs as [PlanOperand, PlanOperand];
  const a = step.attrs as unknown as ConvAttrs;
  const [NB, Cin] = x.shape as [number, number, number, number];
  const [, Cog, KH, KW] = w.shape as [number, number, number, number];
  const [, Cout, OH, OW] = step.out.shape as [number, number, number, number];
  const cig = Cin / a.groups;
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
    M: Cog, N: NB * OH * OW, K: cig * KH * KW, batch: a.groups,
    params: convParams(x.shape, step.out.shape, [KH, KW], a, cig, Cog, Cout),
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

export function conv2dBackpropFilterKernel(step: OpStep, ctx: BuildContext): Kernel {
  const [x, dy] = step.inputs as [PlanOperand, PlanOperand];
  const a = step.attrs as unknown as ConvAttrs & { filterShape: [number, number, number, number] };
  const [NB] = x.shape as [number, number, number, number];
  const [O, Cg, KH, KW] = a.filterShape;
  const [, , OH, OW] = dy.shape as [number, number, number, number];
  const og = O / a.groups;
  const io: GemmIO = {
    M: og, N: Cg * KH * KW, K: NB * OH * OW, batch: a.groups,
    params: convParams(x.shape, dy.shape, [KH, KW], a, Cg, og, O),
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

export function poolKernel(step: OpStep): Kernel {
  const x = step.inputs[0]!;
  const a = step.attrs as unknown as { kernel: [number, number]; stride: [number, number]; padding: [number, number, number, number] };
  const grad = step.op === 'maxPool2dGrad';
  const [, , H, W] = x.shape as [number, number, number, number];
  const pooled = grad ? step.inputs[1]!.shape : step.out.shape;
  const [, , OH, OW] = pooled as [number, number, number, number];
  const n = numel(step.out.shape);
  const source = shader('pool.wgsl', {
    GRAD: grad ? 1 : 0, WG: POOL_WG, N: n, H, W, OH, OW,
    KH: a.kernel[0], KW: a.kernel[1], SY: a.stride[0], SX: a.stride[1], PT: a.padding[0], PL: a.padding[2],
  });
  return {
    name: step.op,
    key: `${step.op}[${shapeToString(x.shape)} k${a.kernel.join(',')} s${a.stride.join(',')} p${a.padding.join(',')}]`,
    source, workgroupSize: POOL_WG, grid: grid1d(n, POOL_WG),
    bindings: [
      { target: { buf: step.out.buf }, access: 'read_write' },
      { target: { buf: x.buf }, access: 'read' },
      ...(grad ? [{ target: { buf: step.inputs[1]!.buf }, access: 'read' as const }] : []),
    ],
    ops: step.ops,
    shapes: `${step.inputs.map((i) => shapeToString(i.shape)).join(' ')} -> ${shapeToString(step.out.shape)}`,
    bytes: 4 * (numel(x.shape) + n), flops: n * a.kernel[0] * a.kernel[1],
  };
}

/** This file's rows of the kernel table (kernels/index.ts). */
export const CONV_KERNELS = {
  conv2d: single(conv2dKernel), conv2dTranspose: single(conv2dTransposeKernel), conv2dBackpropFilter: single(conv2dBackpropFilterKernel),
  maxPool2d: single(poolKernel), maxPool2dGrad: single(poolKernel),
};
