/** Normalisation layers: batchNorm (running statistics updated on the device), layerNorm and rmsNorm. */
import { GraphError, normAxis, OptionsError, parseOptions, ShapeError, type Tensor } from '@kiln/core';
import { z } from 'zod';
import { initSchema, isTensor, type Layer, nameSchema, ownedParams, staticDim } from './common';
import type { ParamInit } from '@kiln/core';

/** Options of the `batchNorm` layer. */
export interface BatchNormOptions {
  /** The channel axis, kept; statistics reduce over all others (default 1: NCHW, or [batch, features]). */
  axis?: number;
  /** Running statistics: `moving = momentum * moving + (1 - momentum) * batch` (default 0.99, as Keras). */
  momentum?: number;
  /** Added to the variance (default 1e-3, as Keras). */
  epsilon?: number;
  /** Learn an offset `beta` (default true). */
  center?: boolean;
  /** Learn a scale `gamma` (default true). */
  scale?: boolean;
  gammaInit?: ParamInit;
  betaInit?: ParamInit;
  /**
   * Params: `<name>/gamma`, `<name>/beta` (trainable), `<name>/moving_mean`,
   * `<name>/moving_variance` (not trainable; saved in checkpoints). Default `batch_norm_<n>`.
   */
  name?: string;
}

const bnSchema = z.object({
  axis: z.number().int().default(1),
  momentum: z.number().min(0).max(1).default(0.99),
  epsilon: z.number().positive().default(1e-3),
  center: z.boolean().default(true),
  scale: z.boolean().default(true),
  gammaInit: initSchema.default('ones'),
  betaInit: initSchema.default('zeros'),
  name: nameSchema,
}).strict();

/**
 * Batch normalisation. In training runs (`run(..., { train: true })`) it normalises with the
 * batch's mean and (biased) variance and updates the running statistics with `g.assign`;
 * in evaluation runs it normalises with the running statistics and updates nothing.
 * Both branches are in the graph; `g.isTraining()` selects one, and the compiler folds
 * the other away.
 *
 * @throws OptionsError for bad options or a non-Tensor input; ShapeError for rank < 2 or axis 0; GraphError when one layer object is called twice in a graph.
 * @example
 * const h = batchNorm(conv2d(x, 32, { kernel: 3 })).relu();
 */
export function batchNorm(x: Tensor, options?: BatchNormOptions): Tensor;
export function batchNorm(options?: BatchNormOptions): Layer;
export function batchNorm(a?: Tensor | BatchNormOptions, b?: BatchNormOptions): Tensor | Layer {
  if (isTensor(a)) return batchNorm(b)(a);
  const o = parseOptions(bnSchema, a, 'batchNorm');
  const own = ownedParams<{ name: string }>('batch_norm', o.name);
  return (x: Tensor) => {
    if (!isTensor(x)) throw new OptionsError(`batchNorm: expected a Tensor, got ${typeof x}`);
    if (x.rank < 2) throw new ShapeError(`batchNorm: input ${x} must have rank >= 2 (a batch axis and a channel axis)`);
    const axis = normAxis(o.axis, x.rank, 'batchNorm');
    if (axis === 0) throw new ShapeError('batchNorm: axis 0 is the batch axis; statistics need it');
    const channels = staticDim(x, axis, 'batchNorm');
    const g = x.graph;
    let fresh = false;
    const { name } = own(g, `${channels} channels on axis ${axis} of a rank-${x.rank} input`, (n) => { fresh = true; return { name: n }; });
    // NOTE: a second call would add a second update of the same running statistics, and
    // only one of two assigns to a param can take effect.
    if (!fresh) throw new GraphError(`batchNorm '${name}': a layer with running statistics runs once per graph (a second call would update them twice)`);
    const bshape = x.shape.map((_, i) => (i === axis ? channels : 1));
    const reduce = x.shape.map((_, i) => i).filter((i) => i !== axis);

    const movingMean = g.param(`${name}/moving_mean`, [channels], { init: 'zeros', trainable: false });
    const movingVar = g.param(`${name}/moving_variance`, [channels], { init: 'ones', trainable: false });
    const batchMean = x.mean({ axes: reduce, keepDims: true });
    const batchVar = x.sub(batchMean).square().mean({ axes: reduce, keepDims: true });
    const training = g.isTraining();
    const mean = training.where(batchMean, movingMean.reshape(bshape));
    const variance = training.where(batchVar, movingVar.reshape(bshape));
    // Registered updates run only on train steps; they read start-of-step values.
    const m = o.momentum;
    g.assign(movingMean, movingMean.mul(m).add(batchMean.stopGradient().reshape([channels]).mul(1 - m)));
    g.assign(movingVar, movingVar.mul(m).add(batchVar.stopGradient().reshape([channels]).mul(1 - m)));

    return x.batchNorm({
      mean, variance, epsilon: o.epsilon,
      ...(o.scale ? { scale: g.param(`${name}/gamma`, [channels], { init: o.gammaInit }).reshape(bshape) } : {}),
      ...(o.center ? { offset: g.param(`${name}/beta`, [channels], { init: o.betaInit }).reshape(bshape) } : {}),
    });
  };
}

/** Options of the `layerNorm` layer. */
export interface LayerNormOptions {
  /** Axes normalised together (default [-1]); they must be static. */
  axes?: number[];
  /** Default 1e-5. */
  epsilon?: number;
  center?: boolean;
  scale?: boolean;
  gammaInit?: ParamInit;
  betaInit?: ParamInit;
  /** Params `<name>/gamma`, `<name>/beta`, shaped like the normalised axes (default `layer_norm_<n>`). */
  name?: string;
}

const lnSchema = z.object({
  axes: z.array(z.number().int()).min(1).default([-1]),
  epsilon: z.number().positive().default(1e-5),
  center: z.boolean().default(true),
  scale: z.boolean().default(true),
  gammaInit: initSchema.default('ones'),
  betaInit: initSchema.default('zeros'),
  name: nameSchema,
}).strict();

/**
 * Layer normalisation: each example normalised over `axes` with its own mean and variance,
 * then scaled and shifted per feature. The same in training and evaluation.
 *
 * @throws OptionsError for bad options or a non-Tensor input; ShapeError for an axis out of range or a symbolic normalised dim.
 * @example
 * const h = layerNorm(dense(x, 64)); // over the last axis
 */
export function layerNorm(x: Tensor, options?: LayerNormOptions): Tensor;
export function layerNorm(options?: LayerNormOptions): Layer;
export function layerNorm(a?: Tensor | LayerNormOptions, b?: LayerNormOptions): Tensor | Layer {
  if (isTensor(a)) return layerNorm(b)(a);
  const o = parseOptions(lnSchema, a, 'layerNorm');
  const own = ownedParams<{ gamma?: Tensor; beta?: Tensor }>('layer_norm', o.name);
  return (x: Tensor) => {
    if (!isTensor(x)) throw new OptionsError(`layerNorm: expected a Tensor, got ${typeof x}`);
    const axes = [...new Set(o.axes.map((ax) => normAxis(ax, x.rank, 'layerNorm')))].sort((p, q) => p - q);
    const pshape = axes.map((ax) => staticDim(x, ax, 'layerNorm'));
    const bshape = x.shape.map((d, i) => (axes.includes(i) ? d : 1));
    const g = x.graph;
    const p = own(g, `normalised dims [${pshape.join(', ')}]`, (name) => ({
      ...(o.scale ? { gamma: g.param(`${name}/gamma`, pshape, { init: o.gammaInit }) } : {}),
      ...(o.center ? { beta: g.param(`${name}/beta`, pshape, { init: o.betaInit }) } : {}),
    }));
    return x.layerNorm({
      axes, epsilon: o.epsilon,
      ...(p.gamma ? { scale: p.gamma.reshape(bshape) } : {}),
      ...(p.beta ? { offset: p.beta.reshape(bshape) } : {}),
    });
  };
}

/** Options of the `rmsNorm` layer. */
export interface RmsNormOptions {
  /** Axes normalised together (default [-1]); they must be static. */
  axes?: number[];
  /** Added to the mean square (default 1e-6, as LLaMA and Keras). */
  epsilon?: number;
  /** Learn a per-feature scale (default true). */
  scale?: boolean;
  gammaInit?: ParamInit;
  /** Param `<name>/gamma`, shaped like the normalised axes (default `rms_norm_<n>`). */
  name?: string;
}

const rmsSchema = z.object({
  axes: z.array(z.number().int()).min(1).default([-1]),
  epsilon: z.number().positive().default(1e-6),
  scale: z.boolean().default(true),
  gammaInit: initSchema.default('ones'),
  name: nameSchema,
}).strict();

/**
 * Root-mean-square normalisation (Zhang & Sennrich 2019; PyTorch `nn.RMSNorm`):
 * `x / sqrt(mean(x^2 over axes) + epsilon) * gamma`. No mean subtraction and no offset.
 *
 * @throws ShapeError when a normalised axis is not static.
 * @example
 * const h = rmsNorm(x);            // [batch, seq, d] -> same shape, param rms_norm_1/gamma [d]
 */
export function rmsNorm(x: Tensor, options?: RmsNormOptions): Tensor;
export function rmsNorm(options?: RmsNormOptions): Layer;
export function rmsNorm(a?: Tensor | RmsNormOptions, b?: RmsNormOptions): Tensor | Layer {
  if (isTensor(a)) return rmsNorm(b)(a);
  const o = parseOptions(rmsSchema, a, 'rmsNorm');
  const own = ownedParams<{ gamma?: Tensor }>('rms_norm', o.name);
  return (x: Tensor) => {
    if (!isTensor(x)) throw new OptionsError(`rmsNorm: expected a Tensor, got ${typeof x}`);
    const axes = [...new Set(o.axes.map((ax) => normAxis(ax, x.rank, 'rmsNorm')))].sort((p, q) => p - q);
    const pshape = axes.map((ax) => staticDim(x, ax, 'rmsNorm'));
    const bshape = x.shape.map((d, i) => (axes.includes(i) ? d : 1));
    const g = x.graph;
    const p = own(g, `normalised dims [${pshape.join(', ')}]`, (name) => (o.scale ? { gamma: g.param(`${name}/gamma`, pshape, { init: o.gammaInit }) } : {}));
    const y = x.mul(x.square().mean({ axes, keepDims: true }).add(o.epsilon).rsqrt());
    return p.gamma ? y.mul(p.gamma.reshape(bshape)) : y;
  };
}
