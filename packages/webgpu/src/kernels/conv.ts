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
import { type BuildContext, grid1d, type Kernel } from '../kernel';
import { numel } from '../layout';
import { shader } from '../preprocess';
import { gemmKernel, type GemmIO } from './gemm';

interface ConvAttrs { stride: [number, number]; padding: [number, number, number, number]; dilation: [number, number]; groups: number }

function meta(step: OpStep, name: string, key: string) {
  return {
    name, key,
    ops: step.ops,
    shapes: `${step.inputs.map((x) => shapeToString(x.shape)).join(' * ')} -> ${shapeToString(step.out.shape)}`,
  };
}

function attrKey(a: ConvAttrs): string {
  return `s${a.stride.join(',')} p${a.padding.join(',')} d${a.dilation.join(',')} g${a.groups}`;
}

/** WGSL of fn im2col(g, k, n) -> f32: input x [NB, C, H, W] seen as the K x N patch matrix of group g. */
function im2colFn(x: readonly number[], Cg: number, KH: number, KW: number, OH: number, OW: number, a: ConvAttrs, kIsRow: boolean): string {
  const [, C, H, W] = x as [number, number, number, number];
  // kIsRow: (k = c·ky·kx, n = nb·oy·ox) for conv2d; otherwise swapped (backprop filter).
  const [tap, pos] = kIsRow ? ['k', 'n'] : ['n', 'k'];
  return `fn im2col(g: u32, k: u32, n: u32) -> f32 {
  let c = ${tap} / ${KH * KW}u;
  let ky = (${tap} / ${KW}u) % ${KH}u;
  let kx = ${tap} % ${KW}u;
  let nb = ${pos} / ${OH * OW}u;
  let oy = (${pos} / ${OW}u) % ${OH}u;
  let ox = ${pos} % ${OW}u;
  let iy = i32(oy * ${a.stride[0]}u + ky * ${a.dilation[0]}u) - ${a.padding[0]}i;
  let ix = i32(ox * ${a.stride[1]}u + kx * ${a.dilation[1]}u) - ${a.padding[2]}i;
  if (iy < 0i || iy >= ${H}i || ix < 0i || ix >= ${W}i) {
    return 0.0;
  }
  return X[((nb * ${C}u + g * ${Cg}u + c) * ${H}u + u32(iy)) * ${W}u + u32(ix)];
}`;
}

export function conv2dKernel(step: OpStep, ctx: BuildContext): Kernel {
  const [x, w] = step.inputs as [PlanOperand, PlanOperand];
  const a = step.attrs as unknown as ConvAttrs;
  const [NB, , , ] = x.shape as [number, number, number, number];
  const [O, Cg, KH, KW] = w.shape as [number, number, number, number];
  const [, , OH, OW] = step.out.shape as [number, number, number, number];
  const og = O / a.groups;
  const K = Cg * KH * KW, P = OH * OW;
  const io: GemmIO = {
    M: og, N: NB * P, K, batch: a.groups,
    buffers: [
      { name: 'X', access: 'read', target: { buf: x.buf } },
      { name: 'Wt', access: 'read', target: { buf: w.buf } },
      { name: 'Y', access: 'read_write', target: { buf: step.out.buf } },
    ],
    helpers: im2colFn(x.shape, Cg, KH, KW, OH, OW, a, true),
    a: (g, m, k) => `Wt[(${g} * ${og}u + ${m}) * ${K}u + ${k}]`,
    b: (g, k, n) => `im2col(${g}, ${k}, ${n})`,
    store: (g, m, n, v) => `Y[((${n}) / ${P}u * ${O}u + ${g} * ${og}u + ${m}) * ${P}u + (${n}) % ${P}u] = ${v};`,
  };
  return gemmKernel(io, meta(step, 'conv2d', `${shapeToString(x.shape)}*${shapeToString(w.shape)} ${attrKey(a)}`), ctx);
}

export function conv2dTransposeKernel(step: OpStep, ctx: BuildContext): Kernel {
  const [x, w] = step.inputs as [PlanOperand, PlanOperand];
  const a = step.attrs as unknown as ConvAttrs;
  const [NB, Cin, H, W] = x.shape as [number, number, number, number];
  const [, Cog, KH, KW] = w.shape as [number, number, number, number];
  const [, Cout, OH, OW] = step.out.shape as [number, number, number, number];
  const cig = Cin / a.groups;
  const K = cig * KH * KW, P = OH * OW;
  const helpers = `fn gather_x(g: u32, k: u32, n: u32) -> f32 {
  let ci = k / ${KH * KW}u;
  let ky = (k / ${KW}u) % ${KH}u;
  let kx = k % ${KW}u;
  let nb = n / ${P}u;
  let oy = (n / ${OW}u) % ${OH}u;
  let ox = n % ${OW}u;
  let ty = i32(oy) + ${a.padding[0]}i - i32(ky * ${a.dilation[0]}u);
  let tx = i32(ox) + ${a.padding[2]}i - i32(kx * ${a.dilation[1]}u);
  if (ty < 0i || tx < 0i || ty % ${a.stride[0]}i != 0i || tx % ${a.stride[1]}i != 0i) {
    return 0.0;
  }
  let iy = ty / ${a.stride[0]}i;
  let ix = tx / ${a.stride[1]}i;
  if (iy >= ${H}i || ix >= ${W}i) {
    return 0.0;
  }
  return X[((nb * ${Cin}u + g * ${cig}u + ci) * ${H}u + u32(iy)) * ${W}u + u32(ix)];
}`;
  const io: GemmIO = {
    M: Cog, N: NB * P, K, batch: a.groups,
    buffers: [
      { name: 'X', access: 'read', target: { buf: x.buf } },
      { name: 'Wt', access: 'read', target: { buf: w.buf } },
      { name: 'Y', access: 'read_write', target: { buf: step.out.buf } },
    ],
    helpers,
    a: (g, m, k) => `Wt[((${g} * ${cig}u + (${k}) / ${KH * KW}u) * ${Cog}u + ${m}) * ${KH * KW}u + (${k}) % ${KH * KW}u]`,
    b: (g, k, n) => `gather_x(${g}, ${k}, ${n})`,
    store: (g, m, n, v) => `Y[((${n}) / ${P}u * ${Cout}u + ${g} * ${Cog}u + ${m}) * ${P}u + (${n}) % ${P}u] = ${v};`,
  };
  return gemmKernel(io, meta(step, 'conv2dTranspose', `${shapeToString(x.shape)}*${shapeToString(w.shape)} ${attrKey(a)}`), ctx);
}

export function conv2dBackpropFilterKernel(step: OpStep, ctx: BuildContext): Kernel {
  const [x, dy] = step.inputs as [PlanOperand, PlanOperand];
  const a = step.attrs as unknown as ConvAttrs & { filterShape: [number, number, number, number] };
  const [NB] = x.shape as [number, number, number, number];
  const [O, Cg, KH, KW] = a.filterShape;
  const [, , OH, OW] = dy.shape as [number, number, number, number];
  const og = O / a.groups;
  const P = OH * OW;
  const io: GemmIO = {
    M: og, N: Cg * KH * KW, K: NB * P, batch: a.groups,
    buffers: [
      { name: 'X', access: 'read', target: { buf: x.buf } },
      { name: 'DY', access: 'read', target: { buf: dy.buf } },
      { name: 'DW', access: 'read_write', target: { buf: step.out.buf } },
    ],
    helpers: im2colFn(x.shape, Cg, KH, KW, OH, OW, a, false),
    a: (g, m, k) => `DY[((${k}) / ${P}u * ${O}u + ${g} * ${og}u + ${m}) * ${P}u + (${k}) % ${P}u]`,
    b: (g, k, n) => `im2col(${g}, ${k}, ${n})`,
    store: (g, m, n, v) => `DW[(${g} * ${og}u + ${m}) * ${Cg * KH * KW}u + ${n}] = ${v};`,
  };
  return gemmKernel(io, meta(step, 'conv2dBackpropFilter', `${shapeToString(x.shape)}*${shapeToString(dy.shape)} ${attrKey(a)}`), ctx);
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
