/**
 * The MNIST models, shared by the command-line example (main.ts) and the browser demo
 * (examples/demo): an MLP (784-256-10 with dropout) or a small CNN, trained with Adam on
 * softmax cross-entropy, reporting accuracy.
 *
 *   const model = await mnistModel('mlp', { lr: 1e-3, seed: 1, compile: (g) => compile(g, { backend: 'auto' }) });
 */
import { buildModel, type BuildModelOptions, type Model, nn, optim, type Tensor } from 'kiln';

const { conv2d, dense, dropout, flatten, maxPool2d, sequential, softmaxCrossEntropy, accuracy } = nn;

export type ModelKind = 'mlp' | 'cnn';

function network(kind: ModelKind, x: Tensor): Tensor {
  if (kind === 'mlp') {
    return sequential([dense(256, { activation: 'relu' }), dropout(0.2), dense(10)])(x);
  }
  return sequential([
    conv2d(16, { kernel: 3, padding: 'same', activation: 'relu' }), maxPool2d(), // [b, 16, 14, 14]
    conv2d(32, { kernel: 3, padding: 'same', activation: 'relu' }), maxPool2d(), // [b, 32, 7, 7]
    flatten(), dense(128, { activation: 'relu' }), dropout(0.25), dense(10),
  ])(x);
}

/**
 * The MNIST model of `kind`, compiled: input `x` [batch, 784] (mlp) or [batch, 1, 28, 28]
 * (cnn) of pixels in [0, 1], labels `y` [batch] i32, output the 10 logits, metric `accuracy`.
 *
 * @example
 * const model = await mnistModel('cnn', { lr: 1e-3, seed: 1, compile: (g) => compile(g, { backend: 'cpu' }) });
 * await fit(model, train, { epochs: 1, batchSize: 64 });
 */
export function mnistModel(kind: ModelKind, options: BuildModelOptions & { lr: number }): Promise<Model> {
  return buildModel((g) => {
    const x = g.input('x', kind === 'mlp' ? ['batch', 784] : ['batch', 1, 28, 28]);
    const y = g.input('y', ['batch'], 'i32');
    const logits = network(kind, x);
    return {
      x, y, output: logits,
      loss: softmaxCrossEntropy(logits, y),
      metrics: { accuracy: accuracy(logits, y) },
      optimizer: optim.adam({ lr: options.lr }),
    };
  }, options);
}
