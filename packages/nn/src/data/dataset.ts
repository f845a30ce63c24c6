/**
 * In-memory datasets, seeded shuffling, train/validation split and mini-batches.
 * Everything is deterministic in (seed, epoch): a run can be replayed exactly.
 */
import { check, dataset, dimsArg, numbers, opts } from '../args';
import { DataFormatError } from './errors';

/** A dataset's labels: i32 class indices or f32 targets (one-hot rows, regression values). */
export type Labels = Int32Array | Float32Array;

/**
 * `count` samples stored row-major: sample i is `x[i*prod(xShape) ..]` and
 * `y[i*prod(yShape) ..]`. `yShape` is `[]` for class indices, `[classes]` for one-hot rows.
 */
export interface Dataset<Y extends Labels = Labels> {
  x: Float32Array;
  y: Y;
  count: number;
  /** Shape of one sample, e.g. `[784]` or `[3, 32, 32]`. */
  xShape: number[];
  /** Shape of one label, e.g. `[]` or `[10]`. */
  yShape: number[];
}

/** One batch from `batches()`: `size` examples of x (flat, `[size, ...xShape]`) and their labels. */
export interface Batch<Y extends Labels = Labels> {
  /** `size * prod(xShape)` values, a fresh copy the caller may keep. */
  x: Float32Array;
  y: Y;
  /** Samples in this batch: `batchSize`, or fewer for the last one. */
  size: number;
}

const prod = (s: number[]) => s.reduce((a, b) => a * b, 1);

/**
 * Builds a {@link Dataset}, working out `count` from `x` and checking that `y` has as many
 * samples.
 *
 * @throws OptionsError for missing or wrong-typed parts; RangeError for sample shapes that are not
 *   positive integers; DataFormatError when x and y do not hold the same number of whole samples.
 * @example
 * const ds = createDataset({ x: train.images, y: train.labels, xShape: [784] });
 * ds.count; // 60000
 */
export function createDataset<Y extends Labels>(parts: {
  x: Float32Array;
  y: Y;
  xShape: number[];
  yShape?: number[];
}): Dataset<Y> {
  check('createDataset', [opts('parts')], [parts]);
  check('createDataset', [numbers('x'), numbers('y'), dimsArg('xShape')], [parts.x, parts.y, parts.xShape]);
  const { x, y, xShape, yShape = [] } = parts;
  const xs = prod(xShape);
  const ys = prod(yShape);
  if (xs <= 0 || ys <= 0 || [...xShape, ...yShape].some((d) => !Number.isInteger(d))) {
    throw new RangeError(`createDataset: sample shapes must be positive integers, got x [${xShape}] y [${yShape}]`);
  }
  if (x.length % xs !== 0) throw new DataFormatError(`createDataset: x has ${x.length} values, not a multiple of xShape [${xShape}] (${xs})`);
  const count = x.length / xs;
  if (y.length !== count * ys) {
    throw new DataFormatError(`createDataset: x holds ${count} samples of [${xShape}] but y has ${y.length} values, expected ${count * ys} for yShape [${yShape}]`);
  }
  return { x, y, count, xShape: [...xShape], yShape: [...yShape] };
}

/** Mixes two 32-bit integers into one well-scrambled seed (the murmur3 finalizer). */
export function mixSeed(seed: number, stream: number): number {
  let h = (Math.imul(seed | 0, 0x9e3779b1) ^ (stream | 0)) >>> 0;
  h = Math.imul(h ^ (h >>> 16), 0x85ebca6b);
  h = Math.imul(h ^ (h >>> 13), 0xc2b2ae35);
  return (h ^ (h >>> 16)) >>> 0;
}

/**
 * mulberry32: a tiny 32-bit PRNG, plenty for shuffling and the same on every platform,
 * unlike Math.random which cannot be seeded. Returns uniform integers in [0, 2^32).
 */
export function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return (t ^ (t >>> 14)) >>> 0;
  };
}

/**
 * A seeded permutation of 0..n-1 (Fisher-Yates).
 *
 * @throws RangeError unless n is a non-negative integer.
 * @example
 * shuffleIndices(5, 42); // the same permutation on every run and machine
 */
export function shuffleIndices(n: number, seed: number): Uint32Array {
  if (!Number.isInteger(n) || n < 0) throw new RangeError(`shuffleIndices: n must be a non-negative integer, got ${n}`);
  const idx = new Uint32Array(n);
  for (let i = 0; i < n; i++) idx[i] = i;
  const next = mulberry32(seed);
  for (let i = n - 1; i > 0; i--) {
    // Multiply-shift maps a 32-bit draw onto 0..i; its bias (< (i+1)/2^32) is negligible.
    const j = Math.floor((next() * (i + 1)) / 0x100000000);
    const t = idx[i]!;
    idx[i] = idx[j]!;
    idx[j] = t;
  }
  return idx;
}

function gather<A extends Labels>(src: A, indices: ArrayLike<number>, start: number, end: number, stride: number): A {
  const out = (src instanceof Int32Array ? new Int32Array((end - start) * stride) : new Float32Array((end - start) * stride)) as A;
  for (let k = start; k < end; k++) {
    const from = indices[k]! * stride;
    out.set(src.subarray(from, from + stride), (k - start) * stride);
  }
  return out;
}

/**
 * The samples at `indices`, in that order, as a new dataset (copies).
 * @throws RangeError for an index out of range.
 */
export function subset<Y extends Labels>(ds: Dataset<Y>, indices: ArrayLike<number>): Dataset<Y> {
  check('subset', [dataset('ds'), numbers('indices')], [ds, indices]);
  for (let k = 0; k < indices.length; k++) {
    const i = indices[k]!;
    if (!Number.isInteger(i) || i < 0 || i >= ds.count) throw new RangeError(`subset: index ${i} at position ${k} is out of range 0..${ds.count - 1}`);
  }
  const n = indices.length;
  return {
    x: gather(ds.x, indices, 0, n, prod(ds.xShape)),
    y: gather(ds.y, indices, 0, n, prod(ds.yShape)),
    count: n,
    xShape: [...ds.xShape],
    yShape: [...ds.yShape],
  };
}

/**
 * Splits off `round(count * validationFraction)` samples for validation. By default the
 * samples are shuffled with `seed` first (files like CIFAR's are not always well mixed);
 * `shuffle: false` takes the last samples, as Keras' `validation_split` does.
 *
 * @throws RangeError for a validationFraction outside (0, 1) or one that leaves a side empty.
 * @example
 * const { train, validation } = trainValidationSplit(ds, { validationFraction: 0.1, seed: 1 });
 */
export function trainValidationSplit<Y extends Labels>(
  ds: Dataset<Y>,
  options: { validationFraction: number; seed?: number; shuffle?: boolean },
): { train: Dataset<Y>; validation: Dataset<Y> } {
  check('trainValidationSplit', [dataset('ds'), opts()], [ds, options]);
  const { validationFraction: f, seed = 0, shuffle = true } = options;
  if (!(f > 0 && f < 1)) throw new RangeError(`trainValidationSplit: validationFraction must be in (0, 1), got ${f}`);
  const nVal = Math.round(ds.count * f);
  if (nVal === 0 || nVal === ds.count) {
    throw new RangeError(`trainValidationSplit: validationFraction ${f} of ${ds.count} samples leaves one side empty`);
  }
  const order = shuffle ? shuffleIndices(ds.count, seed) : Uint32Array.from({ length: ds.count }, (_, i) => i);
  const nTrain = ds.count - nVal;
  return { train: subset(ds, order.subarray(0, nTrain)), validation: subset(ds, order.subarray(nTrain)) };
}

/** How many batches {@link batches} yields: the last partial batch counts unless dropped. */
export function batchCount(count: number, batchSize: number, dropLast = false): number {
  return dropLast ? Math.floor(count / batchSize) : Math.ceil(count / batchSize);
}

/** Options of `batches()` and `recordBatches()`: batch size, seeded per-epoch shuffling, whether to drop a last partial batch. */
export interface BatchOptions {
  batchSize: number;
  /** Visit samples in a seeded random order (default false: in order). */
  shuffle?: boolean;
  seed?: number;
  /** Mixed into the seed, so each epoch sees a different, still reproducible, order. */
  epoch?: number;
  /** Skip a last batch smaller than batchSize (default false: it is yielded). */
  dropLast?: boolean;
}

/**
 * Mini-batches over one epoch. The last batch has `size < batchSize` when the count does
 * not divide evenly; it is yielded, not dropped, unless `dropLast` is set.
 *
 * @throws RangeError unless batchSize is a positive integer.
 * @example
 * for (let epoch = 0; epoch < 5; epoch++) {
 *   for (const { x, y, size } of batches(ds, { batchSize: 128, shuffle: true, seed: 1, epoch })) {
 *     await exe.run({ x, y }, { loss }, { train: true });
 *   }
 * }
 */
export function* batches<Y extends Labels>(ds: Dataset<Y>, options: BatchOptions): Generator<Batch<Y>> {
  const { batchSize, shuffle = false, seed = 0, epoch = 0, dropLast = false } = options;
  if (!Number.isInteger(batchSize) || batchSize <= 0) throw new RangeError(`batches: batchSize must be a positive integer, got ${batchSize}`);
  const order = shuffle ? shuffleIndices(ds.count, mixSeed(seed, epoch)) : null;
  const xs = prod(ds.xShape);
  const ys = prod(ds.yShape);
  for (let start = 0; start < ds.count; start += batchSize) {
    const end = Math.min(start + batchSize, ds.count);
    if (dropLast && end - start < batchSize) return;
    if (order === null) {
      // In order: contiguous rows, copied with slice so batches never alias the dataset.
      yield { x: ds.x.slice(start * xs, end * xs), y: ds.y.slice(start * ys, end * ys) as Y, size: end - start };
    } else {
      yield { x: gather(ds.x, order, start, end, xs), y: gather(ds.y, order, start, end, ys), size: end - start };
    }
  }
}

/** One named column of a {@link RecordDataset}: f32, i32 or bool (Uint8Array, 0/1) values. */
export type ColumnData = Float32Array | Int32Array | Uint8Array;

/**
 * Samples as a record of named columns, for models with several inputs, labels of several
 * outputs, or inputs that are not f32 (i32 token ids, bool masks): sample i of column k is
 * `columns[k].data[i*prod(shape) ..]`. Column names are the model's input names.
 */
export interface RecordDataset {
  readonly count: number;
  readonly columns: Readonly<Record<string, { readonly data: ColumnData; readonly shape: readonly number[] }>>;
}

/** One batch from `recordBatches()`: each column's rows for `size` examples. */
export interface RecordBatch {
  /** Each column's rows of this batch, fresh copies. */
  columns: Record<string, ColumnData>;
  size: number;
  /** The dataset index of each row, in batch order (to name a sample in an error). */
  indices: ArrayLike<number>;
}

/**
 * Builds a {@link RecordDataset} from columns with their per-sample shapes (default `[]`,
 * one value per sample), checking that every column holds the same number of samples.
 *
 * @throws RangeError for an empty record, bad shapes, or columns of different sample counts.
 * @example
 * const ds = createRecordDataset({
 *   tokens: { data: ids, shape: [128] },      // Int32Array
 *   meta: { data: features, shape: [4] },     // Float32Array
 *   next: { data: targets, shape: [128] },    // Int32Array labels
 * });
 */
export function createRecordDataset(columns: Record<string, { data: ColumnData; shape?: number[] }>): RecordDataset {
  const names = Object.keys(columns ?? {});
  if (!names.length) throw new RangeError('createRecordDataset: needs at least one column');
  let count: number | undefined;
  const out: Record<string, { data: ColumnData; shape: number[] }> = {};
  for (const k of names) {
    const { data, shape = [] } = columns[k]!;
    if (!(data instanceof Float32Array || data instanceof Int32Array || data instanceof Uint8Array)) throw new RangeError(`createRecordDataset: column '${k}' must be a Float32Array, Int32Array or Uint8Array`);
    if (!Array.isArray(shape) || shape.some((d) => !Number.isInteger(d) || d <= 0)) throw new RangeError(`createRecordDataset: column '${k}' sample shape must be positive integers, got [${String(shape)}]`);
    const per = prod(shape);
    if (data.length % per) throw new RangeError(`createRecordDataset: column '${k}' has ${data.length} values, not a multiple of its sample shape [${shape}] (${per})`);
    const n = data.length / per;
    if (count !== undefined && n !== count) throw new RangeError(`createRecordDataset: column '${k}' holds ${n} samples, column '${names[0]}' ${count}`);
    count = n;
    out[k] = { data, shape: [...shape] };
  }
  return { count: count!, columns: out };
}

/** The samples at `indices`, in that order (copies). */
export function subsetRecords(ds: RecordDataset, indices: ArrayLike<number>): RecordDataset {
  check('subsetRecords', [dataset('ds'), numbers('indices')], [ds, indices]);
  const columns: Record<string, { data: ColumnData; shape: number[] }> = {};
  for (const [k, c] of Object.entries(ds.columns)) columns[k] = { data: gatherColumn(c.data, indices, 0, indices.length, prod([...c.shape])), shape: [...c.shape] };
  return { count: indices.length, columns };
}

function gatherColumn<A extends ColumnData>(src: A, indices: ArrayLike<number>, start: number, end: number, stride: number): A {
  const out = new (src.constructor as new (n: number) => A)((end - start) * stride);
  for (let k = start; k < end; k++) {
    const from = indices[k]! * stride;
    out.set(src.subarray(from, from + stride), (k - start) * stride);
  }
  return out;
}

/**
 * Mini-batches of a {@link RecordDataset}, in the same order as {@link batches} for the same
 * count and options (the same seeded permutation per epoch).
 *
 * @throws RangeError unless batchSize is a positive integer.
 * @example
 * for (const { columns, size } of recordBatches(ds, { batchSize: 32, shuffle: true, seed: 1, epoch })) ...
 */
export function* recordBatches(ds: RecordDataset, options: BatchOptions): Generator<RecordBatch> {
  const { batchSize, shuffle = false, seed = 0, epoch = 0, dropLast = false } = options;
  if (!Number.isInteger(batchSize) || batchSize <= 0) throw new RangeError(`recordBatches: batchSize must be a positive integer, got ${batchSize}`);
  const order = shuffle ? shuffleIndices(ds.count, mixSeed(seed, epoch)) : null;
  const cols = Object.entries(ds.columns).map(([k, c]) => [k, c.data, prod([...c.shape])] as const);
  for (let start = 0; start < ds.count; start += batchSize) {
    const end = Math.min(start + batchSize, ds.count);
    if (dropLast && end - start < batchSize) return;
    const columns: Record<string, ColumnData> = {};
    for (const [k, data, per] of cols) columns[k] = order === null ? data.slice(start * per, end * per) : gatherColumn(data, order, start, end, per);
    yield { columns, size: end - start, indices: order === null ? Uint32Array.from({ length: end - start }, (_, k) => start + k) : order.subarray(start, end) };
  }
}
