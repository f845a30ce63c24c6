/**
 * Host-side preprocessing on flat typed arrays viewed as `[count, featureSize]` rows, and
 * seeded augmentations of image datasets. Each function returns a new Float32Array and never
 * mutates its input.
 */
import { type Dataset, type Labels, mixSeed, mulberry32 } from './dataset';
import { DataFormatError } from './errors';
import { arrayArg, check, dataset, numberArg, numbers, optional, opts } from '../args';

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
  check('scale', [numbers('data'), numberArg('factor'), optional(numberArg('offset'))], [data, factor, offset]);
  const out = new Float32Array(data.length);
  for (let i = 0; i < out.length; i++) out[i] = data[i]! * factor + offset;
  return out;
}

/**
 * `(x - mean) / std`, with one mean/std for everything or one per feature (arrays of
 * length `featureSize`, the row length).
 *
 * @throws RangeError for mean/std of different lengths, a std <= 0, or data that is not whole rows.
 * @example
 * normalize(x, { mean: 0.1307, std: 0.3081 }); // the usual MNIST constants
 */
export function normalize(
  data: ArrayLike<number>,
  stats: { mean: number | ArrayLike<number>; std: number | ArrayLike<number> },
): Float32Array {
  check('normalize', [numbers('data'), opts('stats')], [data, stats]);
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

/** Per-feature mean and standard deviation fitted on training data (`fitStandardizer`); `apply` standardises new data with them. */
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
 * @throws RangeError for a bad featureSize, data that is not whole rows, or no rows.
 * @example
 * const s = fitStandardizer(train.images, 784);
 * const xTrain = s.apply(train.images), xTest = s.apply(test.images);
 */
export function fitStandardizer(data: ArrayLike<number>, featureSize: number): Standardizer {
  check('fitStandardizer', [numbers('data'), numberArg('featureSize', 'a positive integer')], [data, featureSize]);
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
 * @throws RangeError unless classes is a positive integer; DataFormatError for a label out of range.
 * @example
 * oneHot(new Int32Array([2, 0]), 3); // Float32Array [0, 0, 1, 1, 0, 0]
 */
export function oneHot(labels: ArrayLike<number>, classes: number): Float32Array {
  check('oneHot', [numbers('labels'), numberArg('classes', 'a positive integer')], [labels, classes]);
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

/**
 * A seeded data augmentation: `count` samples of shape `sampleShape` (row-major, e.g. CHW
 * images) in, a new array of the same size out; every random choice is drawn from `random`
 * (uniform in [0, 1)), so the same draws give the same output. Apply with {@link augment}.
 */
export type Augmentation = (x: Float32Array, sampleShape: readonly number[], count: number, random: () => number) => Float32Array;

function imageShape(what: string, shape: readonly number[]): [number, number, number] {
  if (shape.length !== 3 || shape.some((d) => !Number.isInteger(d) || d <= 0)) {
    throw new RangeError(`${what}: samples must be CHW images [channels, height, width], got [${shape}]`);
  }
  return shape as [number, number, number];
}

/**
 * Random crop with padding (torchvision's `RandomCrop(size, padding)`, Keras' `RandomCrop`
 * after `ZeroPadding2D`): each image is padded by `padding` pixels of value `fill` on every
 * side and an `h x w` window (its own size) is cut at a random offset, so the content shifts
 * by up to `padding` pixels in each direction. Two draws per image: row offset, then column.
 *
 * @throws RangeError for a negative or non-integer padding, or samples that are not CHW.
 * @example
 * augment(train, [randomCrop({ padding: 4 }), randomHorizontalFlip()], { seed: 1, epoch });
 */
export function randomCrop(options: { padding: number; fill?: number }): Augmentation {
  const { padding, fill = 0 } = options ?? {};
  if (!Number.isInteger(padding) || padding < 0) throw new RangeError(`randomCrop: padding must be a non-negative integer, got ${String(padding)}`);
  return (x, sampleShape, count, random) => {
    const [c, h, w] = imageShape('randomCrop', sampleShape);
    const out = new Float32Array(x.length).fill(fill);
    const span = 2 * padding + 1;
    for (let n = 0; n < count; n++) {
      // The window starts at (dy, dx) in padded coordinates: source row = row + dy - padding.
      const dy = Math.floor(random() * span) - padding;
      const dx = Math.floor(random() * span) - padding;
      const rows = [Math.max(0, -dy), Math.min(h, h - dy)];
      const cols = [Math.max(0, -dx), Math.min(w, w - dx)];
      for (let ch = 0; ch < c; ch++) {
        const plane = (n * c + ch) * h * w;
        for (let i = rows[0]!; i < rows[1]!; i++) {
          const src = plane + (i + dy) * w + dx;
          out.set(x.subarray(src + cols[0]!, src + cols[1]!), plane + i * w + cols[0]!);
        }
      }
    }
    return out;
  };
}

/**
 * Mirrors each image left-right with probability `probability` (default 0.5), as
 * torchvision's `RandomHorizontalFlip` and Keras' `RandomFlip('horizontal')`. One draw per image.
 *
 * @throws RangeError for a probability outside [0, 1], or samples that are not CHW.
 * @example
 * augment(train, [randomHorizontalFlip()], { seed: 1, epoch });
 */
export function randomHorizontalFlip(options: { probability?: number } = {}): Augmentation {
  check('randomHorizontalFlip', [opts()], [options]);
  const { probability = 0.5 } = options;
  if (!(probability >= 0 && probability <= 1)) throw new RangeError(`randomHorizontalFlip: probability must be in [0, 1], got ${String(probability)}`);
  return (x, sampleShape, count, random) => {
    const [c, h, w] = imageShape('randomHorizontalFlip', sampleShape);
    const out = x.slice();
    for (let n = 0; n < count; n++) {
      if (!(random() < probability)) continue;
      for (let row = n * c * h; row < (n + 1) * c * h; row++) {
        for (let j = 0; j < w; j++) out[row * w + j] = x[row * w + w - 1 - j]!;
      }
    }
    return out;
  };
}

/**
 * The dataset with `augmentations` applied in order to every sample, drawn from a stream
 * seeded by `(seed, epoch)`: call it once per epoch for fresh, reproducible augmentations.
 * Labels are shared with `ds`, not copied; `ds` is not changed.
 *
 * @throws RangeError from an augmentation whose sample shape does not fit `ds.xShape`.
 * @example
 * for (let epoch = 0; epoch < 10; epoch++) {
 *   const augmented = augment(train, [randomCrop({ padding: 4 }), randomHorizontalFlip()], { seed: 1, epoch });
 *   await fit(model, augmented, { epochs: epoch + 1, initialEpoch: epoch, batchSize: 128 });
 * }
 */
export function augment<Y extends Labels>(ds: Dataset<Y>, augmentations: readonly Augmentation[], options: { seed?: number; epoch?: number } = {}): Dataset<Y> {
  check('augment', [dataset('ds'), arrayArg('augmentations', 'an array of augmentations (randomCrop(), ...)'), opts()], [ds, augmentations, options]);
  const { seed = 0, epoch = 0 } = options;
  // A stream of its own, so augmentations do not repeat the draws of that epoch's shuffle.
  const next = mulberry32(mixSeed(mixSeed(seed, epoch), AUGMENT_STREAM));
  const random = () => next() / 0x100000000;
  let x = ds.x;
  for (const a of augmentations) x = a(x, ds.xShape, ds.count, random);
  return { ...ds, x, xShape: [...ds.xShape], yShape: [...ds.yShape] };
}

const AUGMENT_STREAM = 0x61756720; // 'aug '
