/**
 * Dense, flatten, dropout, embedding and activation layers. Each takes the input tensor
 * first and returns the output tensor; called without the tensor it returns a {@link Layer}
 * object that owns its params (for `sequential([...])`, or to use one set of weights twice).
 */
import { type Graph, OptionsError, parseOptions, type ParamInit, ShapeError, type Tensor } from '@kiln/core';
import { z } from 'zod';
import { type Activation, activation as applyActivation } from './activations';
import { activationSchema, checkLayerInput, initSchema, isTensor, type Layer, nameSchema, ownedParams, staticDim } from './common';
import { check, tensor } from '../args';

/** Options of `dense`. */
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
 * @throws OptionsError for a units count that is not a positive integer, bad options or a non-Tensor input; ShapeError for a scalar input or one whose last dim differs from the kernel's.
 * @example
 * const h = dense(x, 128, { activation: 'relu' });   // params dense_1/kernel, dense_1/bias
 * const logits = dense(h, 10);
 * sequential([dense(128, { activation: 'relu' }), dense(10)])(x); // the same, as layers
 * const cell = dense(64);            // a layer object: one kernel and bias,
 * const h2 = cell(cell(x));          // used twice (needs 64 input features the second time too)
 */
export function dense(x: Tensor, units: number, options?: DenseOptions): Tensor;
export function dense(units: number, options?: DenseOptions): Layer;
export function dense(a: Tensor | number, b?: number | DenseOptions, c?: DenseOptions): Tensor | Layer {
  checkLayerInput('dense', 'x', a, b);
  if (isTensor(a)) return dense(b as number, c)(a);
  const units = a;
  if (!Number.isInteger(units) || units <= 0) throw new OptionsError(`dense: units must be a positive integer, got ${String(units)}`);
  const o = parseOptions(denseSchema, b as DenseOptions | undefined, 'dense');
  const own = ownedParams<{ kernel: Tensor; bias?: Tensor }>('dense', o.name);
  return (x: Tensor) => {
    if (!isTensor(x)) throw new OptionsError(`dense: expected a Tensor, got ${typeof x}`);
    if (x.rank < 1) throw new ShapeError(`dense: input ${x} must have rank >= 1`);
    const inFeatures = staticDim(x, -1, 'dense');
    const g = x.graph;
    const p = own(g, `${inFeatures} input features`, (name) => ({
      kernel: g.param(`${name}/kernel`, [inFeatures, units], { init: o.kernelInit }),
      ...(o.useBias ? { bias: g.param(`${name}/bias`, [units], { init: o.biasInit }) } : {}),
    }));
    let y = x.rank === 1 ? x.expandDims(0).matmul(p.kernel).reshape([units]) : x.matmul(p.kernel);
    if (p.bias) y = y.add(p.bias);
    return applyActivation(y, o.activation);
  };
}

/**
 * `[batch, d1, d2, ...]` -> `[batch, d1 * d2 * ...]`; the batch dim may be symbolic.
 *
 * @throws ShapeError for a scalar input.
 * @example
 * flatten(x); // [batch, 16, 7, 7] -> [batch, 784]
 */
export function flatten(x: Tensor): Tensor;
export function flatten(): Layer;
export function flatten(x?: Tensor): Tensor | Layer {
  if (x !== undefined) check('flatten', [tensor('x')], [x]);
  if (x === undefined) return (t: Tensor) => flatten(t);
  if (x.rank < 1) throw new ShapeError(`flatten: input ${x} must have rank >= 1`);
  x.shape.slice(1).forEach((_, i) => staticDim(x, i + 1, 'flatten'));
  return x.rank === 2 ? x : x.reshape([x.shape[0]!, -1]);
}

/** Options of the `dropout` layer. */
export interface DropoutOptions {
  /** Seed of this layer's random stream (default: derived from the graph seed). */
  seed?: number;
}

/**
 * Inverted dropout: while training (`run(..., { train: true })`) each element is zeroed
 * with probability `rate` and the rest scaled by `1 / (1 - rate)`, on the device from a
 * seeded counter-based stream; at evaluation it is the identity (the branch is folded away).
 *
 * @throws OptionsError unless 0 <= rate < 1, or for bad options.
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

/**
 * An embedding layer object: call it on ids; `attend(h)` multiplies by the transposed table
 * (`[..., dim]` -> `[..., vocabSize]`), the output projection of a language model whose
 * weights are tied to its input embedding (Press & Wolf 2017; Flax's `Embed.attend`).
 */
export interface EmbeddingLayer extends Layer {
  /** Logits over the vocabulary: x [..., dim] times the transposed table -> [..., vocab]. */
  attend(x: Tensor): Tensor;
  /** The `[vocabSize, dim]` table in graph `g` (made if this layer has not run there yet). */
  table(g: Graph): Tensor;
}

/** Options of `embedding`. */
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
 * @throws OptionsError for non-i32 ids or sizes that are not positive integers.
 * @example
 * const tokens = g.input('tokens', ['batch', 16], 'i32');
 * const e = embedding(tokens, 1000, 32); // [batch, 16, 32]
 * const emb = embedding(1000, 32);       // a layer object: tie the output projection to it
 * const logits = emb.attend(transformer(emb(tokens))); // [batch, 16, 1000]
 */
export function embedding(ids: Tensor, vocabSize: number, dim: number, options?: EmbeddingOptions): Tensor;
export function embedding(vocabSize: number, dim: number, options?: EmbeddingOptions): EmbeddingLayer;
export function embedding(a: Tensor | number, b: number, c?: number | EmbeddingOptions, d?: EmbeddingOptions): Tensor | EmbeddingLayer {
  checkLayerInput('embedding', 'ids', a, b);
  if (isTensor(a)) return embedding(b, c as number, d)(a);
  const vocab = a, dim = b;
  for (const [k, v] of [['vocabSize', vocab], ['dim', dim]] as const) {
    if (!Number.isInteger(v) || v <= 0) throw new OptionsError(`embedding: ${k} must be a positive integer, got ${String(v)}`);
  }
  const o = parseOptions(z.object({ init: initSchema.default({ name: 'uniform', low: -0.05, high: 0.05 }), name: nameSchema }).strict(), c as EmbeddingOptions | undefined, 'embedding');
  const own = ownedParams<Tensor>('embedding', o.name);
  const table = (g: Graph) => own(g, `[${vocab}, ${dim}]`, (name) => g.param(`${name}/embeddings`, [vocab, dim], { init: o.init }));
  const layer = (ids: Tensor) => {
    if (!isTensor(ids)) throw new OptionsError(`embedding: expected a Tensor of i32 ids, got ${typeof ids}`);
    if (ids.dtype !== 'i32') throw new OptionsError(`embedding: ids ${ids} must be i32`);
    return table(ids.graph).gather(ids, { axis: 0 });
  };
  const attend = (x: Tensor) => {
    if (!isTensor(x)) throw new OptionsError(`embedding.attend: expected a Tensor, got ${typeof x}`);
    if (x.rank < 1 || x.shape[x.rank - 1] !== dim) throw new ShapeError(`embedding.attend: input ${x} must end in the embedding dim ${dim}`);
    const t = table(x.graph);
    return x.rank === 1 ? x.expandDims(0).matmul(t, { transposeB: true }).reshape([vocab]) : x.matmul(t, { transposeB: true });
  };
  return Object.assign(layer, { attend, table });
}

/**
 * An activation as a layer (for `sequential`).
 *
 * @throws OptionsError for an unknown activation name (when the layer is called).
 * @example
 * sequential([conv2d(16, { kernel: 3 }), batchNorm(), activationLayer('relu')]);
 */
export function activationLayer(act: Activation): Layer {
  return (x: Tensor) => applyActivation(x, act);
}
