/** Convolution and pooling layers, NCHW (`[batch, channels, height, width]`). */
import { OptionsError, type Padding, parseOptions, type ParamInit, ShapeError, type Tensor } from '@kiln/core';
import { z } from 'zod';
import { type Activation, activation as applyActivation } from './activations';
import { activationSchema, checkLayerInput, initSchema, isTensor, type Layer, nameSchema, ownedParams, pairSchema, staticDim } from './common';
import { check, tensor } from '../args';

type Pair = number | [number, number];

/** Options of the `conv2d` layer. */
export interface Conv2dOptions {
  /** Filter height and width, e.g. 3 or [5, 3] (required; the same name as the pooling layers use). */
  kernel: Pair;
  stride?: Pair;
  /** `'valid'` (default, as Keras), `'same'`, or explicit pads. */
  padding?: Padding;
  dilation?: Pair;
  /** Grouped convolution: input and output channels split into `groups` (default 1). */
  groups?: number;
  activation?: Activation;
  useBias?: boolean;
  /** Default `'glorotUniform'`. */
  kernelInit?: ParamInit;
  biasInit?: ParamInit;
  /** Params are `<name>/kernel` `[filters, in/groups, kh, kw]` and `<name>/bias` `[filters]`. */
  name?: string;
}

const paddingSchema = z.union([
  z.enum(['valid', 'same']),
  z.number().int().nonnegative(),
  z.tuple([z.number().int().nonnegative(), z.number().int().nonnegative()]),
  z.tuple([z.number().int().nonnegative(), z.number().int().nonnegative(), z.number().int().nonnegative(), z.number().int().nonnegative()]),
]);

const convSchema = z.object({
  kernel: pairSchema,
  stride: pairSchema.default(1),
  padding: paddingSchema.default('valid'),
  dilation: pairSchema.default(1),
  groups: z.number().int().positive().default(1),
  activation: activationSchema.optional(),
  useBias: z.boolean().default(true),
  kernelInit: initSchema.default('glorotUniform'),
  biasInit: initSchema.default('zeros'),
  name: nameSchema,
}).strict();

function checkNCHW(x: Tensor, what: string): number {
  if (x.rank !== 4) throw new ShapeError(`${what}: input ${x} must be NCHW (rank 4)`);
  return staticDim(x, 1, what);
}

/**
 * 2-D convolution layer: `activation(conv2d(x, kernel) + bias)`.
 *
 * @throws OptionsError for a filters count that is not a positive integer, bad options or groups that do not divide the channels; ShapeError unless the input is NCHW (rank 4) or if the output would be empty.
 * @example
 * const h = conv2d(x, 32, { kernel: 3, padding: 'same', activation: 'relu' }); // [b, 32, 28, 28]
 */
export function conv2d(x: Tensor, filters: number, options: Conv2dOptions): Tensor;
export function conv2d(filters: number, options: Conv2dOptions): Layer;
export function conv2d(a: Tensor | number, b: number | Conv2dOptions, c?: Conv2dOptions): Tensor | Layer {
  checkLayerInput('conv2d', 'x', a, b);
  if (isTensor(a)) return conv2d(b as number, c as Conv2dOptions)(a);
  const filters = a;
  if (!Number.isInteger(filters) || filters <= 0) throw new OptionsError(`conv2d: filters must be a positive integer, got ${String(filters)}`);
  const o = parseOptions(convSchema, b, 'conv2d');
  const [kh, kw] = typeof o.kernel === 'number' ? [o.kernel, o.kernel] : o.kernel;
  const own = ownedParams<{ kernel: Tensor; bias?: Tensor }>('conv2d', o.name);
  return (x: Tensor) => {
    const cin = checkNCHW(x, 'conv2d');
    if (cin % o.groups || filters % o.groups) throw new OptionsError(`conv2d: groups ${o.groups} must divide input channels ${cin} and filters ${filters}`);
    const g = x.graph;
    const p = own(g, `${cin} input channels`, (name) => ({
      kernel: g.param(`${name}/kernel`, [filters, cin / o.groups, kh, kw], { init: o.kernelInit }),
      ...(o.useBias ? { bias: g.param(`${name}/bias`, [filters], { init: o.biasInit }) } : {}),
    }));
    let y = x.conv2d(p.kernel, { stride: o.stride, padding: o.padding, dilation: o.dilation, groups: o.groups });
    if (p.bias) y = y.add(p.bias.reshape([1, filters, 1, 1]));
    return applyActivation(y, o.activation);
  };
}

/** Options of the pooling layers. */
export interface Pool2dOptions {
  /** Window size (default 2). */
  kernel?: Pair;
  /** Default: the window size. */
  stride?: Pair;
  /** `'valid'` (default), `'same'`, or explicit pads. */
  padding?: Padding;
}

const poolSchema = z.object({ kernel: pairSchema.default(2), stride: pairSchema.optional(), padding: paddingSchema.default('valid') }).strict();

function pool(op: 'maxPool2d' | 'avgPool2d', x: Tensor, options: Pool2dOptions | undefined): Tensor {
  const o = parseOptions(poolSchema, options, op);
  checkNCHW(x, op);
  const attrs = { kernel: o.kernel, stride: o.stride ?? o.kernel, padding: o.padding };
  return op === 'maxPool2d' ? x.maxPool2d(attrs) : x.avgPool2d(attrs);
}

/**
 * Max pooling over `kernel` windows (default 2x2, stride = kernel).
 *
 * @throws OptionsError for bad options; ShapeError unless the input is NCHW or if the output would be empty.
 * @example
 * maxPool2d(x); // [b, c, 28, 28] -> [b, c, 14, 14]
 */
export function maxPool2d(x: Tensor, options?: Pool2dOptions): Tensor;
export function maxPool2d(options?: Pool2dOptions): Layer;
export function maxPool2d(a?: Tensor | Pool2dOptions, b?: Pool2dOptions): Tensor | Layer {
  if (!isTensor(a)) return (x: Tensor) => pool('maxPool2d', x, a);
  return pool('maxPool2d', a, b);
}

/**
 * Average pooling over `kernel` windows (default 2x2, stride = kernel); padding counts as zeros.
 *
 * @throws OptionsError for bad options; ShapeError unless the input is NCHW or if the output would be empty.
 * @example
 * avgPool2d(x, { kernel: 3, stride: 1, padding: 'same' });
 */
export function avgPool2d(x: Tensor, options?: Pool2dOptions): Tensor;
export function avgPool2d(options?: Pool2dOptions): Layer;
export function avgPool2d(a?: Tensor | Pool2dOptions, b?: Pool2dOptions): Tensor | Layer {
  if (!isTensor(a)) return (x: Tensor) => pool('avgPool2d', x, a);
  return pool('avgPool2d', a, b);
}

/**
 * Mean over the spatial axes: `[b, c, h, w]` -> `[b, c]`.
 *
 * @throws ShapeError unless the input is NCHW (rank 4).
 * @example
 * dense(globalAvgPool2d(features), 10);
 */
export function globalAvgPool2d(x: Tensor): Tensor;
export function globalAvgPool2d(): Layer;
export function globalAvgPool2d(x?: Tensor): Tensor | Layer {
  if (x !== undefined) check('globalAvgPool2d', [tensor('x')], [x]);
  if (x === undefined) return (t: Tensor) => globalAvgPool2d(t);
  checkNCHW(x, 'globalAvgPool2d');
  return x.mean({ axes: [2, 3] });
}
