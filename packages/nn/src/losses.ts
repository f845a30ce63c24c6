/**
 * Losses, built from graph ops (no kernels or gradients of their own). Each takes
 * predictions first, targets second, and reduces by `reduction`:
 *   'mean' (default)  a scalar, the mean over the batch
 *   'sum'             a scalar, the sum over the batch
 *   'none'            one value per example (axis 0), for weighting by hand
 *
 *   const loss = softmaxCrossEntropy(logits, labels, { labelSmoothing: 0.1 }); // scalar
 */
import { parseOptions, type Tensor } from '@kiln/core';
import { z } from 'zod';
import { check, optional, opts, sameShape, tensor } from './args';

/** How a loss reduces its per-example values: their mean, their sum, or none (one per example). */
export type Reduction = 'mean' | 'sum' | 'none';
/** Options of the losses: how per-example losses are reduced. */
export interface LossOptions { reduction?: Reduction }

const reductionSchema = z.enum(['mean', 'sum', 'none']).default('mean');

/** Per-example values (mean over every axis but 0), then the batch reduction. */
function reduce(perElement: Tensor, reduction: Reduction): Tensor {
  const perExample = perElement.rank > 1 ? perElement.mean({ axes: perElement.shape.slice(1).map((_, i) => i + 1) }) : perElement;
  if (reduction === 'none') return perExample;
  return reduction === 'sum' ? perExample.sum() : perExample.mean();
}

/**
 * Mean squared error, averaged over each example's values.
 *
 * @throws ShapeError unless predictions and targets have the same shape; DTypeError unless targets are f32; OptionsError for bad options.
 * @example
 * const loss = mse(dense(x, 1), y); // y: ['batch', 1]
 */
export function mse(predictions: Tensor, targets: Tensor, options?: LossOptions): Tensor {
  check('mse', [tensor('predictions'), tensor('targets'), optional(opts())], [predictions, targets, options]);
  const o = parseOptions(z.object({ reduction: reductionSchema }).strict(), options, 'mse');
  sameShape(predictions, targets, 'mse');
  return reduce(predictions.sub(targets).square(), o.reduction);
}

/**
 * Mean absolute error, averaged over each example's values.
 *
 * @throws ShapeError unless predictions and targets have the same shape; DTypeError unless targets are f32; OptionsError for bad options.
 * @example
 * const loss = mae(pred, y);
 */
export function mae(predictions: Tensor, targets: Tensor, options?: LossOptions): Tensor {
  check('mae', [tensor('predictions'), tensor('targets'), optional(opts())], [predictions, targets, options]);
  const o = parseOptions(z.object({ reduction: reductionSchema }).strict(), options, 'mae');
  sameShape(predictions, targets, 'mae');
  return reduce(predictions.sub(targets).abs(), o.reduction);
}

/**
 * Binary cross-entropy from logits (no sigmoid before it), computed stably as
 * `max(z, 0) - z * y + log(1 + exp(-|z|))`. Targets are probabilities in [0, 1] of the
 * logits' shape; `labelSmoothing` moves them towards 0.5 (`y * (1 - s) + s / 2`, as Keras).
 *
 * @throws ShapeError unless logits and targets have the same shape; DTypeError unless targets are f32; OptionsError for bad options (labelSmoothing outside [0, 1]).
 * @example
 * const loss = binaryCrossEntropy(dense(x, 1), y);
 */
export function binaryCrossEntropy(logits: Tensor, targets: Tensor, options?: LossOptions & { labelSmoothing?: number }): Tensor {
  check('binaryCrossEntropy', [tensor('logits'), tensor('targets'), optional(opts())], [logits, targets, options]);
  const o = parseOptions(z.object({ reduction: reductionSchema, labelSmoothing: z.number().min(0).max(1).default(0) }).strict(), options, 'binaryCrossEntropy');
  sameShape(logits, targets, 'binaryCrossEntropy');
  const y = o.labelSmoothing > 0 ? targets.mul(1 - o.labelSmoothing).add(o.labelSmoothing / 2) : targets;
  // max(z, 0) - z y as z (1 - y) or -z y by the sign of z, each product 0 where its weight is 0:
  // an infinite logit its target agrees with costs 0, not Inf - Inf or 0 * Inf = NaN.
  const times = (v: Tensor, w: Tensor) => w.equal(0).where(0, v.mul(w));
  const perElement = logits.greater(0).where(times(logits, y.neg().add(1)), times(logits.neg(), y)).add(logits.abs().neg().softplus());
  return reduce(perElement, o.reduction);
}

/**
 * Softmax cross-entropy from logits `[..., classes]`, against integer labels (i32, the
 * logits' shape without the class axis) or one-hot / probability rows (f32, the logits'
 * shape). `labelSmoothing` mixes the targets with the uniform distribution.
 *
 * @throws DTypeError unless labels are i32 or f32; ShapeError for labels of the wrong shape or a symbolic class axis; OptionsError for bad options. Fed i32 labels outside [0, classes) are a FeedError at run time.
 * @example
 * const loss = softmaxCrossEntropy(logits, y);            // y: i32 ['batch']
 * const smoothed = softmaxCrossEntropy(logits, y, { labelSmoothing: 0.1 });
 */
export function softmaxCrossEntropy(logits: Tensor, labels: Tensor, options?: LossOptions & { labelSmoothing?: number }): Tensor {
  check('softmaxCrossEntropy', [tensor('logits'), tensor('labels'), optional(opts())], [logits, labels, options]);
  const o = parseOptions(z.object({ reduction: reductionSchema, labelSmoothing: z.number().min(0).max(1).default(0) }).strict(), options, 'softmaxCrossEntropy');
  return reduce(logits.softmaxCrossEntropy(labels, { labelSmoothing: o.labelSmoothing }), o.reduction);
}
