/**
 * Dense, flatten, dropout, embedding and activation layers. Each takes the input tensor
 * first and returns the output tensor; called without the tensor it returns a {@link Layer}
 * for `sequential([...])`.
 */
import { OptionsError, parseOptions, type ParamInit, ShapeError, type Tensor } from '@kiln/core';
import { z } from 'zod';
import { type Activation, activation as applyActivation } from './activations';
import { activationSchema, initSchema, isTensor, type Layer, nameSchema, staticDim } from './common';
import { layerName } from './naming';

export interface DenseOptions {
  /** Applied after the bias (default: none, i.e. linear). */
  activation?: Activation;
  /** Add a bias (default true). */
  useBias?: boolean;
  /** Default `'glorotUniform'`, as Keras. */
  kernelInit?: ParamInit;
  /** Default `'zeros'`. */
  biasInit?: ParamInit;
  /** Layer name; params are `<name>/kernel` and `<name>/bias` (default `dense_<n>`). */
  name?: string;
}

const denseSchema = z.object({
  activation: activationSchema.optional(),
  useBias: z.boolean().default(true),
  kernelInit: initSchema.default('glorotUniform'),
  biasInit: initSchema.default('zeros'),
  name: nameSchema,
}).strict();

/**
 * Fully connected layer: `activation(x @ kernel + bias)` on the last axis of `x`
 * (`[..., in]` -> `[..., units]`); kernel `[in, units]`, bias `[units]`.
 *
 * @example
 * const h = dense(x, 128, { activation: 'relu' });   // params dense_1/kernel, dense_1/bias
 * const logits = dense(h, 10);
 * sequential([dense(128, { activation: 'relu' }), dense(10)])(x); // the same, as layers
 */
export function dense(x: Tensor, units: number, options?: DenseOptions): Tensor;
export function dense(units: number, options?: DenseOptions): Layer;
export function dense(a: Tensor | number, b?: number | DenseOptions, c?: DenseOptions): Tensor | Layer {
  if (!isTensor(a)) return (x: Tensor) => dense(x, a, b as DenseOptions | undefined);
  const x = a, units = b as number;
  if (!Number.isInteger(units) || units <= 0) throw new OptionsError(`dense: units must be a positive integer, got ${String(units)}`);
  const o = parseOptions(denseSchema, c, 'dense');
  if (x.rank < 1) throw new ShapeError(`dense: input ${x} must have rank >= 1`);
  const inFeatures = staticDim(x, -1, 'dense');
  const g = x.graph;
  const name = layerName(g, 'dense', o.name);
  const kernel = g.param(`${name}/kernel`, [inFeatures, units], { init: o.kernelInit });
  let y = x.rank === 1 ? x.expandDims(0).matmul(kernel).reshape([units]) : x.matmul(kernel);
  if (o.useBias) y = y.add(g.param(`${name}/bias`, [units], { init: o.biasInit }));
  return applyActivation(y, o.activation);
}

/**
 * `[batch, d1, d2, ...]` -> `[batch, d1 * d2 * ...]`; the batch dim may be symbolic.
 *
 * @example
 * flatten(x); // [batch, 16, 7, 7] -> [batch, 784]
 */
export function flatten(x: Tensor): Tensor;
export function flatten(): Layer;
export function flatten(x?: Tensor): Tensor | Layer {
  if (x === undefined) return (t: Tensor) => flatten(t);
  if (x.rank < 1) throw new ShapeError(`flatten: input ${x} must have rank >= 1`);
  x.shape.slice(1).forEach((_, i) => staticDim(x, i + 1, 'flatten'));
  return x.rank === 2 ? x : x.reshape([x.shape[0]!, -1]);
}

export interface DropoutOptions {
  /** Seed of this layer's random stream (default: derived from the graph seed). */
  seed?: number;
}

/**
 * Inverted dropout: while training (`run(..., { train: true })`) each element is zeroed
 * with probability `rate` and the rest scaled by `1 / (1 - rate)`, on the device from a
 * seeded counter-based stream; at evaluation it is the identity (the branch is folded away).
 *
 * @example
 * const h = dropout(dense(x, 256, { activation: 'relu' }), 0.2);
 */
export function dropout(x: Tensor, rate: number, options?: DropoutOptions): Tensor;
export function dropout(rate: number, options?: DropoutOptions): Layer;
export function dropout(a: Tensor | number, b?: number | DropoutOptions, c?: DropoutOptions): Tensor | Layer {
  if (!isTensor(a)) return (x: Tensor) => dropout(x, a, b as DropoutOptions | undefined);
  const o = parseOptions(z.object({ seed: z.number().int().optional() }).strict(), c, 'dropout');
  const rate = b as number;
  if (typeof rate !== 'number' || !(rate >= 0 && rate < 1)) throw new OptionsError(`dropout: rate must be in [0, 1), got ${String(rate)}`);
  return a.dropout(o.seed === undefined ? { rate } : { rate, seed: o.seed });
}

export interface EmbeddingOptions {
  /** Default `{ name: 'uniform', low: -0.05, high: 0.05 }`, as Keras. */
  init?: ParamInit;
  /** Layer name; the table is `<name>/embeddings` (default `embedding_<n>`). */
  name?: string;
}

/**
 * Looks up rows of a `[vocabSize, dim]` table: i32 ids of any shape -> `[...ids.shape, dim]`.
 * Ids outside `[0, vocabSize)` read zeros (and get no gradient).
 *
 * @example
 * const tokens = g.input('tokens', ['batch', 16], 'i32');
 * const e = embedding(tokens, 1000, 32); // [batch, 16, 32]
 */
export function embedding(ids: Tensor, vocabSize: number, dim: number, options?: EmbeddingOptions): Tensor;
export function embedding(vocabSize: number, dim: number, options?: EmbeddingOptions): Layer;
export function embedding(a: Tensor | number, b: number, c?: number | EmbeddingOptions, d?: EmbeddingOptions): Tensor | Layer {
  if (!isTensor(a)) return (ids: Tensor) => embedding(ids, a, b, c as EmbeddingOptions | undefined);
  const ids = a, vocab = b, dim = c as number;
  for (const [k, v] of [['vocabSize', vocab], ['dim', dim]] as const) {
    if (!Number.isInteger(v) || v <= 0) throw new OptionsError(`embedding: ${k} must be a positive integer, got ${String(v)}`);
  }
  if (ids.dtype !== 'i32') throw new OptionsError(`embedding: ids ${ids} must be i32`);
  const o = parseOptions(z.object({ init: initSchema.default({ name: 'uniform', low: -0.05, high: 0.05 }), name: nameSchema }).strict(), d, 'embedding');
  const g = ids.graph;
  const name = layerName(g, 'embedding', o.name);
  const table = g.param(`${name}/embeddings`, [vocab, dim], { init: o.init });
  return table.gather(ids, { axis: 0 });
}

/**
 * An activation as a layer (for `sequential`).
 *
 * @example
 * sequential([conv2d(16, { kernel: 3 }), batchNorm(), activationLayer('relu')]);
 */
export function activationLayer(act: Activation): Layer {
  return (x: Tensor) => applyActivation(x, act);
}
