/**
 * Attention and Transformer layers, composites of matmul, softmax and the elementwise ops:
 * multiHeadAttention, transformerEncoderLayer, transformerDecoderLayer, and positional
 * information (sinePositionEncoding, positionEmbedding, rotaryEmbedding).
 *
 * Sequences are batch first, `[batch, seq, features]`. Masks follow PyTorch: a boolean `true`
 * marks what must NOT be attended (a padding key, a future position).
 */
import { concat, OptionsError, parseOptions, type ParamInit, ShapeError, type Tensor } from '@kiln/core';
import { z } from 'zod';
import { type Activation } from './activations';
import { dense, dropout as dropoutLayer } from './basic';
import { activationSchema, initSchema, isTensor, type Layer, nameSchema, ownedParams, staticDim } from './common';
import { layerNorm, rmsNorm } from './norm';

/** Run-time inputs of an attention call. */
export interface AttentionCall {
  /** Keys `[batch, seqK, features]` (default: the query, i.e. self-attention). */
  key?: Tensor;
  /** Values `[batch, seqK, features]` (default: the key). */
  value?: Tensor;
  /** Query position t attends only to key positions s <= t (default: the layer's `causal`). */
  causal?: boolean;
  /** `[batch, seqK]` bool, `true` for padding keys that no query attends to. */
  keyPaddingMask?: Tensor;
  /**
   * `[seqQ, seqK]` (or anything broadcastable to `[batch, heads, seqQ, seqK]`): bool, `true` where
   * attention is not allowed, or f32, added to the scores (PyTorch's `attn_mask`).
   */
  attnMask?: Tensor;
}

/** Options of `multiHeadAttention`: heads and their size, output size, dropout, causal masking, rotary positions, bias, initialiser, name. */
export interface MultiHeadAttentionOptions {
  numHeads: number;
  /** Size of each head's queries and keys (and values) (default: query features / numHeads). */
  headDim?: number;
  /** Output features (default: the query's features). */
  outputDim?: number;
  /** Dropout on the attention weights while training (default 0). */
  dropout?: number;
  /** Masks future key positions in every call (default false). */
  causal?: boolean;
  /** Rotate queries and keys by their positions (RoPE, Su et al. 2021) before the scores (default false). */
  rotary?: boolean;
  /** Default true. */
  useBias?: boolean;
  /** Default `'glorotUniform'` (PyTorch: xavier_uniform_ on the input projections). */
  kernelInit?: ParamInit;
  /** Params `<name>/{query,key,value,output}/{kernel,bias}` (default `multi_head_attention_<n>`). */
  name?: string;
}

const mhaSchema = z.object({
  numHeads: z.number().int().positive(),
  headDim: z.number().int().positive().optional(),
  outputDim: z.number().int().positive().optional(),
  dropout: z.number().min(0).lt(1).default(0),
  causal: z.boolean().default(false),
  rotary: z.boolean().default(false),
  useBias: z.boolean().default(true),
  kernelInit: initSchema.default('glorotUniform'),
  name: nameSchema,
}).strict();

const callSchema = z.object({
  key: z.custom<Tensor>(isTensor).optional(),
  value: z.custom<Tensor>(isTensor).optional(),
  causal: z.boolean().optional(),
  keyPaddingMask: z.custom<Tensor>(isTensor).optional(),
  attnMask: z.custom<Tensor>(isTensor).optional(),
}).strict();

/** An attention layer object: `mha(query)` for self-attention, `mha(query, { key, value })` for cross-attention. */
export interface AttentionLayer extends Layer {
  (query: Tensor, call?: AttentionCall): Tensor;
}

/** `[batch, seq, heads * d]` -> `[batch, heads, seq, d]`. */
const splitHeads = (t: Tensor, heads: number, d: number) => t.reshape([t.shape[0]!, t.shape[1]!, heads, d]).transpose([0, 2, 1, 3]);

/**
 * Multi-head scaled dot-product attention (Vaswani et al. 2017; PyTorch `nn.MultiheadAttention(batch_first=True)`):
 * `softmax(Q K' / sqrt(headDim) + masks) V` per head, heads concatenated and projected.
 * Query `[batch, seqQ, features]`, key and value `[batch, seqK, featuresK]` -> `[batch, seqQ, outputDim]`.
 * Kernels are `[in, out]` (as `dense`): from PyTorch, `query/kernel = in_proj_weight[0:E].T`,
 * `key/kernel = in_proj_weight[E:2E].T`, `value/kernel = in_proj_weight[2E:3E].T`, biases the
 * matching thirds of `in_proj_bias`, `output/kernel = out_proj.weight.T`, `output/bias = out_proj.bias`.
 * NOTE: a query row whose keys are all masked has no defined weights and comes out NaN, as in PyTorch.
 *
 * @throws ShapeError for ranks, static feature/sequence sizes or masks that do not fit;
 *   OptionsError for bad options (features not divisible by numHeads without headDim, an odd headDim with rotary).
 * @example
 * const mha = multiHeadAttention({ numHeads: 4, causal: true });
 * const y = mha(x, { keyPaddingMask: pad });          // [batch, T, d]
 * const z = multiHeadAttention(dec, { numHeads: 4, key: enc }); // cross-attention, functional form
 */
export function multiHeadAttention(query: Tensor, options: MultiHeadAttentionOptions & AttentionCall): Tensor;
export function multiHeadAttention(options: MultiHeadAttentionOptions): AttentionLayer;
export function multiHeadAttention(a: Tensor | MultiHeadAttentionOptions, b?: MultiHeadAttentionOptions & AttentionCall): Tensor | AttentionLayer {
  if (isTensor(a)) {
    const { key, value, causal, keyPaddingMask, attnMask, ...rest } = (b ?? {}) as MultiHeadAttentionOptions & AttentionCall;
    const call = Object.fromEntries(Object.entries({ key, value, causal, keyPaddingMask, attnMask }).filter(([, v]) => v !== undefined));
    return multiHeadAttention(rest as MultiHeadAttentionOptions)(a, call);
  }
  const o = parseOptions(mhaSchema, a, 'multiHeadAttention');
  type P = { q: Layer; k: Layer; v: Layer; out: Layer; headDim: number };
  const own = ownedParams<P>('multi_head_attention', o.name);
  return (query: Tensor, call: AttentionCall = {}): Tensor => {
    const c = parseOptions(callSchema, call, 'multiHeadAttention call');
    const key = c.key ?? query, value = c.value ?? key;
    for (const [k, t] of [['query', query], ['key', key], ['value', value]] as const) {
      if (!isTensor(t) || t.rank !== 3 || t.dtype !== 'f32') throw new ShapeError(`multiHeadAttention: ${k} ${String(t)} must be f32 [batch, seq, features]`);
      if (t.graph !== query.graph) throw new OptionsError(`multiHeadAttention: ${k} ${t} belongs to another graph`);
    }
    const e = staticDim(query, 2, 'multiHeadAttention'), ek = staticDim(key, 2, 'multiHeadAttention'), ev = staticDim(value, 2, 'multiHeadAttention');
    if (key.shape[1] !== value.shape[1]) throw new ShapeError(`multiHeadAttention: key ${key} and value ${value} need the same sequence length`);
    const g = query.graph;
    const p = own(g, `query ${e}, key ${ek}, value ${ev} features`, (name) => {
      if (o.headDim === undefined && e % o.numHeads) throw new OptionsError(`multiHeadAttention: query features ${e} are not divisible by numHeads ${o.numHeads}; give headDim`);
      const headDim = o.headDim ?? e / o.numHeads;
      if (o.rotary && headDim % 2) throw new OptionsError(`multiHeadAttention: rotary needs an even headDim, got ${headDim}`);
      const proj = (k: string, units: number) => dense(units, { useBias: o.useBias, kernelInit: o.kernelInit, name: `${name}/${k}` });
      const inner = o.numHeads * headDim;
      return { q: proj('query', inner), k: proj('key', inner), v: proj('value', inner), out: proj('output', o.outputDim ?? e), headDim };
    });
    const h = o.numHeads, d = p.headDim;
    let q = splitHeads(p.q(query), h, d), k = splitHeads(p.k(key), h, d);
    const v = splitHeads(p.v(value), h, d);
    if (o.rotary) { q = rotaryEmbedding(q); k = rotaryEmbedding(k); }
    let scores = q.matmul(k, { transposeB: true }).mul(1 / Math.sqrt(d)); // [batch, heads, seqQ, seqK]
    const tq = staticDim(query, 1, 'multiHeadAttention'), tk = staticDim(key, 1, 'multiHeadAttention');
    if (c.causal ?? o.causal) {
      const rows = g.range(tq).reshape([tq, 1]), cols = g.range(tk).reshape([1, tk]);
      scores = cols.greater(rows).where(-Infinity, scores);
    }
    if (c.keyPaddingMask) {
      const m = c.keyPaddingMask;
      if (m.dtype !== 'bool' || m.rank !== 2 || m.shape[1] !== tk) throw new ShapeError(`multiHeadAttention: keyPaddingMask ${m} must be bool [batch, ${tk}]`);
      scores = m.reshape([m.shape[0]!, 1, 1, tk]).where(-Infinity, scores);
    }
    if (c.attnMask) {
      const m = c.attnMask;
      if (m.rank < 2 || m.rank > 4 || m.shape[m.rank - 1] !== tk || m.shape[m.rank - 2] !== tq) throw new ShapeError(`multiHeadAttention: attnMask ${m} must end in [${tq}, ${tk}]`);
      scores = m.dtype === 'bool' ? m.where(-Infinity, scores) : scores.add(m);
    }
    let weights = scores.softmax({ axis: -1 });
    if (o.dropout > 0) weights = dropoutLayer(weights, o.dropout);
    const heads = weights.matmul(v).transpose([0, 2, 1, 3]).reshape([query.shape[0]!, tq, h * d]);
    return p.out(heads);
  };
}

/** Options of `rotaryEmbedding`: the frequency base and the first row's position. */
export interface RotaryOptions {
  /** Default 10000. */
  base?: number;
  /** Position of the first row (default 0). */
  offset?: number;
}

/**
 * Rotary position embedding (RoPE; Su et al. 2021) in the "rotate half" pairing of GPT-NeoX and
 * LLaMA: feature i and i + d/2 of position p rotate by `p * base^(-2i/d)`. `x` is `[..., seq, d]`
 * with static seq and even d; the result has x's shape. Apply it to queries and keys (as
 * `multiHeadAttention({ rotary: true })` does), not to values.
 *
 * @throws ShapeError for a rank below 2, dynamic seq or d, or an odd d.
 * @example
 * const q = rotaryEmbedding(queries);                // [batch, heads, T, headDim]
 */
export function rotaryEmbedding(x: Tensor, options: RotaryOptions = {}): Tensor {
  const o = parseOptions(z.object({ base: z.number().positive().default(10000), offset: z.number().int().nonnegative().default(0) }).strict(), options, 'rotaryEmbedding');
  if (!isTensor(x) || x.rank < 2) throw new ShapeError(`rotaryEmbedding: input ${String(x)} must be [..., seq, d]`);
  const t = staticDim(x, -2, 'rotaryEmbedding'), d = staticDim(x, -1, 'rotaryEmbedding');
  if (d % 2) throw new ShapeError(`rotaryEmbedding: the last dim of ${x} must be even`);
  const half = d / 2;
  const cos: number[] = [], sin: number[] = [];
  for (let p = 0; p < t; p++) {
    for (let j = 0; j < d; j++) {
      const angle = (p + o.offset) * o.base ** (-(2 * (j % half)) / d);
      cos.push(Math.cos(angle));
      sin.push(Math.sin(angle));
    }
  }
  const g = x.graph;
  const [x1, x2] = x.split([half, half], -1) as [Tensor, Tensor];
  const rotated = concat([x2.neg(), x1], x.rank - 1);
  return x.mul(g.constant(cos, [t, d])).add(rotated.mul(g.constant(sin, [t, d])));
}

/**
 * The fixed sinusoidal encoding of Vaswani et al. (2017) for `x` `[..., seq, d]`: a constant
 * `[seq, d]` with `PE[p, 2i] = sin(p / 10000^(2i/d))`, `PE[p, 2i+1] = cos(p / 10000^(2i/d))`,
 * to add to the embeddings.
 *
 * @throws ShapeError for dynamic seq or d.
 * @example
 * const h = emb(tokens);  h = h.add(sinePositionEncoding(h));
 */
export function sinePositionEncoding(x: Tensor): Tensor {
  if (!isTensor(x) || x.rank < 2) throw new ShapeError(`sinePositionEncoding: input ${String(x)} must be [..., seq, d]`);
  const t = staticDim(x, -2, 'sinePositionEncoding'), d = staticDim(x, -1, 'sinePositionEncoding');
  const v: number[] = [];
  for (let p = 0; p < t; p++) {
    for (let j = 0; j < d; j++) {
      const angle = p / 10000 ** ((2 * Math.floor(j / 2)) / d);
      v.push(j % 2 ? Math.cos(angle) : Math.sin(angle));
    }
  }
  return x.graph.constant(v, [t, d]);
}

/** Options of `positionEmbedding`: the table's initialiser and param name. */
export interface PositionEmbeddingOptions {
  /** Default `{ name: 'normal', std: 0.02 }` (GPT-2). */
  init?: ParamInit;
  /** Param `<name>/embeddings` `[maxLength, d]` (default `position_embedding_<n>`). */
  name?: string;
}

/**
 * Learned absolute positions: a `[maxLength, d]` table whose first `seq` rows are returned for
 * `x` `[..., seq, d]`, to add to the embeddings (Keras-NLP `PositionEmbedding`, GPT-2's `wpe`).
 *
 * @throws ShapeError when seq is dynamic or longer than maxLength, or d does not match.
 * @example
 * const pos = positionEmbedding(256);
 * const h = e.add(pos(e));
 */
export function positionEmbedding(maxLength: number, options: PositionEmbeddingOptions = {}): Layer {
  if (!Number.isInteger(maxLength) || maxLength <= 0) throw new OptionsError(`positionEmbedding: maxLength must be a positive integer, got ${String(maxLength)}`);
  const o = parseOptions(z.object({ init: initSchema.default({ name: 'normal', std: 0.02 }), name: nameSchema }).strict(), options, 'positionEmbedding');
  const own = ownedParams<Tensor>('position_embedding', o.name);
  return (x: Tensor) => {
    if (!isTensor(x) || x.rank < 2) throw new ShapeError(`positionEmbedding: input ${String(x)} must be [..., seq, d]`);
    const t = staticDim(x, -2, 'positionEmbedding'), d = staticDim(x, -1, 'positionEmbedding');
    if (t > maxLength) throw new ShapeError(`positionEmbedding: sequence of ${t} is longer than maxLength ${maxLength}`);
    const table = own(x.graph, `${d} features`, (name) => x.graph.param(`${name}/embeddings`, [maxLength, d], { init: o.init }));
    return t === maxLength ? table : table.slice({ begin: [0, 0], size: [t, d] });
  };
}

/** Options of the Transformer encoder and decoder layers: heads, feed-forward size, dropout, activation, norm kind and placement, masking, rotary positions, name. */
export interface TransformerLayerOptions {
  numHeads: number;
  /** Hidden units of the feed-forward block (default 2048, as PyTorch). */
  dimFeedforward?: number;
  /** Dropout after attention and feed-forward blocks, inside the feed-forward block and on attention weights (default 0.1, as PyTorch). */
  dropout?: number;
  /** Feed-forward activation (default 'relu', as PyTorch). */
  activation?: Activation;
  /** Pre-norm `x + f(norm(x))` (true) or post-norm `norm(x + f(x))` (default false, as PyTorch's `norm_first`). */
  normFirst?: boolean;
  /** `'layer'` (default) or `'rms'`. */
  norm?: 'layer' | 'rms';
  /** Default 1e-5. */
  layerNormEps?: number;
  /** Self-attention masks future positions (default false for the encoder, true for the decoder). */
  causal?: boolean;
  /** Rotary positions in the self-attention (default false). */
  rotary?: boolean;
  /** Sub-layers `<name>/self_attention`, `<name>/cross_attention`, `<name>/linear1`, `<name>/linear2`, `<name>/norm1..3`. */
  name?: string;
}

const transformerSchema = z.object({
  numHeads: z.number().int().positive(),
  dimFeedforward: z.number().int().positive().default(2048),
  dropout: z.number().min(0).lt(1).default(0.1),
  activation: activationSchema.default('relu'),
  normFirst: z.boolean().default(false),
  norm: z.enum(['layer', 'rms']).default('layer'),
  layerNormEps: z.number().positive().default(1e-5),
  causal: z.boolean().optional(),
  rotary: z.boolean().default(false),
  name: nameSchema,
}).strict();

/** Masks of one Transformer call. */
export interface TransformerCall {
  /** `[batch, seq]` bool, `true` at padding positions of the input. */
  keyPaddingMask?: Tensor;
  /** Overrides the layer's `causal`. */
  causal?: boolean;
  /** As {@link AttentionCall.attnMask}, for the self-attention. */
  attnMask?: Tensor;
}

export interface TransformerDecoderCall extends TransformerCall {
  /** `[batch, seqMemory]` bool, `true` at padding positions of the memory. */
  memoryKeyPaddingMask?: Tensor;
}

export interface TransformerEncoderLayer extends Layer { (x: Tensor, call?: TransformerCall): Tensor }
/** A decoder layer object: call it on (x [B, T, D], memory [B, S, D]) for [B, T, D]. */
export interface TransformerDecoderLayer {
  /** x [B, T, D] attending to memory [B, S, D] -> [B, T, D]. */
  (x: Tensor, memory: Tensor, call?: TransformerDecoderCall): Tensor;
}

function transformerBlocks(kind: 'encoder' | 'decoder', options: TransformerLayerOptions) {
  const o = parseOptions(transformerSchema, options, `transformer${kind === 'encoder' ? 'Encoder' : 'Decoder'}Layer`);
  const own = ownedParams<{ self: AttentionLayer; cross?: AttentionLayer; ff: (x: Tensor) => Tensor; norms: Layer[] }>(`transformer_${kind}_layer`, o.name);
  const make = (x: Tensor) => own(x.graph, `${staticDim(x, -1, `transformer ${kind} layer`)} features`, (name) => {
    const d = staticDim(x, -1, `transformer ${kind} layer`);
    const attention = (k: string) => multiHeadAttention({ numHeads: o.numHeads, dropout: o.dropout, rotary: k === 'self_attention' && o.rotary, name: `${name}/${k}` });
    const lin1 = dense(o.dimFeedforward, { activation: o.activation, name: `${name}/linear1` }), lin2 = dense(d, { name: `${name}/linear2` });
    const norm = (k: number) => (o.norm === 'rms' ? rmsNorm({ epsilon: o.layerNormEps, name: `${name}/norm${k}` }) : layerNorm({ epsilon: o.layerNormEps, name: `${name}/norm${k}` }));
    const norms = kind === 'encoder' ? [norm(1), norm(2)] : [norm(1), norm(2), norm(3)];
    return {
      self: attention('self_attention'),
      ...(kind === 'decoder' ? { cross: attention('cross_attention') } : {}),
      ff: (h: Tensor) => lin2(drop(lin1(h))),
      norms,
    };
  });
  const drop = (t: Tensor) => (o.dropout > 0 ? dropoutLayer(t, o.dropout) : t);
  /** One residual block: pre-norm `x + drop(f(norm(x)))` or post-norm `norm(x + drop(f(x)))`. */
  const block = (x: Tensor, norm: Layer, f: (h: Tensor) => Tensor) => (o.normFirst ? x.add(drop(f(norm(x)))) : norm(x.add(drop(f(x)))));
  const check = (x: Tensor, what: string) => {
    if (!isTensor(x) || x.rank !== 3 || x.dtype !== 'f32') throw new ShapeError(`transformer ${kind} layer: ${what} ${String(x)} must be f32 [batch, seq, d]`);
  };
  return { o, make, block, check };
}

/**
 * A Transformer encoder layer (PyTorch `nn.TransformerEncoderLayer(batch_first=True)`):
 * self-attention then a feed-forward block `linear2(dropout(activation(linear1(x))))`, each
 * with a residual connection and a norm, post-norm by default or pre-norm with `normFirst`.
 * `[batch, seq, d]` -> `[batch, seq, d]`. From PyTorch: `self_attn` maps as
 * {@link multiHeadAttention}, `linearK/kernel = linearK.weight.T`, `normK/gamma = normK.weight`,
 * `normK/beta = normK.bias`.
 *
 * @throws ShapeError for an input that is not f32 `[batch, seq, d]` with static seq and d; OptionsError for bad options.
 * @example
 * const enc = transformerEncoderLayer({ numHeads: 4, dimFeedforward: 256, normFirst: true });
 * const h = enc(enc2(x), { keyPaddingMask: pad });
 */
export function transformerEncoderLayer(options: TransformerLayerOptions): TransformerEncoderLayer {
  const { o, make, block, check } = transformerBlocks('encoder', options);
  return (x: Tensor, call: TransformerCall = {}) => {
    check(x, 'input');
    const c = parseOptions(z.object({ keyPaddingMask: z.custom<Tensor>(isTensor).optional(), causal: z.boolean().optional(), attnMask: z.custom<Tensor>(isTensor).optional() }).strict(), call, 'transformerEncoderLayer call');
    const p = make(x);
    const masks = { causal: c.causal ?? o.causal ?? false, ...(c.keyPaddingMask ? { keyPaddingMask: c.keyPaddingMask } : {}), ...(c.attnMask ? { attnMask: c.attnMask } : {}) };
    const h = block(x, p.norms[0]!, (t) => p.self(t, masks));
    return block(h, p.norms[1]!, p.ff);
  };
}

/**
 * A Transformer decoder layer (PyTorch `nn.TransformerDecoderLayer(batch_first=True)`): causal
 * self-attention (by default), cross-attention over `memory` (the encoder's output), then the
 * feed-forward block, each residual with a norm (post-norm by default, pre-norm with `normFirst`).
 * `x` `[batch, seq, d]`, `memory` `[batch, seqMemory, d]` -> `[batch, seq, d]`.
 *
 * @throws ShapeError / OptionsError as {@link transformerEncoderLayer}.
 * @example
 * const dec = transformerDecoderLayer({ numHeads: 4, dimFeedforward: 256 });
 * const y = dec(targetEmbeddings, encoderOutput, { memoryKeyPaddingMask: srcPad });
 */
export function transformerDecoderLayer(options: TransformerLayerOptions): TransformerDecoderLayer {
  const { o, make, block, check } = transformerBlocks('decoder', options);
  return (x: Tensor, memory: Tensor, call: TransformerDecoderCall = {}) => {
    check(x, 'input');
    check(memory, 'memory');
    const c = parseOptions(z.object({ keyPaddingMask: z.custom<Tensor>(isTensor).optional(), memoryKeyPaddingMask: z.custom<Tensor>(isTensor).optional(), causal: z.boolean().optional(), attnMask: z.custom<Tensor>(isTensor).optional() }).strict(), call, 'transformerDecoderLayer call');
    const p = make(x);
    const masks = { causal: c.causal ?? o.causal ?? true, ...(c.keyPaddingMask ? { keyPaddingMask: c.keyPaddingMask } : {}), ...(c.attnMask ? { attnMask: c.attnMask } : {}) };
    let h = block(x, p.norms[0]!, (t) => p.self(t, masks));
    h = block(h, p.norms[1]!, (t) => p.cross!(t, { key: memory, ...(c.memoryKeyPaddingMask ? { keyPaddingMask: c.memoryKeyPaddingMask } : {}) }));
    return block(h, p.norms[2]!, p.ff);
  };
}
