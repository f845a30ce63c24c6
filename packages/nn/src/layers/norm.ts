/** Normalisation layers: batchNorm (running statistics updated on the device) and layerNorm. */
import { normAxis, parseOptions, ShapeError, type Tensor } from '@kiln/core';
import { z } from 'zod';
import { initSchema, isTensor, type Layer, nameSchema, staticDim } from './common';
import { layerName } from './naming';
import type { ParamInit } from '@kiln/core';

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
 * @example
 * const h = batchNorm(conv2d(x, 32, { kernel: 3 })).relu();
 */
export function batchNorm(x: Tensor, options?: BatchNormOptions): Tensor;
export function batchNorm(options?: BatchNormOptions): Layer;
export function batchNorm(a?: Tensor | BatchNormOptions, b?: BatchNormOptions): Tensor | Layer {
  if (!isTensor(a)) return (x: Tensor) => batchNorm(x, a);
  const x = a;
  const o = parseOptions(bnSchema, b, 'batchNorm');
  if (x.rank < 2) throw new ShapeError(`batchNorm: input ${x} must have rank >= 2 (a batch axis and a channel axis)`);
  const axis = normAxis(o.axis, x.rank, 'batchNorm');
  if (axis === 0) throw new ShapeError('batchNorm: axis 0 is the batch axis; statistics need it');
  const channels = staticDim(x, axis, 'batchNorm');
  const g = x.graph;
  const name = layerName(g, 'batch_norm', o.name);
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
}

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
 * @example
 * const h = layerNorm(dense(x, 64)); // over the last axis
 */
export function layerNorm(x: Tensor, options?: LayerNormOptions): Tensor;
export function layerNorm(options?: LayerNormOptions): Layer;
export function layerNorm(a?: Tensor | LayerNormOptions, b?: LayerNormOptions): Tensor | Layer {
  if (!isTensor(a)) return (x: Tensor) => layerNorm(x, a);
  const x = a;
  const o = parseOptions(lnSchema, b, 'layerNorm');
  const axes = [...new Set(o.axes.map((ax) => normAxis(ax, x.rank, 'layerNorm')))].sort((p, q) => p - q);
  const pshape = axes.map((ax) => staticDim(x, ax, 'layerNorm'));
  const bshape = x.shape.map((d, i) => (axes.includes(i) ? d : 1));
  const g = x.graph;
  const name = layerName(g, 'layer_norm', o.name);
  return x.layerNorm({
    axes, epsilon: o.epsilon,
    ...(o.scale ? { scale: g.param(`${name}/gamma`, pshape, { init: o.gammaInit }).reshape(bshape) } : {}),
    ...(o.center ? { offset: g.param(`${name}/beta`, pshape, { init: o.betaInit }).reshape(bshape) } : {}),
  });
}
