/** Activations by name, as Keras spells them, or any `(x) => Tensor` function. */
import { OptionsError, type Tensor } from '@kiln/core';

export const ACTIVATIONS = {
  linear: (x: Tensor) => x,
  relu: (x: Tensor) => x.relu(),
  relu6: (x: Tensor) => x.relu().minimum(6),
  leakyRelu: (x: Tensor) => x.leakyRelu(0.2),
  elu: (x: Tensor) => x.elu(1),
  selu: (x: Tensor) => x.elu(1.6732632423543772).mul(1.0507009873554805),
  gelu: (x: Tensor) => x.gelu(),
  sigmoid: (x: Tensor) => x.sigmoid(),
  tanh: (x: Tensor) => x.tanh(),
  softplus: (x: Tensor) => x.softplus(),
  softmax: (x: Tensor) => x.softmax({ axis: -1 }),
  logSoftmax: (x: Tensor) => x.logSoftmax({ axis: -1 }),
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
