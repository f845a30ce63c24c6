/**
 * TensorFlow.js engines: one per backend (`cpu`, `wasm`, `webgpu`), all sharing the one
 * tfjs-core instance in the process. tfjs has a single global active backend, so every case
 * switches to its engine's backend when it is built; the harness runs a case's warm-up and
 * timed iterations back to back, so nothing switches backends in between.
 *
 * Initialisation in Node:
 * - `cpu`: importing `@tensorflow/tfjs-backend-cpu` registers it. Plain JavaScript, one thread.
 * - `wasm`: importing `@tensorflow/tfjs-backend-wasm` registers it; `setWasmPaths()` must point
 *   at its `dist/` folder (a plain filesystem path ending in `/`; Emscripten reads it with
 *   fs.readFileSync) before the backend initialises. tfjs forces WASM_HAS_MULTITHREAD_SUPPORT
 *   off under Node (tfjs issue #3830); forcing it on fails because the threaded build spawns its
 *   workers from Blob URLs, which Node's worker_threads cannot load. So Node gets the SIMD
 *   build (XNNPACK) on one thread.
 * - `webgpu`: `@tensorflow/tfjs-backend-webgpu` registers itself only if `navigator.gpu` exists
 *   when the module is evaluated, so it is imported dynamically after {@link installWebGpu} has
 *   put Dawn's `GPU` on `navigator` and the `GPU*` classes on globalThis. No other shim is
 *   needed: tfjs requests the adapter, reads `adapter.info`, and asks for `timestamp-query` only
 *   when the adapter offers it.
 *
 * Waiting for completion: every case ends with `await t.data()` on a one-element slice of its
 * output (the scalar loss for a train step). On webgpu, data() submits tfjs's deferred command
 * batch and maps a staging buffer, which resolves only after all previously submitted work; on
 * cpu and wasm the kernels already ran synchronously, so the read costs next to nothing.
 *
 * Training needs tfjs-core's gradient registrations, which its Node bundle lacks; see
 * ./tfjs-gradients.ts.
 *
 * Models use `tf.fused.matMul` / `tf.fused.conv2d` with bias and relu folded in, as tfjs-layers
 * does, so this is TF.js at its best without pulling tfjs-layers in. Layout is NHWC (TF.js's
 * native layout for conv2d and pooling).
 */
import { createRequire } from 'node:module';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import { getThreadsCount, setWasmPaths } from '@tensorflow/tfjs-backend-wasm';
import { installWebGpu } from '../gpu';
import { registerTfjsGradients } from './tfjs-gradients';
import {
  ADAM,
  CNN_SPEC,
  LSTM_SPEC,
  MLP_SPEC,
  TRANSFORMER_SPEC,
  type Case,
  type Conv2dParams,
  type Engine,
  conv2dFlops,
  conv2dOutSize,
  lstmTrainFlops,
  matmulFlops,
  randomData,
  randomLabels,
  transformerTrainFlops,
} from './types';

/** The tfjs-core namespace these engines use (test/ cannot resolve @tensorflow/* itself). */
export { tf };

export type TfjsBackend = 'cpu' | 'wasm' | 'webgpu';
export const TFJS_BACKENDS: readonly TfjsBackend[] = ['cpu', 'wasm', 'webgpu'];

const require = createRequire(import.meta.url);

/** The folder holding tfjs-backend-wasm's three .wasm binaries, with a trailing separator. */
export function wasmBinaryDir(): string {
  return path.dirname(require.resolve('@tensorflow/tfjs-backend-wasm/dist/tfjs-backend-wasm.wasm')) + path.sep;
}

const prepared: Partial<Record<TfjsBackend, Promise<void>>> = {};

/** Does, once per backend, what must happen before `tf.setBackend(name)` can succeed. */
export function prepareTfjsBackend(backend: TfjsBackend): Promise<void> {
  prepared[backend] ??= (async () => {
    // Silences the "install tfjs-node" banner and other console warnings.
    tf.enableProdMode();
    if (backend === 'wasm') setWasmPaths(wasmBinaryDir());
    if (backend === 'webgpu') {
      await installWebGpu();
      await import('@tensorflow/tfjs-backend-webgpu');
    }
  })();
  return prepared[backend]!;
}

/** Waits until `t` has been computed by reading back one element of it. */
async function fence(t: tf.Tensor): Promise<void> {
  const one = tf.tidy(() => tf.slice(tf.reshape(t, [-1]), [0], [1]));
  await one.data();
  one.dispose();
}

function glorot(shape: number[], fanIn: number, fanOut: number, seed: number): tf.Variable {
  const limit = Math.sqrt(6 / (fanIn + fanOut));
  const size = shape.reduce((a, b) => a * b, 1);
  const values = randomData(size, seed).map((v) => v * limit);
  return tf.variable(tf.tensor(values, shape), true);
}

function zerosVar(shape: number[]): tf.Variable {
  return tf.variable(tf.zeros(shape), true);
}

export interface TfjsModel {
  vars: tf.Variable[];
  forward(x: tf.Tensor): tf.Tensor;
  inputShape(batch: number): number[];
  /**
   * How the output is trained: softmax cross-entropy on one-hot labels of this many classes
   * (default MLP_SPEC.classes), or, with `regression`, mean squared error against a fixed
   * random target of the output's shape.
   */
  loss?: { regression: true } | { classes: number };
}

/** MLP_SPEC as tfjs variables and a forward function (exported for tests). */
export function buildMlp(): TfjsModel {
  const { input, hidden, classes } = MLP_SPEC;
  const w1 = glorot([input, hidden], input, hidden, 11);
  const b1 = zerosVar([hidden]);
  const w2 = glorot([hidden, classes], hidden, classes, 12);
  const b2 = zerosVar([classes]);
  return {
    vars: [w1, b1, w2, b2],
    inputShape: (batch) => [batch, input],
    forward: (x) => {
      const h = tf.fused.matMul({ a: x as tf.Tensor2D, b: w1, bias: b1, activation: 'relu' });
      return tf.fused.matMul({ a: h, b: w2, bias: b2 });
    },
  };
}

/** CNN_SPEC as tfjs variables and a forward function, NHWC (exported for tests). */
export function buildCnn(): TfjsModel {
  const s = CNN_SPEC;
  const k = s.kernel;
  const flat = (s.height / 4) * (s.width / 4) * s.conv2;
  const c1 = glorot([k, k, s.channels, s.conv1], k * k * s.channels, k * k * s.conv1, 21);
  const c1b = zerosVar([s.conv1]);
  const c2 = glorot([k, k, s.conv1, s.conv2], k * k * s.conv1, k * k * s.conv2, 22);
  const c2b = zerosVar([s.conv2]);
  const d1 = glorot([flat, s.dense], flat, s.dense, 23);
  const d1b = zerosVar([s.dense]);
  const d2 = glorot([s.dense, s.classes], s.dense, s.classes, 24);
  const d2b = zerosVar([s.classes]);
  const pad = k >> 1;
  return {
    vars: [c1, c1b, c2, c2b, d1, d1b, d2, d2b],
    inputShape: (batch) => [batch, s.height, s.width, s.channels],
    forward: (x) => {
      let h: tf.Tensor4D = tf.fused.conv2d({ x: x as tf.Tensor4D, filter: c1 as tf.Tensor4D, strides: 1, pad, bias: c1b, activation: 'relu' });
      h = tf.maxPool(h, 2, 2, 'valid');
      h = tf.fused.conv2d({ x: h, filter: c2 as tf.Tensor4D, strides: 1, pad, bias: c2b, activation: 'relu' });
      h = tf.maxPool(h, 2, 2, 'valid');
      const f = tf.fused.matMul({ a: tf.reshape(h, [-1, flat]) as tf.Tensor2D, b: d1 as tf.Tensor2D, bias: d1b, activation: 'relu' });
      return tf.fused.matMul({ a: f, b: d2 as tf.Tensor2D, bias: d2b });
    },
  };
}

/**
 * LSTM_SPEC as tf.layers.lstm computes it (tfjs-layers' RNN and LSTMCell.call, with ops from
 * tfjs-core: tfjs-layers is not a dependency of the bench): the input unstacked along time, and
 * per step `z = x_t kernel + h recurrentKernel + bias`, split into i f c o, `c = f c + i tanh(zc)`,
 * `h = o tanh(c)`; the last h to logits. NOTE: tf.layers.lstm's default recurrentActivation is
 * hardSigmoid; sigmoid here, as Kiln (and PyTorch, ONNX) compute. Exported for tests.
 */
export function buildLstm(): TfjsModel {
  const { time, features, hidden, classes } = LSTM_SPEC;
  const kernel = glorot([features, 4 * hidden], features, 4 * hidden, 31);
  const recurrent = glorot([hidden, 4 * hidden], hidden, 4 * hidden, 32);
  const bias = zerosVar([4 * hidden]);
  const dense = glorot([hidden, classes], hidden, classes, 33);
  const denseBias = zerosVar([classes]);
  return {
    vars: [kernel, recurrent, bias, dense, denseBias],
    inputShape: (batch) => [batch, time, features],
    loss: { classes },
    forward: (x) => {
      const batch = x.shape[0]!;
      let h: tf.Tensor2D = tf.zeros([batch, hidden]);
      let c: tf.Tensor2D = tf.zeros([batch, hidden]);
      for (const xt of tf.unstack(x, 1) as tf.Tensor2D[]) {
        const z = tf.add(tf.add(tf.matMul(xt, kernel as tf.Tensor2D), tf.matMul(h, recurrent as tf.Tensor2D)), bias) as tf.Tensor2D;
        const [zi, zf, zc, zo] = tf.split(z, 4, 1) as [tf.Tensor2D, tf.Tensor2D, tf.Tensor2D, tf.Tensor2D];
        c = tf.add(tf.mul(tf.sigmoid(zf), c), tf.mul(tf.sigmoid(zi), tf.tanh(zc)));
        h = tf.mul(tf.sigmoid(zo), tf.tanh(c));
      }
      return tf.fused.matMul({ a: h, b: dense as tf.Tensor2D, bias: denseBias });
    },
  };
}

/**
 * TRANSFORMER_SPEC's pre-norm block built from tfjs-core ops (TF.js has no attention layer):
 * layer norm from tf.moments, q/k/v/output projections as fused matMuls on `[batch * seq, d]`,
 * heads by reshape and transpose, `softmax(q k' / sqrt(dh)) v` by batched matMul. Exported for tests.
 */
export function buildTransformer(): TfjsModel {
  const { seq, dModel: d, heads, ff } = TRANSFORMER_SPEC;
  const dh = d / heads;
  const proj = (inputs: number, outputs: number, seed: number) => [glorot([inputs, outputs], inputs, outputs, seed), zerosVar([outputs])] as const;
  const [wq, bq] = proj(d, d, 41), [wk, bk] = proj(d, d, 42), [wv, bv] = proj(d, d, 43), [wo, bo] = proj(d, d, 44);
  const [w1, b1] = proj(d, ff, 45), [w2, b2] = proj(ff, d, 46);
  const norms = [0, 1].map(() => [tf.variable(tf.ones([d]), true), zerosVar([d])] as const);
  const layerNorm = (t: tf.Tensor, [gamma, beta]: readonly [tf.Variable, tf.Variable]): tf.Tensor => {
    const { mean, variance } = tf.moments(t, -1, true);
    return tf.add(tf.mul(tf.mul(tf.sub(t, mean), tf.rsqrt(tf.add(variance, 1e-5))), gamma), beta);
  };
  const linear = (t: tf.Tensor, w: tf.Variable, b: tf.Variable, activation?: 'relu'): tf.Tensor =>
    tf.fused.matMul({ a: t as tf.Tensor2D, b: w as tf.Tensor2D, bias: b, ...(activation ? { activation } : {}) }) as tf.Tensor;
  return {
    vars: [wq, bq, wk, bk, wv, bv, wo, bo, w1, b1, w2, b2, ...norms.flat()],
    inputShape: (batch) => [batch, seq, d],
    loss: { regression: true },
    forward: (x) => {
      const batch = x.shape[0]!;
      const rows = tf.reshape(x, [batch * seq, d]);
      const split = (t: tf.Tensor) => tf.transpose(tf.reshape(t, [batch, seq, heads, dh]), [0, 2, 1, 3]);
      const h = layerNorm(rows, norms[0]!);
      const q = split(linear(h, wq, bq)), k = split(linear(h, wk, bk)), v = split(linear(h, wv, bv));
      const weights = tf.softmax(tf.mul(tf.matMul(q, k, false, true), 1 / Math.sqrt(dh)), -1);
      const merged = tf.reshape(tf.transpose(tf.matMul(weights, v), [0, 2, 1, 3]), [batch * seq, d]);
      const h1 = tf.add(rows, linear(merged, wo, bo));
      const y = tf.add(h1, linear(linear(layerNorm(h1, norms[1]!), w1, b1, 'relu'), w2, b2));
      return tf.reshape(y, [batch, seq, d]);
    },
  };
}

export class TfjsEngine implements Engine {
  readonly name = 'tfjs' as const;

  constructor(readonly backend: TfjsBackend) {}

  async available(): Promise<boolean | string> {
    try {
      await prepareTfjsBackend(this.backend);
      if (!tf.findBackendFactory(this.backend)) return `tfjs backend '${this.backend}' is not registered`;
      if (!(await tf.setBackend(this.backend))) return `tfjs backend '${this.backend}' failed to initialise`;
      return true;
    } catch (error) {
      return `tfjs backend '${this.backend}': ${(error as Error).message ?? String(error)}`;
    }
  }

  async info(): Promise<Record<string, unknown>> {
    await this.use();
    const info: Record<string, unknown> = {
      version: tf.version_core,
      layout: 'NHWC',
      completion: 'await data() of a 1-element slice of the output (the scalar loss for train steps)',
    };
    if (this.backend === 'wasm') {
      info.simd = await tf.env().getAsync('WASM_HAS_SIMD_SUPPORT');
      info.threads = getThreadsCount();
    }
    if (this.backend === 'webgpu') {
      const backend = tf.backend() as unknown as { adapterInfo?: object; supportTimestampQuery?: boolean };
      info.adapterInfo = backend.adapterInfo;
      info.timestampQuery = backend.supportTimestampQuery;
      info.deferredSubmitBatchSize = tf.env().get('WEBGPU_DEFERRED_SUBMIT_BATCH_SIZE');
      info.cpuForward = tf.env().get('WEBGPU_CPU_FORWARD');
    }
    return info;
  }

  /** Makes this engine's backend the active one. */
  private async use(): Promise<void> {
    if (tf.getBackend() !== this.backend && !(await tf.setBackend(this.backend))) {
      throw new Error(`tfjs backend '${this.backend}' failed to initialise`);
    }
  }

  /** A case computing `compute(inputs)` each iteration and waiting for the result. */
  private async tensorCase(inputs: tf.Tensor[], compute: () => tf.Tensor, extra: Pick<Case, 'flops' | 'bytes'>): Promise<Case> {
    return {
      ...extra,
      run: async () => {
        const out = tf.tidy(compute);
        await fence(out);
        out.dispose();
      },
      dispose: () => tf.dispose(inputs),
    };
  }

  async matmul(m: number, k: number, n: number): Promise<Case> {
    await this.use();
    const a = tf.tensor2d(randomData(m * k, 1), [m, k]);
    const b = tf.tensor2d(randomData(k * n, 2), [k, n]);
    return this.tensorCase([a, b], () => tf.matMul(a, b), { flops: matmulFlops(m, k, n), bytes: 4 * (m * k + k * n + m * n) });
  }

  async elementwiseChain(n: number): Promise<Case> {
    await this.use();
    const x = tf.tensor1d(randomData(n, 3));
    const two = tf.scalar(2);
    const one = tf.scalar(1);
    const minusHalf = tf.scalar(-0.5);
    return this.tensorCase([x, two, one, minusHalf], () => tf.exp(tf.mul(tf.relu(tf.add(tf.mul(x, two), one)), minusHalf)), {
      flops: 5 * n,
      bytes: 8 * n,
    });
  }

  async reduceSum(rows: number, cols: number): Promise<Case> {
    await this.use();
    const x = tf.tensor2d(randomData(rows * cols, 4), [rows, cols]);
    return this.tensorCase([x], () => tf.sum(x, -1), { flops: rows * cols, bytes: 4 * (rows * cols + rows) });
  }

  async softmax(rows: number, cols: number): Promise<Case> {
    await this.use();
    const x = tf.tensor2d(randomData(rows * cols, 5), [rows, cols]);
    return this.tensorCase([x], () => tf.softmax(x, -1), { bytes: 8 * rows * cols });
  }

  async conv2d(p: Conv2dParams): Promise<Case> {
    await this.use();
    const { outHeight, outWidth } = conv2dOutSize(p);
    const x = tf.tensor4d(randomData(p.batch * p.height * p.width * p.inChannels, 6), [p.batch, p.height, p.width, p.inChannels]);
    const w = tf.tensor4d(randomData(p.kernel * p.kernel * p.inChannels * p.outChannels, 7), [p.kernel, p.kernel, p.inChannels, p.outChannels]);
    return this.tensorCase([x, w], () => tf.conv2d(x, w, p.stride, p.padding), {
      flops: conv2dFlops(p),
      bytes: 4 * (x.size + w.size + p.batch * outHeight * outWidth * p.outChannels),
    });
  }

  private async trainCase(model: TfjsModel, batch: number, flops?: number): Promise<Case> {
    registerTfjsGradients();
    const size = (shape: number[]) => shape.reduce((a, b) => a * b, 1);
    const x = tf.tensor(randomData(size(model.inputShape(batch)), 8), model.inputShape(batch));
    const loss = model.loss ?? { classes: MLP_SPEC.classes };
    // A regression target has the output's shape, which the input's shape is for the models here.
    const y = 'classes' in loss
      ? tf.tidy(() => tf.cast(tf.oneHot(tf.tensor1d(randomLabels(batch, loss.classes), 'int32'), loss.classes), 'float32'))
      : tf.tensor(randomData(size(model.inputShape(batch)), 9), model.inputShape(batch));
    const optimizer = tf.train.adam(ADAM.lr, ADAM.beta1, ADAM.beta2, ADAM.epsilon);
    const lossFn = (): tf.Scalar => ('classes' in loss ? tf.losses.softmaxCrossEntropy(y, model.forward(x)) : tf.losses.meanSquaredError(y, model.forward(x))) as tf.Scalar;
    return {
      ...(flops ? { flops } : {}),
      run: async () => {
        const loss = optimizer.minimize(lossFn, true, model.vars);
        if (!loss) throw new Error('optimizer.minimize returned no loss');
        await loss.data();
        loss.dispose();
      },
      dispose: () => {
        optimizer.dispose();
        tf.dispose([x, y, ...model.vars]);
      },
    };
  }

  private async inferenceCase(model: TfjsModel, batch: number): Promise<Case> {
    const x = tf.tensor(randomData(batch * model.inputShape(1).reduce((a, b) => a * b, 1), 9), model.inputShape(batch));
    return this.tensorCase([x, ...model.vars], () => model.forward(x), {});
  }

  async mlpTrainStep(batch: number): Promise<Case> {
    await this.use();
    return this.trainCase(buildMlp(), batch);
  }

  async cnnTrainStep(batch: number): Promise<Case> {
    await this.use();
    return this.trainCase(buildCnn(), batch);
  }

  async lstmTrainStep(batch: number): Promise<Case> {
    await this.use();
    return this.trainCase(buildLstm(), batch, lstmTrainFlops(batch));
  }

  async transformerTrainStep(batch: number): Promise<Case> {
    await this.use();
    return this.trainCase(buildTransformer(), batch, transformerTrainFlops(batch));
  }

  async mlpInference(batch: number): Promise<Case> {
    await this.use();
    return this.inferenceCase(buildMlp(), batch);
  }

  async cnnInference(batch: number): Promise<Case> {
    await this.use();
    return this.inferenceCase(buildCnn(), batch);
  }

  dispose(): void {
    // Cases free their own tensors; the backend itself stays registered for other engines.
  }
}

