/** Activations by name, as Keras spells them, or any `(x) => Tensor` function. */
import { OptionsError, type Tensor } from '@kiln/core';

/** The named activations (f32 -> f32, same shape), as `activation: 'relu'` options name them. */
export const ACTIVATIONS = {
  /** x unchanged. */
  linear: (x: Tensor) => x,
  /** max(x, 0). */
  relu: (x: Tensor) => x.relu(),
  /** min(max(x, 0), 6). */
  relu6: (x: Tensor) => x.relu().minimum(6),
  /** x, or 0.2 x below 0. */
  leakyRelu: (x: Tensor) => x.leakyRelu(0.2),
  /** x, or e^x - 1 below 0. */
  elu: (x: Tensor) => x.elu(1),
  /** Self-normalising ELU (Klambauer et al. 2017). */
  selu: (x: Tensor) => x.elu(1.6732632423543772).mul(1.0507009873554805),
  /** x * Phi(x), exact. */
  gelu: (x: Tensor) => x.gelu(),
  /** 1 / (1 + e^-x). */
  sigmoid: (x: Tensor) => x.sigmoid(),
  /** tanh(x). */
  tanh: (x: Tensor) => x.tanh(),
  /** log(1 + e^x). */
  softplus: (x: Tensor) => x.softplus(),
  /** Softmax over the last axis. */
  softmax: (x: Tensor) => x.softmax({ axis: -1 }),
  /** Log-softmax over the last axis. */
  logSoftmax: (x: Tensor) => x.logSoftmax({ axis: -1 }),
  /** x * sigmoid(x) (swish). */
  silu: (x: Tensor) => x.mul(x.sigmoid()),
} satisfies Record<string, (x: Tensor) => Tensor>;

export type ActivationName = keyof typeof ACTIVATIONS;
export type Activation = ActivationName | ((x: Tensor) => Tensor);

/**
 * Apply an activation given by name or function; `undefined` is the identity.
 *
 * @example
 * activation(x.matmul(w), 'relu');
 */
export function activation(x: Tensor, act: Activation | undefined): Tensor {
  if (act === undefined) return x;
  if (typeof act === 'function') return act(x);
  const f = (ACTIVATIONS as Record<string, (x: Tensor) => Tensor>)[act];
  if (!f || !Object.hasOwn(ACTIVATIONS, act)) throw new OptionsError(`unknown activation '${String(act)}' (known: ${Object.keys(ACTIVATIONS).join(', ')})`);
  return f(x);
}
