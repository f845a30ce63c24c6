/**
 * Convolution and pooling, NCHW. conv2d, its two adjoints (conv2dTranspose for the input,
 * conv2dBackpropFilter for the filter) and max pooling with its gradient are primitives;
 * average pooling is a depthwise conv2d (a composite).
 */
import { z } from 'zod';
import { ShapeError } from '../errors';
import { type Dim, shapeToString, type TensorType } from '../shape';
import { defineOp, type Grads } from '../spec';
import { expectDType } from './util';

const pair = z.tuple([z.number().int().positive(), z.number().int().positive()]);
const pads = z.tuple([z.number().int().nonnegative(), z.number().int().nonnegative(), z.number().int().nonnegative(), z.number().int().nonnegative()]);
const convAttrs = z.object({ stride: pair, padding: pads, dilation: pair, groups: z.number().int().positive() }).strict();
export type ConvAttrs = z.infer<typeof convAttrs>;
const transposeAttrs = convAttrs.extend({ outputPadding: z.tuple([z.number().int().nonnegative(), z.number().int().nonnegative()]) });
export type ConvTransposeAttrs = z.infer<typeof transposeAttrs>;
const filterAttrs = convAttrs.extend({ filterShape: z.tuple([z.number().int(), z.number().int(), z.number().int(), z.number().int()]) });
export type ConvFilterAttrs = z.infer<typeof filterAttrs>;
const poolAttrs = z.object({ kernel: pair, stride: pair, padding: pads }).strict();
export type PoolAttrs = z.infer<typeof poolAttrs>;

const num = (d: Dim, what: string): number => {
  if (typeof d !== 'number') throw new ShapeError(`${what} must be static, got '${d}'`);
  return d;
};

/** Output spatial size of a convolution or pool along one axis. */
export function convOutSize(size: number, k: number, stride: number, padLo: number, padHi: number, dilation: number): number {
  return Math.floor((size + padLo + padHi - dilation * (k - 1) - 1) / stride) + 1;
}

/**
 * What a convolution kernel loops over: the forward conv2d an op computes or is an adjoint of
 * (for conv2dTranspose, the conv whose input is its output). Input [N, C, H, W], filter
 * [O, Cg, KH, KW] in G groups of Og = O / G output and Cg input channels, output [N, O, OH, OW],
 * stride (sh, sw), top and left padding (pt, pl), dilation (dh, dw).
 */
export type ConvGeometry = {
  readonly N: number; readonly C: number; readonly H: number; readonly W: number;
  readonly O: number; readonly OH: number; readonly OW: number;
  readonly G: number; readonly Cg: number; readonly Og: number; readonly KH: number; readonly KW: number;
  readonly sh: number; readonly sw: number; readonly pt: number; readonly pl: number; readonly dh: number; readonly dw: number;
};

function convGeometry(input: readonly number[], filter: readonly number[], output: readonly number[], a: ConvAttrs): ConvGeometry {
  const [N, C, H, W] = input as [number, number, number, number];
  const [O, Cg, KH, KW] = filter as [number, number, number, number];
  const [, , OH, OW] = output as [number, number, number, number];
  return { N, C, H, W, O, OH, OW, G: a.groups, Cg, Og: O / a.groups, KH, KW, sh: a.stride[0], sw: a.stride[1], pt: a.padding[0], pl: a.padding[2], dh: a.dilation[0], dw: a.dilation[1] };
}

/**
 * What a pooling kernel loops over: input [N, C, H, W], pooled output [N, C, OH, OW] (for
 * maxPool2dGrad, the shape of dy), window KH x KW, stride (sh, sw), top and left padding (pt, pl).
 */
export type PoolGeometry = {
  readonly N: number; readonly C: number; readonly H: number; readonly W: number; readonly OH: number; readonly OW: number;
  readonly KH: number; readonly KW: number; readonly sh: number; readonly sw: number; readonly pt: number; readonly pl: number;
};

function poolGeometry(input: readonly number[], pooled: readonly number[], a: PoolAttrs): PoolGeometry {
  const [N, C, H, W] = input as [number, number, number, number];
  const [, , OH, OW] = pooled as [number, number, number, number];
  return { N, C, H, W, OH, OW, KH: a.kernel[0], KW: a.kernel[1], sh: a.stride[0], sw: a.stride[1], pt: a.padding[0], pl: a.padding[2] };
}

function check4(t: TensorType, what: string): void {
  if (t.shape.length !== 4) throw new ShapeError(`${what} must be rank 4 (NCHW), got ${shapeToString(t.shape)}`);
  expectDType(t, ['f32'], what);
}

/** Shared loop of all conv references: calls fn(n, oc, oy, ox, ic, iy, ix, ky, kx) per tap in bounds. */
function forEachTap(xs: readonly number[], ws: readonly number[], ys: readonly number[], a: ConvAttrs,
  fn: (yi: number, xi: number, wi: number) => void): void {
  const [N, C, H, W] = xs as [number, number, number, number];
  const [O, Cg, KH, KW] = ws as [number, number, number, number];
  const [, , OH, OW] = ys as [number, number, number, number];
  const og = O / a.groups;
  for (let n = 0; n < N; n++) for (let o = 0; o < O; o++) {
    const g = Math.floor(o / og);
    for (let oy = 0; oy < OH; oy++) for (let ox = 0; ox < OW; ox++) {
      const yi = ((n * O + o) * OH + oy) * OW + ox;
      for (let c = 0; c < Cg; c++) for (let ky = 0; ky < KH; ky++) {
        const iy = oy * a.stride[0] - a.padding[0] + ky * a.dilation[0];
        if (iy < 0 || iy >= H) continue;
        for (let kx = 0; kx < KW; kx++) {
          const ix = ox * a.stride[1] - a.padding[2] + kx * a.dilation[1];
          if (ix < 0 || ix >= W) continue;
          fn(yi, ((n * C + g * Cg + c) * H + iy) * W + ix, ((o * Cg + c) * KH + ky) * KW + kx);
        }
      }
    }
  }
}

function convShape(x: readonly Dim[], w: readonly Dim[], a: ConvAttrs): Dim[] {
  const [n, c, h, wd] = x;
  const [o, cg, kh, kw] = w.map((d) => num(d, 'conv2d filter dims'));
  if (num(c!, 'conv2d channels') !== cg! * a.groups) throw new ShapeError(`conv2d: input has ${c} channels but filter ${shapeToString(w)} with groups=${a.groups} expects ${cg! * a.groups}`);
  if (o! % a.groups) throw new ShapeError(`conv2d: ${o} output channels not divisible by groups=${a.groups}`);
  const oh = convOutSize(num(h!, 'conv2d height'), kh!, a.stride[0], a.padding[0], a.padding[1], a.dilation[0]);
  const ow = convOutSize(num(wd!, 'conv2d width'), kw!, a.stride[1], a.padding[2], a.padding[3], a.dilation[1]);
  if (oh <= 0 || ow <= 0) throw new ShapeError(`conv2d: output would be empty (${oh}x${ow}) for input ${shapeToString(x)} and filter ${shapeToString(w)}`);
  return [n!, o!, oh, ow];
}

export const CONV2D = defineOp({
  name: 'conv2d', kind: 'conv', arity: 2, attrs: convAttrs,
  params: ([x, w], a, out) => convGeometry(x!.shape, w!.shape, out.shape, a),
  infer: ([x, w], a) => {
    check4(x!, 'conv2d input'); check4(w!, 'conv2d filter');
    return { shape: convShape(x!.shape, w!.shape, a), dtype: 'f32' };
  },
  ref: ([x, w], a, ctx) => {
    const y = new Float64Array(ctx.out.shape.reduce((p, q) => p * q, 1));
    forEachTap(x!.shape, w!.shape, ctx.out.shape, a, (yi, xi, wi) => (y[yi]! += x!.data[xi]! * w!.data[wi]!));
    return y;
  },
  grad: ({ inputs: [x, w], dy, attrs: a }): Grads => {
    const [h, wd] = [x!.shape[2] as number, x!.shape[3] as number];
    const [oh, ow] = [dy.shape[2] as number, dy.shape[3] as number];
    const [kh, kw] = [w!.shape[2] as number, w!.shape[3] as number];
    const full = (o: number, k: number, s: number, lo: number, hi: number, d: number) => (o - 1) * s - lo - hi + d * (k - 1) + 1;
    const outputPadding: [number, number] = [
      h - full(oh, kh, a.stride[0], a.padding[0], a.padding[1], a.dilation[0]),
      wd - full(ow, kw, a.stride[1], a.padding[2], a.padding[3], a.dilation[1]),
    ];
    return [dy.conv2dTranspose(w!, { ...a, outputPadding }), x!.conv2dBackpropFilter(dy, { ...a, filterShape: w!.shape as [number, number, number, number] })];
  },
});

/** The adjoint of conv2d with respect to its input. Filter layout [Cin, Cout/groups, KH, KW]. */
export const CONV2D_TRANSPOSE = defineOp({
  name: 'conv2dTranspose', kind: 'conv', arity: 2, attrs: transposeAttrs,
  params: ([x, w], a, out) => convGeometry(out.shape, w!.shape, x!.shape, a),
  infer: ([x, w], a) => {
    check4(x!, 'conv2dTranspose input'); check4(w!, 'conv2dTranspose filter');
    const [n, c, h, wd] = x!.shape;
    const [ci, cog, kh, kw] = w!.shape.map((d) => num(d, 'conv2dTranspose filter dims'));
    if (num(c!, 'conv2dTranspose channels') !== ci) throw new ShapeError(`conv2dTranspose: input has ${c} channels, filter ${shapeToString(w!.shape)} expects ${ci}`);
    if (ci! % a.groups) throw new ShapeError(`conv2dTranspose: ${ci} channels not divisible by groups=${a.groups}`);
    const size = (s: number, k: number, i: 0 | 1) => (s - 1) * a.stride[i] - a.padding[2 * i]! - a.padding[2 * i + 1]! + a.dilation[i] * (k - 1) + a.outputPadding[i] + 1;
    const oh = size(num(h!, 'height'), kh!, 0), ow = size(num(wd!, 'width'), kw!, 1);
    if (oh <= 0 || ow <= 0) throw new ShapeError(`conv2dTranspose: output would be empty (${oh}x${ow})`);
    if (a.outputPadding[0] >= Math.max(a.stride[0], a.dilation[0]) || a.outputPadding[1] >= Math.max(a.stride[1], a.dilation[1])) {
      throw new ShapeError(`conv2dTranspose: outputPadding [${a.outputPadding.join(', ')}] must be smaller than stride or dilation`);
    }
    return { shape: [n!, cog! * a.groups, oh, ow], dtype: 'f32' };
  },
  ref: ([x, w], a, ctx) => {
    // y is the input of the conv2d whose output is x: scatter every tap back.
    const y = new Float64Array(ctx.out.shape.reduce((p, q) => p * q, 1));
    const wc = [w!.shape[0]!, w!.shape[1]!, w!.shape[2]!, w!.shape[3]!];
    // conv2d view: input y (shape out), filter [Cin, Cout/g, ...] as [O, Cg, ...], output x.
    forEachTap(ctx.out.shape, wc, x!.shape, a, (xi, yi, wi) => (y[yi]! += x!.data[xi]! * w!.data[wi]!));
    return y;
  },
  grad: ({ inputs: [x, w], dy, attrs: a }): Grads => {
    const conv = { stride: a.stride, padding: a.padding, dilation: a.dilation, groups: a.groups };
    return [dy.conv2d(w!, conv), dy.conv2dBackpropFilter(x!, { ...conv, filterShape: w!.shape as [number, number, number, number] })];
  },
});

/** The adjoint of conv2d with respect to its filter: inputs (x, dy), output filterShape. */
export const CONV2D_BACKPROP_FILTER = defineOp({
  name: 'conv2dBackpropFilter', kind: 'conv', arity: 2, attrs: filterAttrs,
  params: ([x, dy], a) => convGeometry(x!.shape, a.filterShape, dy!.shape, a),
  infer: ([x, dy], a) => {
    check4(x!, 'conv2dBackpropFilter input'); check4(dy!, 'conv2dBackpropFilter output gradient');
    const expect = convShape(x!.shape, a.filterShape, a);
    if (expect.slice(1).some((d, i) => d !== dy!.shape[i + 1])) throw new ShapeError(`conv2dBackpropFilter: gradient ${shapeToString(dy!.shape)} does not match conv output ${shapeToString(expect)}`);
    return { shape: [...a.filterShape], dtype: 'f32' };
  },
  ref: ([x, dy], a) => {
    const dw = new Float64Array(a.filterShape.reduce((p, q) => p * q, 1));
    forEachTap(x!.shape, a.filterShape, dy!.shape, a, (yi, xi, wi) => (dw[wi]! += x!.data[xi]! * dy!.data[yi]!));
    return dw;
  },
});

function poolShape(x: readonly Dim[], a: PoolAttrs): Dim[] {
  const oh = convOutSize(num(x[2]!, 'pool height'), a.kernel[0], a.stride[0], a.padding[0], a.padding[1], 1);
  const ow = convOutSize(num(x[3]!, 'pool width'), a.kernel[1], a.stride[1], a.padding[2], a.padding[3], 1);
  if (oh <= 0 || ow <= 0) throw new ShapeError(`maxPool2d: output would be empty for input ${shapeToString(x)}`);
  return [x[0]!, x[1]!, oh, ow];
}

/** For each pooling window, the flat input index of its first maximum (-1 if all padding). */
function poolArgmax(x: { shape: readonly number[]; data: Float64Array }, out: readonly number[], a: PoolAttrs, fn: (yi: number, xi: number) => void): void {
  const [N, C, H, W] = x.shape as [number, number, number, number];
  const [, , OH, OW] = out as [number, number, number, number];
  for (let nc = 0; nc < N * C; nc++) for (let oy = 0; oy < OH; oy++) for (let ox = 0; ox < OW; ox++) {
    let best = -1, bv = -Infinity;
    for (let ky = 0; ky < a.kernel[0]; ky++) {
      const iy = oy * a.stride[0] - a.padding[0] + ky;
      if (iy < 0 || iy >= H) continue;
      for (let kx = 0; kx < a.kernel[1]; kx++) {
        const ix = ox * a.stride[1] - a.padding[2] + kx;
        if (ix < 0 || ix >= W) continue;
        const xi = (nc * H + iy) * W + ix;
        const v = x.data[xi]!;
        if (best < 0 || v > bv || (Number.isNaN(v) && !Number.isNaN(bv))) { best = xi; bv = v; }
      }
    }
    fn((nc * OH + oy) * OW + ox, best);
  }
}

export const MAX_POOL2D = defineOp({
  name: 'maxPool2d', kind: 'pool', arity: 1, attrs: poolAttrs,
  params: ([x], a, out) => poolGeometry(x!.shape, out.shape, a),
  infer: ([x], a) => { check4(x!, 'maxPool2d input'); return { shape: poolShape(x!.shape, a), dtype: 'f32' }; },
  ref: ([x], a, ctx) => {
    const y = new Float64Array(ctx.out.shape.reduce((p, q) => p * q, 1));
    poolArgmax(x!, ctx.out.shape, a, (yi, xi) => (y[yi] = xi < 0 ? -Infinity : x!.data[xi]!));
    return y;
  },
  grad: ({ inputs: [x], dy, attrs }): Grads => [x!.maxPool2dGrad(dy, attrs)],
});

/** Gradient of maxPool2d: each window's dy goes to its first maximum. Inputs (x, dy). */
export const MAX_POOL2D_GRAD = defineOp({
  name: 'maxPool2dGrad', kind: 'pool', arity: 2, attrs: poolAttrs,
  params: ([x, dy], a) => poolGeometry(x!.shape, dy!.shape, a),
  infer: ([x, dy], a) => {
    check4(x!, 'maxPool2dGrad input');
    const expect = poolShape(x!.shape, a);
    if (expect.some((d, i) => d !== dy!.shape[i])) throw new ShapeError(`maxPool2dGrad: gradient ${shapeToString(dy!.shape)} does not match pool output ${shapeToString(expect)}`);
    return { shape: x!.shape, dtype: 'f32' };
  },
  ref: ([x, dy], a) => {
    const dx = new Float64Array(x!.data.length);
    poolArgmax(x!, dy!.shape, a, (yi, xi) => { if (xi >= 0) dx[xi]! += dy!.data[yi]!; });
    return dx;
  },
});
