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
  MLP_SPEC,
  type Case,
  type Conv2dParams,
  type Engine,
  conv2dFlops,
  conv2dOutSize,
  matmulFlops,
  randomData,
  randomLabels,
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

  private async trainCase(model: TfjsModel, batch: number): Promise<Case> {
    registerTfjsGradients();
    const x = tf.tensor(randomData(batch * model.inputShape(1).reduce((a, b) => a * b, 1), 8), model.inputShape(batch));
    const y = tf.tidy(() => tf.cast(tf.oneHot(tf.tensor1d(randomLabels(batch, MLP_SPEC.classes), 'int32'), MLP_SPEC.classes), 'float32'));
    const optimizer = tf.train.adam(ADAM.lr, ADAM.beta1, ADAM.beta2, ADAM.epsilon);
    const lossFn = (): tf.Scalar => tf.losses.softmaxCrossEntropy(y, model.forward(x)) as tf.Scalar;
    return {
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

