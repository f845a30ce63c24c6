/**
 * Metrics, graph-side (scalars computed on the device, so only a number comes back) and
 * host-side (on fetched or predicted arrays).
 *
 *   metrics: { accuracy: accuracy(logits, y), top5: topKAccuracy(logits, y, 5) }  // graph
 *   const cm = confusionMatrix(argMaxRows(pred.data, 10), labels, 10);            // host
 *
 * Labels are i32 class indices (`[batch]`) or f32 one-hot rows (`[batch, classes]`).
 */
import { DTypeError, OptionsError, ShapeError, type Tensor } from '@kiln/core';
import { arrayArg, check, sameShape, numberArg, numbers, optional, tensor } from './args';

function classIndices(logits: Tensor, labels: Tensor, what: string): Tensor {
  // Checked here, not left to the ops below: their errors would name internal nodes.
  const want = labels.dtype === 'i32' ? logits.shape.slice(0, -1) : logits.shape;
  if (labels.dtype === 'bool' || labels.rank !== want.length || labels.shape.some((d, i) => d !== want[i])) {
    const Err = labels.dtype === 'i32' || (labels.dtype === 'f32' && labels.rank === logits.rank) ? ShapeError : DTypeError;
    throw new Err(
      `${what}: labels ${labels} must be i32 class indices [${logits.shape.slice(0, -1).join(', ')}] (the logits' shape without the class axis) ` +
        `or f32 one-hot rows [${logits.shape.join(', ')}], for logits ${logits}`,
    );
  }
  return labels.dtype === 'i32' ? labels : labels.argMax({ axis: -1 });
}

function classesOf(logits: Tensor, what: string): number {
  const c = logits.shape.at(-1);
  if (typeof c !== 'number') throw new ShapeError(`${what}: the class axis of ${logits} must be static`);
  return c;
}

/**
 * Fraction of examples whose highest logit is the label (a scalar in [0, 1]).
 *
 * @throws ShapeError for labels of the wrong shape or a symbolic class axis; DTypeError unless labels are i32 or f32 one-hot.
 * @example
 * const acc = accuracy(logits, y);
 */
export function accuracy(logits: Tensor, labels: Tensor): Tensor {
  check('accuracy', [tensor('logits'), tensor('labels')], [logits, labels]);
  const target = classIndices(logits, labels, 'accuracy');
  return logits.argMax({ axis: -1 }).equal(target).cast('f32').mean();
}

/**
 * Fraction of examples whose label is among the `k` highest logits. Ties count in the
 * label's favour (its rank is the number of strictly greater logits).
 *
 * @throws OptionsError unless k is a positive integer; ShapeError/DTypeError for labels as in accuracy.
 * @example
 * const top5 = topKAccuracy(logits, y, 5);
 */
export function topKAccuracy(logits: Tensor, labels: Tensor, k: number): Tensor {
  check('topKAccuracy', [tensor('logits'), tensor('labels'), numberArg('k', 'a positive integer')], [logits, labels, k]);
  if (!Number.isInteger(k) || k < 1) throw new OptionsError(`topKAccuracy: k must be a positive integer, got ${String(k)}`);
  const classes = classesOf(logits, 'topKAccuracy');
  const target = classIndices(logits, labels, 'topKAccuracy');
  const trueLogit = logits.mul(target.oneHot(classes)).sum({ axes: [-1], keepDims: true });
  const rank = logits.greater(trueLogit).cast('f32').sum({ axes: [-1] });
  return rank.less(k).cast('f32').mean();
}

/**
 * Fraction of examples where `logit > threshold` (default 0, i.e. probability 0.5) agrees
 * with `targets > 0.5`, over every element.
 *
 * @example
 * const acc = binaryAccuracy(dense(x, 1), y);
 */
export function binaryAccuracy(logits: Tensor, targets: Tensor, threshold = 0): Tensor {
  check('binaryAccuracy', [tensor('logits'), tensor('targets'), optional(numberArg('threshold'))], [logits, targets, threshold]);
  sameShape(logits, targets, 'binaryAccuracy');
  return logits.greater(threshold).equal(targets.greater(0.5)).cast('f32').mean();
}

/**
 * `[classes, classes]` counts for one batch: row = true class, column = predicted class.
 * Sum the fetched matrices over batches.
 *
 * @example
 * const cm = confusionMatrixOp(logits, y); // fetch per batch, add up on the host
 */
export function confusionMatrixOp(logits: Tensor, labels: Tensor): Tensor {
  check('confusionMatrixOp', [tensor('logits'), tensor('labels')], [logits, labels]);
  const classes = classesOf(logits, 'confusionMatrixOp');
  const target = classIndices(logits, labels, 'confusionMatrixOp');
  if (logits.rank !== 2) throw new ShapeError(`confusionMatrixOp: logits ${logits} must be [batch, classes]`);
  return target.oneHot(classes).matmul(logits.argMax({ axis: -1 }).oneHot(classes), { transposeA: true });
}

// ---------------------------------------------------------------- host side

function rowsOf(values: ArrayLike<number>, classes: number, what: string): number {
  if (!Number.isInteger(classes) || classes < 1) throw new RangeError(`${what}: classes must be a positive integer, got ${classes}`);
  if (values.length % classes !== 0) throw new RangeError(`${what}: ${values.length} values are not whole rows of ${classes}`);
  return values.length / classes;
}

/**
 * Index of the largest value in each row of a flat `[rows, classes]` array (first on ties).
 *
 * @example
 * argMaxRows(Float32Array.of(0.1, 0.9, 0.8, 0.2), 2); // Int32Array [1, 0]
 */
export function argMaxRows(values: ArrayLike<number>, classes: number): Int32Array {
  check('argMaxRows', [numbers('values'), numberArg('classes', 'a positive integer')], [values, classes]);
  const rows = rowsOf(values, classes, 'argMaxRows');
  const out = new Int32Array(rows);
  for (let r = 0; r < rows; r++) {
    let best = 0;
    for (let c = 1; c < classes; c++) if (values[r * classes + c]! > values[r * classes + best]!) best = c;
    out[r] = best;
  }
  return out;
}

/**
 * Fraction of rows whose argmax is the label.
 *
 * @example
 * accuracyOf(pred.data, test.labels, 10); // 0.9812
 */
export function accuracyOf(logits: ArrayLike<number>, labels: ArrayLike<number>, classes: number): number {
  check('accuracyOf', [numbers('logits'), numbers('labels'), numberArg('classes', 'a positive integer')], [logits, labels, classes]);
  return topKAccuracyOf(logits, labels, classes, 1);
}

/**
 * Fraction of rows whose label is among the `k` largest values (ties in the label's favour).
 *
 * @example
 * topKAccuracyOf(pred.data, labels, 10, 5);
 */
export function topKAccuracyOf(logits: ArrayLike<number>, labels: ArrayLike<number>, classes: number, k: number): number {
  check('topKAccuracyOf', [numbers('logits'), numbers('labels'), numberArg('classes', 'a positive integer'), numberArg('k', 'a positive integer')], [logits, labels, classes, k]);
  const rows = rowsOf(logits, classes, 'topKAccuracyOf');
  if (labels.length !== rows) throw new RangeError(`topKAccuracyOf: ${rows} rows of logits but ${labels.length} labels`);
  if (rows === 0) return 0;
  let hits = 0;
  for (let r = 0; r < rows; r++) {
    const label = labels[r]!;
    if (!(Number.isInteger(label) && label >= 0 && label < classes)) throw new RangeError(`topKAccuracyOf: label ${label} at row ${r} is out of range 0..${classes - 1}`);
    const t = logits[r * classes + label]!;
    let greater = 0;
    for (let c = 0; c < classes; c++) if (logits[r * classes + c]! > t) greater++;
    if (greater < k) hits++;
  }
  return hits / rows;
}

/**
 * Counts of (true, predicted) pairs as a flat row-major `[classes, classes]` Int32Array:
 * `m[t * classes + p]`.
 *
 * @example
 * const m = confusionMatrix(argMaxRows(pred.data, 10), test.labels, 10);
 * m[3 * 10 + 5]; // 3s predicted as 5
 */
export function confusionMatrix(predicted: ArrayLike<number>, labels: ArrayLike<number>, classes: number): Int32Array {
  check('confusionMatrix', [numbers('predicted'), numbers('labels'), numberArg('classes', 'a positive integer')], [predicted, labels, classes]);
  if (predicted.length !== labels.length) throw new RangeError(`confusionMatrix: ${predicted.length} predictions but ${labels.length} labels`);
  const m = new Int32Array(classes * classes);
  for (let i = 0; i < labels.length; i++) {
    const t = labels[i]!, p = predicted[i]!;
    for (const [k, v] of [['label', t], ['prediction', p]] as const) {
      if (!(Number.isInteger(v) && v >= 0 && v < classes)) throw new RangeError(`confusionMatrix: ${k} ${v} at ${i} is out of range 0..${classes - 1}`);
    }
    m[t * classes + p]!++;
  }
  return m;
}

/**
 * A confusion matrix as aligned text, rows = true class, columns = predicted.
 *
 * @example
 * console.log(formatConfusionMatrix(m, 10));
 */
export function formatConfusionMatrix(m: ArrayLike<number>, classes: number, labels?: readonly string[]): string {
  check('formatConfusionMatrix', [numbers('m'), numberArg('classes', 'a positive integer'), optional(arrayArg('labels', 'an array of class names'))], [m, classes, labels]);
  const names = labels ?? Array.from({ length: classes }, (_, i) => String(i));
  const w = Math.max(...Array.from(m, (v) => String(v).length), ...names.map((n) => n.length)) + 1;
  const head = ' '.repeat(w) + names.map((n) => n.padStart(w)).join('');
  const rows = names.map((n, r) => n.padStart(w) + Array.from({ length: classes }, (_, c) => String(m[r * classes + c]).padStart(w)).join(''));
  return [head, ...rows].join('\n');
}
