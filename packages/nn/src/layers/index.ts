/**
 * Layers: functions that build graph nodes and the named, initialised params they need.
 *
 *   const x = g.input('x', ['batch', 1, 28, 28]);
 *   let h = conv2d(x, 16, { kernel: 3, padding: 'same', activation: 'relu' }); // conv2d_1/kernel, conv2d_1/bias
 *   h = maxPool2d(h);                                                             // [batch, 16, 14, 14]
 *   h = dropout(dense(flatten(h), 64, { activation: 'relu' }), 0.25);             // off at evaluation
 *   const logits = dense(h, 10);
 *
 * Called without the input tensor, each returns a `Layer` for `sequential`:
 *
 *   const logits = sequential([flatten(), dense(128, { activation: 'relu' }), dense(10)])(x);
 *
 * A layer object owns its params (Keras layers, PyTorch modules): the first call in a graph
 * makes them, later calls reuse them, and gradients sum over the calls:
 *
 *   const cell = dense(32, { activation: 'tanh' });
 *   let h = x; for (let t = 0; t < 4; t++) h = cell(h);   // one dense_1/kernel, used 4 times
 *
 * Layer names count per graph and kind (`dense_1`, `dense_2`) unless `name` is given; a
 * layer's params live under `<name>/`. `batchNorm` keeps running statistics as
 * non-trainable params updated on training runs only.
 */
export { ACTIVATIONS, activation, type Activation, type ActivationName } from './activations';
export { type Layer, ownedParams } from './common';
export { layerName } from './naming';
export { dense, flatten, dropout, embedding, activationLayer, type DenseOptions, type DropoutOptions, type EmbeddingLayer, type EmbeddingOptions } from './basic';
export { conv2d, maxPool2d, avgPool2d, globalAvgPool2d, type Conv2dOptions, type Pool2dOptions } from './conv';
export { batchNorm, layerNorm, rmsNorm, type BatchNormOptions, type LayerNormOptions, type RmsNormOptions } from './norm';
export { simpleRnn, lstm, gru, type RecurrentLayer, type RecurrentOptions, type RecurrentResult, type RecurrentState, type SimpleRnnOptions, type GruOptions } from './recurrent';
export {
  multiHeadAttention, transformerEncoderLayer, transformerDecoderLayer, rotaryEmbedding, sinePositionEncoding, positionEmbedding,
  type AttentionCall, type AttentionLayer, type MultiHeadAttentionOptions, type PositionEmbeddingOptions, type RotaryOptions,
  type TransformerCall, type TransformerDecoderCall, type TransformerDecoderLayer, type TransformerEncoderLayer, type TransformerLayerOptions,
} from './attention';
export { sequential, paramCount } from './sequential';
