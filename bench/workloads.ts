/**
 * What the harness measures: each workload is a benchmark name, its parameters, and how to build
 * its {@link Case} on an engine. Shapes are layout-free; conv2d is given as NCHW sizes and each
 * engine lays it out its own way (TF.js NHWC, Kiln NCHW).
 */
import { type Case, type Conv2dParams, type Engine, LSTM_SPEC, TRANSFORMER_SPEC } from './engines/types';

export type Suite = 'kernels' | 'models';

export const BENCHES = [
  'matmul',
  'elementwiseChain',
  'reduceSum',
  'softmax',
  'conv2d',
  'mlpTrainStep',
  'cnnTrainStep',
  'lstmTrainStep',
  'transformerTrainStep',
  'mlpInference',
  'cnnInference',
] as const;

export interface Workload {
  suite: Suite;
  bench: string;
  params: Record<string, number>;
  make(engine: Engine): Promise<Case>;
}

export interface PlanOptions {
  suites: Suite[];
  /** Overrides the size list of every size-parameterised kernel (see {@link DEFAULT_SIZES}). */
  sizes?: number[];
  /** Inference batch sizes (default {@link INFERENCE_BATCHES}). */
  batches?: number[];
  /** Train-step batch for both models (default {@link TRAIN_BATCH}). */
  trainBatch?: number;
  /** One size, one conv shape, one inference batch, no extra matmul shapes. */
  quick?: boolean;
}

/**
 * Default sizes per kernel, where a size s means: matmul m = k = n = s; elementwise chain over
 * s*s elements (1024 -> 1M, 4096 -> 16M); reduceSum and softmax over an s x s matrix.
 */
export const DEFAULT_SIZES = {
  matmul: [256, 512, 1024, 2048],
  elementwise: [1024, 2048, 4096],
  reduce: [512, 1024, 2048],
} as const;

/** Non-square matmuls: a skinny projection and the MLP's first layer at batch 128. */
export const MATMUL_SHAPES: ReadonlyArray<readonly [number, number, number]> = [
  [4096, 256, 64],
  [128, 784, 256],
];

/** conv2d at the CNN's own layers (batch 32) and one ResNet-like 56x56x64 layer. */
export const CONV_SHAPES: readonly Conv2dParams[] = [
  { batch: 32, height: 28, width: 28, inChannels: 1, outChannels: 32, kernel: 3, stride: 1, padding: 1 },
  { batch: 32, height: 14, width: 14, inChannels: 32, outChannels: 64, kernel: 3, stride: 1, padding: 1 },
  { batch: 8, height: 56, width: 56, inChannels: 64, outChannels: 64, kernel: 3, stride: 1, padding: 1 },
];

export const TRAIN_BATCH = { mlp: 128, cnn: 32 } as const;
export const INFERENCE_BATCHES = [1, 32, 256] as const;

export function planWorkloads(options: PlanOptions): Workload[] {
  const quick = options.quick ?? false;
  const pick = (defaults: readonly number[]): number[] => {
    const list = options.sizes && options.sizes.length > 0 ? options.sizes : [...defaults];
    return quick ? list.slice(0, 1) : list;
  };
  const out: Workload[] = [];
  if (options.suites.includes('kernels')) {
    for (const s of pick(DEFAULT_SIZES.matmul)) {
      out.push({ suite: 'kernels', bench: 'matmul', params: { m: s, k: s, n: s }, make: (e) => e.matmul(s, s, s) });
    }
    if (!quick) {
      for (const [m, k, n] of MATMUL_SHAPES) {
        out.push({ suite: 'kernels', bench: 'matmul', params: { m, k, n }, make: (e) => e.matmul(m, k, n) });
      }
    }
    for (const s of pick(DEFAULT_SIZES.elementwise)) {
      const n = s * s;
      out.push({ suite: 'kernels', bench: 'elementwiseChain', params: { n }, make: (e) => e.elementwiseChain(n) });
    }
    for (const s of pick(DEFAULT_SIZES.reduce)) {
      out.push({ suite: 'kernels', bench: 'reduceSum', params: { rows: s, cols: s }, make: (e) => e.reduceSum(s, s) });
    }
    for (const s of pick(DEFAULT_SIZES.reduce)) {
      out.push({ suite: 'kernels', bench: 'softmax', params: { rows: s, cols: s }, make: (e) => e.softmax(s, s) });
    }
    for (const p of quick ? CONV_SHAPES.slice(0, 1) : CONV_SHAPES) {
      out.push({ suite: 'kernels', bench: 'conv2d', params: { ...p }, make: (e) => e.conv2d(p) });
    }
  }
  if (options.suites.includes('models')) {
    const mlpBatch = options.trainBatch ?? TRAIN_BATCH.mlp;
    const cnnBatch = options.trainBatch ?? TRAIN_BATCH.cnn;
    out.push({ suite: 'models', bench: 'mlpTrainStep', params: { batch: mlpBatch }, make: (e) => e.mlpTrainStep(mlpBatch) });
    out.push({ suite: 'models', bench: 'cnnTrainStep', params: { batch: cnnBatch }, make: (e) => e.cnnTrainStep(cnnBatch) });
    // Sequence models run at their spec's batch (--train-batch is the MLP's and the CNN's), and
    // not under --quick: Kiln compiles the 64 unrolled LSTM steps, TF.js traces them every step.
    if (!quick) {
      const { time, hidden, batch: lstmBatch } = LSTM_SPEC;
      out.push({ suite: 'models', bench: 'lstmTrainStep', params: { batch: lstmBatch, time, hidden }, make: (e) => e.lstmTrainStep(lstmBatch) });
      const { seq, dModel, heads, batch: tBatch } = TRANSFORMER_SPEC;
      out.push({ suite: 'models', bench: 'transformerTrainStep', params: { batch: tBatch, seq, dModel, heads }, make: (e) => e.transformerTrainStep(tBatch) });
    }
    const batches = options.batches && options.batches.length > 0 ? options.batches : quick ? [32] : [...INFERENCE_BATCHES];
    for (const batch of batches) {
      out.push({ suite: 'models', bench: 'mlpInference', params: { batch }, make: (e) => e.mlpInference(batch) });
    }
    for (const batch of batches) {
      out.push({ suite: 'models', bench: 'cnnInference', params: { batch }, make: (e) => e.cnnInference(batch) });
    }
  }
  return out;
}
