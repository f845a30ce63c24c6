/**
 * The contract between the bench harness and an engine under test.
 *
 * An engine is one library on one backend (`tfjs` on `wasm`, `kiln` on `webgpu`, ...). For each
 * workload it builds a {@link Case}: everything that is not the thing being measured (creating
 * input tensors, compiling a graph, building a model, initialising optimizer state) happens when
 * the case is built; {@link Case.run} is one timed iteration.
 *
 * Shapes are given layout-free (batch, channels, height, width); each engine lays tensors out the
 * way it prefers (TF.js: NHWC, Kiln: NCHW) and says so in {@link Engine.info}.
 */
import type { MemoryReport } from 'kiln';

export type EngineName = 'kiln' | 'tfjs';

/** One measurable unit of work, with its inputs already resident where the engine keeps them. */
export interface Case {
  /**
   * One timed iteration. The promise must settle only once the work has finished on the device:
   * read back a tiny value (one element, or the scalar loss) or await the queue. Reading back the
   * whole output is not part of the measurement.
   */
  run(): Promise<void>;
  /** Floating-point operations in one iteration (multiply and add count as two), when meaningful. */
  flops?: number;
  /** Minimum bytes one iteration must move (each input read once, each output written once). */
  bytes?: number;
  /** Device memory of the compiled program after the timed runs (Kiln: `Executable.memoryReport()`). */
  memory?(): MemoryReport;
  /** Frees everything the case holds. Called once, after the last run. */
  dispose(): void;
}

/** conv2d parameters: the input is [batch, inChannels, height, width] in NCHW terms. */
export interface Conv2dParams {
  batch: number;
  height: number;
  width: number;
  inChannels: number;
  outChannels: number;
  /** Square kernel side. */
  kernel: number;
  stride: number;
  /** Zero padding on each side; `kernel >> 1` keeps the spatial size at stride 1. */
  padding: number;
}

export interface Engine {
  readonly name: EngineName;
  /** Backend within the engine: `cpu`, `wasm`, `webgpu`, ... */
  readonly backend: string;
  /** `true` when the engine can run here; `false` or a reason otherwise. Initialises the backend. */
  available(): Promise<boolean | string>;
  /** Facts for the report header (layout, backend flags, threads, ...). Called after available(). */
  info(): Promise<Record<string, unknown>>;

  /** C[m,n] = A[m,k] B[k,n], f32. */
  matmul(m: number, k: number, n: number): Promise<Case>;
  /** {@link ELEMENTWISE_CHAIN} over a flat f32 vector of n elements. */
  elementwiseChain(n: number): Promise<Case>;
  /** Sum over the last axis of a [rows, cols] f32 matrix. */
  reduceSum(rows: number, cols: number): Promise<Case>;
  /** Softmax over the last axis of a [rows, cols] f32 matrix. */
  softmax(rows: number, cols: number): Promise<Case>;
  /** Forward conv2d, no bias, no activation. */
  conv2d(params: Conv2dParams): Promise<Case>;
  /** One training step (forward, backward, Adam update) of {@link MLP_SPEC}. */
  mlpTrainStep(batch: number): Promise<Case>;
  /** One training step (forward, backward, Adam update) of {@link CNN_SPEC}. */
  cnnTrainStep(batch: number): Promise<Case>;
  /** One training step (forward, backward, Adam update) of {@link LSTM_SPEC}. */
  lstmTrainStep(batch: number): Promise<Case>;
  /** One training step (forward, backward, Adam update) of {@link TRANSFORMER_SPEC}. */
  transformerTrainStep(batch: number): Promise<Case>;
  /** Forward pass of {@link MLP_SPEC} to logits. */
  mlpInference(batch: number): Promise<Case>;
  /** Forward pass of {@link CNN_SPEC} to logits. */
  cnnInference(batch: number): Promise<Case>;

  /** Releases the backend's resources. The engine is not used afterwards. */
  dispose(): Promise<void> | void;
}

/** Thrown by an engine for a workload it does not implement; the harness records it as skipped. */
export class Unsupported extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'Unsupported';
  }
}

/**
 * The elementwise chain every engine computes: `y = exp(relu(x * 2 + 1) * -0.5)`, five
 * elementwise ops (mul, add, relu, mul, exp). An engine that fuses it reads x once and writes y
 * once (8 bytes per element, the `bytes` figure); an engine that does not moves 5x that.
 */
export const ELEMENTWISE_CHAIN = 'exp(relu(x * 2 + 1) * -0.5)';

/** Shared optimizer settings for the train-step workloads. */
export const ADAM = { lr: 1e-3, beta1: 0.9, beta2: 0.999, epsilon: 1e-7 } as const;

/**
 * MLP 784-256-10: dense(784->256) + relu, dense(256->10) to logits; loss = mean softmax
 * cross-entropy against one-hot labels; Adam ({@link ADAM}); weights glorot-uniform, biases zero.
 */
export const MLP_SPEC = { input: 784, hidden: 256, classes: 10 } as const;

/**
 * Small MNIST CNN on a 28x28x1 input:
 * conv3x3(1->32, pad 1) + relu, maxPool 2x2 -> 14x14x32,
 * conv3x3(32->64, pad 1) + relu, maxPool 2x2 -> 7x7x64,
 * flatten (3136), dense(3136->128) + relu, dense(128->10) to logits.
 * Loss and optimizer as for {@link MLP_SPEC}. Conv weights carry a bias.
 */
export const CNN_SPEC = {
  height: 28,
  width: 28,
  channels: 1,
  conv1: 32,
  conv2: 64,
  kernel: 3,
  dense: 128,
  classes: 10,
} as const;

/**
 * LSTM over `time` steps of `features` inputs: one layer of `hidden` units (sigmoid gates, tanh
 * cell and output, no peepholes, gates i f c o in TF.js and i o f c in Kiln's ONNX layout), its
 * last hidden state to `classes` logits by a dense layer; loss and optimizer as for
 * {@link MLP_SPEC}. Weights glorot-uniform, biases zero. Default batch 32.
 */
export const LSTM_SPEC = { time: 64, features: 128, hidden: 256, classes: 10, batch: 32 } as const;

/**
 * One pre-norm Transformer encoder block on `[batch, seq, dModel]`:
 * `h = x + Wo(attention(LN(x)))`, `y = h + W2(relu(W1(LN(h))))`, where attention is
 * `heads`-head scaled dot-product self-attention (no mask, no dropout) with biased q/k/v/output
 * projections and W1 is `dModel -> ff`. Loss: mean squared error against a fixed random target
 * of y's shape; Adam ({@link ADAM}). Default batch 16.
 */
export const TRANSFORMER_SPEC = { seq: 128, dModel: 128, heads: 4, ff: 512, batch: 16 } as const;

/** Multiply-adds of one LSTM training step as flops: forward GEMMs, backward twice that. */
export function lstmTrainFlops(batch: number): number {
  const { time, features, hidden, classes } = LSTM_SPEC;
  return 3 * 2 * batch * (time * (features + hidden) * 4 * hidden + hidden * classes);
}

/** Flops of one Transformer block training step: the GEMMs (projections, scores, weights x values, feed-forward), x3. */
export function transformerTrainFlops(batch: number): number {
  const { seq, dModel: d, ff } = TRANSFORMER_SPEC;
  return 3 * 2 * batch * seq * (4 * d * d + 2 * seq * d + 2 * d * ff);
}

export function matmulFlops(m: number, k: number, n: number): number {
  return 2 * m * k * n;
}

export function conv2dOutSize(p: Conv2dParams): { outHeight: number; outWidth: number } {
  return {
    outHeight: Math.floor((p.height + 2 * p.padding - p.kernel) / p.stride) + 1,
    outWidth: Math.floor((p.width + 2 * p.padding - p.kernel) / p.stride) + 1,
  };
}

export function conv2dFlops(p: Conv2dParams): number {
  const { outHeight, outWidth } = conv2dOutSize(p);
  return 2 * p.batch * outHeight * outWidth * p.outChannels * p.inChannels * p.kernel * p.kernel;
}

/** Deterministic pseudo-random f32 data in [-1, 1) (mulberry32), so every engine sees the same inputs. */
export function randomData(length: number, seed = 1): Float32Array {
  const out = new Float32Array(length);
  let a = seed >>> 0;
  for (let i = 0; i < length; i++) {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    out[i] = (((t ^ (t >>> 14)) >>> 0) / 4294967296) * 2 - 1;
  }
  return out;
}

/** Deterministic integer labels in [0, classes). */
export function randomLabels(length: number, classes: number, seed = 2): Int32Array {
  const u = randomData(length, seed);
  return Int32Array.from(u, (v) => Math.min(classes - 1, Math.floor(((v + 1) / 2) * classes)));
}
