/**
 * Host-side preprocessing on flat typed arrays viewed as `[count, featureSize]` rows.
 * Each function returns a new Float32Array and never mutates its input.
 */
import { DataFormatError } from './errors';

function checkRows(what: string, length: number, featureSize: number): number {
  if (!Number.isInteger(featureSize) || featureSize <= 0) {
    throw new RangeError(`${what}: featureSize must be a positive integer, got ${featureSize}`);
  }
  if (length % featureSize !== 0) {
    throw new RangeError(`${what}: data length ${length} is not a multiple of featureSize ${featureSize}`);
  }
  return length / featureSize;
}

/**
 * `data[i] * factor + offset` as float32; e.g. bytes to [0, 1] with `scale(pixels, 1 / 255)`.
 *
 * @example
 * scale(new Uint8Array([0, 255]), 1 / 255); // Float32Array [0, 1]
 */
export function scale(data: ArrayLike<number>, factor: number, offset = 0): Float32Array {
  const out = new Float32Array(data.length);
  for (let i = 0; i < out.length; i++) out[i] = data[i]! * factor + offset;
  return out;
}

/**
 * `(x - mean) / std`, with one mean/std for everything or one per feature (arrays of
 * length `featureSize`, the row length).
 *
 * @example
 * normalize(x, { mean: 0.1307, std: 0.3081 }); // the usual MNIST constants
 */
export function normalize(
  data: ArrayLike<number>,
  stats: { mean: number | ArrayLike<number>; std: number | ArrayLike<number> },
): Float32Array {
  const mean = typeof stats.mean === 'number' ? [stats.mean] : stats.mean;
  const std = typeof stats.std === 'number' ? [stats.std] : stats.std;
  const featureSize = Math.max(mean.length, std.length);
  if ((mean.length !== 1 && mean.length !== featureSize) || (std.length !== 1 && std.length !== featureSize)) {
    throw new RangeError(`normalize: mean has ${mean.length} values and std ${std.length}; give equal lengths or a number`);
  }
  checkRows('normalize', data.length, featureSize);
  for (let j = 0; j < std.length; j++) {
    if (!(std[j]! > 0)) throw new RangeError(`normalize: std[${j}] is ${std[j]}, it must be > 0`);
  }
  const out = new Float32Array(data.length);
  for (let i = 0; i < out.length; i++) {
    const j = i % featureSize;
    out[i] = (data[i]! - mean[mean.length === 1 ? 0 : j]!) / std[std.length === 1 ? 0 : j]!;
  }
  return out;
}

export interface Standardizer {
  /** Per-feature mean of the data it was fitted on. */
  mean: Float32Array;
  /** Per-feature population standard deviation; 1 where a feature is constant. */
  std: Float32Array;
  /** `(x - mean) / std` per feature, for the training data and, with the same stats, for test data. */
  apply(data: ArrayLike<number>): Float32Array;
}

/**
 * Fits per-feature mean and standard deviation (population, i.e. divided by count) on
 * training rows, to apply to every split alike.
 *
 * @example
 * const s = fitStandardizer(train.images, 784);
 * const xTrain = s.apply(train.images), xTest = s.apply(test.images);
 */
export function fitStandardizer(data: ArrayLike<number>, featureSize: number): Standardizer {
  const count = checkRows('fitStandardizer', data.length, featureSize);
  if (count === 0) throw new RangeError('fitStandardizer: no rows to fit');
  // Two passes in float64: a one-pass E[x^2] - E[x]^2 in float32 loses all precision
  // on features with a large mean and small spread.
  const sum = new Float64Array(featureSize);
  for (let i = 0; i < data.length; i++) sum[i % featureSize]! += data[i]!;
  const mean = sum.map((s) => s / count);
  const sq = new Float64Array(featureSize);
  for (let i = 0; i < data.length; i++) {
    const d = data[i]! - mean[i % featureSize]!;
    sq[i % featureSize]! += d * d;
  }
  // A constant feature (MNIST's border pixels are always 0) has std 0; dividing by it
  // would make NaNs, so it keeps std 1 and maps to 0, as scikit-learn's StandardScaler does.
  const std = sq.map((s) => Math.sqrt(s / count) || 1);
  const stats = { mean: Float32Array.from(mean), std: Float32Array.from(std) };
  return { ...stats, apply: (x) => normalize(x, stats) };
}

/**
 * One-hot rows: `labels.length * classes` float32 values, 1 at each label's column.
 *
 * @example
 * oneHot(new Int32Array([2, 0]), 3); // Float32Array [0, 0, 1, 1, 0, 0]
 */
export function oneHot(labels: ArrayLike<number>, classes: number): Float32Array {
  if (!Number.isInteger(classes) || classes <= 0) throw new RangeError(`oneHot: classes must be a positive integer, got ${classes}`);
  const out = new Float32Array(labels.length * classes);
  for (let i = 0; i < labels.length; i++) {
    const label = labels[i]!;
    if (!Number.isInteger(label) || label < 0 || label >= classes) {
      throw new DataFormatError(`oneHot: label ${label} at index ${i} is out of range 0..${classes - 1}`);
    }
    out[i * classes + label] = 1;
  }
  return out;
}
