/**
 * The training loop and its two companions:
 *
 *   const history = await fit(model, train, { epochs: 5, batchSize: 128, validation: test });
 *   const { loss, accuracy } = await evaluate(model, test);
 *   const { data, shape } = await predict(model, test.x);   // [count, ...output dims]
 *
 * Data is a Dataset (feeding the model's `x` and `y`) or a RecordDataset whose columns feed
 * inputs by name, of any dtype (i32 token ids, bool masks), for models with several inputs
 * and outputs; a run feeds only the inputs it reads.
 *
 * Each training step is one `run(..., { train: true })`. The epoch's loss and metrics are
 * summed on the device by the step itself (see `Model.statistics`) and read back only every
 * `logEvery` steps and at the end of the epoch; the other steps fetch nothing, so the host
 * never waits on the device for a number it does not show, and the reported epoch numbers
 * are still exact means over every sample (as Keras reports them). The last partial batch
 * is trained on, through the symbolic batch dimension (one more compiled variant).
 *
 * Host and device overlap: step b+1 is queued (its batch gathered, its feeds checked) before
 * fit waits for step b, so the device starts b+1 as soon as b is done instead of waiting for
 * the host to shuffle, slice and check the next batch, and b's read-back (every logEvery
 * steps) is handled while b+1 runs. Callbacks still see every step in order, each after its
 * own; a callback with onBatchEnd (which may read params) turns the overlap off, so that it
 * sees the state right after its batch. A step queued when training stops (a non-finite
 * loss) is finished and counted.
 */
import { type FeedValue, FeedError, GraphError, type HostTensor, OptionsError, parseOptions, type Tensor } from '@kiln/core';
import { z } from 'zod';
import { batchCount, type ColumnData, type Dataset, type RecordBatch, recordBatches, type RecordDataset } from '../data';
import { formatDuration, formatMetric, ProgressBar, type ProgressStream } from '../progress';
import type { BatchLogs, Callback, EpochLogs, TrainContext } from './callbacks';
import type { Model } from './model';
import { arg, check, dataset, optional, opts } from '../args';
import { modelArg } from './args';

/**
 * A feed value out of range, reported by its position in the (shuffled) batch, renamed by its
 * dataset sample: `value 7 at position [0]` becomes `value 7 of dataset sample 4213 (batch row 0)`.
 */
function withSampleIndex(e: unknown, batch: RecordBatch): unknown {
  const m = e instanceof FeedError ? /at position \[(\d+)((?:, \d+)*)\]/.exec(e.message) : null;
  const sample = m ? batch.indices[Number(m[1])] : undefined;
  if (!m || sample === undefined) return e;
  const at = m[2] ? ` at [${m[2].slice(2)}]` : '';
  return new FeedError((e as FeedError).message.replace(m[0], `of dataset sample ${sample}${at} (batch row ${m[1]})`));
}

/** Options of `fit`. */
export interface FitOptions {
  /** Train until this epoch count (default 1). */
  epochs?: number;
  /** Default 32. */
  batchSize?: number;
  /** Visit samples in a seeded order that changes every epoch (default true). */
  shuffle?: boolean;
  /** Shuffle seed (default: the graph's seed). */
  seed?: number;
  /** Evaluated after every epoch; its numbers appear as `val_loss`, `val_<metric>`. */
  validation?: Dataset | RecordDataset;
  /** Default: batchSize. */
  validationBatchSize?: number;
  callbacks?: Callback[];
  /**
   * Read the running epoch means back every N steps (default 20), for the progress bar, the
   * batch logs and the non-finite-loss check; other steps fetch nothing. The epoch logs are
   * exact means over all batches whatever N is.
   */
  logEvery?: number;
  /** Start at this epoch (0-based), e.g. from `loadCheckpoint(...).epoch` (default 0). */
  initialEpoch?: number;
  /** Skip this many batches of `initialEpoch` (a checkpoint taken mid-epoch; default 0). */
  initialBatch?: number;
  /** Print one line per epoch and show the progress bar (default true). */
  verbose?: boolean;
  /** Where epoch lines go (default console.log). */
  log?: (line: string) => void;
  /** The progress bar's stream (default process.stderr; drawn only on a TTY outside CI). */
  progressStream?: ProgressStream;
}

/** What `fit` returns: per-epoch logs of losses and metrics. */
export interface History {
  /** One entry per epoch run: the epoch (0-based) and its logs. */
  epochs: (EpochLogs & { epoch: number })[];
  /** Set when training stopped before `epochs` (early stopping, a non-finite loss). */
  stopReason?: string;
}

const fitSchema = z.object({
  epochs: z.number().int().nonnegative().default(1),
  batchSize: z.number().int().positive().default(32),
  shuffle: z.boolean().default(true),
  seed: z.number().int().optional(),
  validation: z.custom<Dataset | RecordDataset>((v) => isDataset(v) || isRecordDataset(v), 'expected a Dataset ({ x, y, count, xShape, yShape }) or a RecordDataset ({ count, columns })').optional(),
  validationBatchSize: z.number().int().positive().optional(),
  callbacks: z.array(z.custom<Callback>((v) => typeof v === 'object' && v !== null, 'expected a callback object')).default([]),
  logEvery: z.number().int().positive().default(20),
  initialEpoch: z.number().int().nonnegative().default(0),
  initialBatch: z.number().int().nonnegative().default(0),
  verbose: z.boolean().default(true),
  log: z.custom<(line: string) => void>((v) => typeof v === 'function').optional(),
  progressStream: z.custom<ProgressStream>((v) => typeof v === 'object' && v !== null && typeof (v as ProgressStream).write === 'function').optional(),
}).strict();

function isDataset(v: unknown): v is Dataset {
  const d = v as Dataset;
  return typeof v === 'object' && v !== null && d.x instanceof Float32Array && (d.y instanceof Int32Array || d.y instanceof Float32Array) && Number.isInteger(d.count) && Array.isArray(d.xShape) && Array.isArray(d.yShape);
}

function isRecordDataset(v: unknown): v is RecordDataset {
  const d = v as RecordDataset;
  return typeof v === 'object' && v !== null && Number.isInteger(d.count) && typeof d.columns === 'object' && d.columns !== null && !('x' in d);
}

const prod = (s: readonly number[]) => s.reduce((a, b) => a * b, 1);

/** Per-sample static dims of a batch-first input, checked against the data's. */
function sampleShape(t: Tensor, dataShape: readonly number[], what: string): number[] {
  const [first, ...rest] = t.shape;
  if (typeof first !== 'string') throw new GraphError(`${what}: input '${t.node.attrs.name}' ${t} needs a symbolic batch dim first (g.input(name, ['batch', ...])) so the last partial batch fits`);
  if (rest.some((d) => typeof d !== 'number')) throw new GraphError(`${what}: input '${t.node.attrs.name}' ${t} may have only its first dim symbolic`);
  const dims = rest as number[];
  if (prod(dims) !== prod(dataShape)) throw new GraphError(`${what}: samples of shape [${dataShape.join(', ')}] do not fit input '${t.node.attrs.name}' ${t} (${prod(dataShape)} vs ${prod(dims)} values per sample)`);
  return dims;
}

const COLUMN_DTYPE = (c: ColumnData) => (c instanceof Float32Array ? 'f32' : c instanceof Int32Array ? 'i32' : 'bool');

/**
 * The data as named columns: a RecordDataset as it is, a Dataset as its model's x (and y)
 * inputs. Without labels (predict) only the columns of the inputs `needed` are kept.
 */
function asRecords(model: Model, ds: Dataset | RecordDataset, what: string, withLabels: boolean): RecordDataset {
  if (isRecordDataset(ds)) return ds;
  if (!isDataset(ds)) throw new OptionsError(`${what}: data must be a Dataset ({ x, y, count, xShape, yShape }; see data.createDataset) or a RecordDataset (data.createRecordDataset)`);
  if (!model.x || !model.y) throw new GraphError(`${what}: the model has no x and y inputs; feed it a RecordDataset with a column per input (${Object.keys(model.inputs).join(', ')})`);
  const xName = model.inputName!, yName = model.labelName!;
  if (model.x.dtype !== 'f32') throw new GraphError(`${what}: input '${xName}' is ${model.x.dtype}; datasets hold f32 samples (use a RecordDataset for other dtypes)`);
  const columns: Record<string, { data: ColumnData; shape: number[] }> = { [xName]: { data: ds.x, shape: ds.xShape } };
  if (withLabels) {
    const labelDType = ds.y instanceof Int32Array ? 'i32' : 'f32';
    if (model.y.dtype !== labelDType) throw new GraphError(`${what}: the data's labels are ${labelDType} (${ds.y.constructor.name}) but input '${yName}' is ${model.y.dtype}`);
    columns[yName] = { data: ds.y, shape: ds.yShape };
  }
  return { count: ds.count, columns };
}

/** Feeds for one batch of columns: each needed input's rows, viewed in its per-sample shape. */
function feeder(model: Model, ds: RecordDataset, what: string, needed: readonly Tensor[]): (b: RecordBatch) => Record<string, FeedValue> {
  const plan = needed.map((t) => {
    const name = t.node.attrs.name as string;
    const col = ds.columns[name];
    if (!col) throw new GraphError(`${what}: the data has no column '${name}' for input ${t} (columns: ${Object.keys(ds.columns).join(', ') || 'none'})`);
    if (COLUMN_DTYPE(col.data) !== t.dtype) throw new GraphError(`${what}: column '${name}' holds ${COLUMN_DTYPE(col.data)} values (${col.data.constructor.name}) but input '${name}' is ${t.dtype}`);
    return { name, dims: sampleShape(t, col.shape, what) };
  });
  return (b) => Object.fromEntries(plan.map(({ name, dims }) => [name, { data: b.columns[name]!, shape: [b.size, ...dims] }]));
}

/** The inputs a run of `fetches` reads (other columns of the data are not fed). */
function inputsFor(model: Model, fetches: readonly Tensor[], train: boolean): Tensor[] {
  const g = model.graph;
  const roots = [...fetches.map((t) => t.id), ...(train ? g.updates : [])];
  const need = new Set<number>(roots);
  for (let id = Math.max(-1, ...roots); id >= 0; id--) if (need.has(id)) for (const i of g.nodes[id]!.inputs) need.add(i);
  return Object.values(model.inputs).filter((t) => need.has(t.id));
}

function epochLine(epoch: number, epochs: number, logs: EpochLogs): string {
  const parts = [`epoch ${epoch + 1}/${epochs}`, formatDuration(logs['seconds']!), `${Math.round(logs['samplesPerSecond']!)} samples/s`];
  for (const [k, v] of Object.entries(logs)) if (k !== 'seconds' && k !== 'samplesPerSecond') parts.push(`${k} ${formatMetric(v)}`);
  return parts.join('  ');
}

/**
 * Train `model` on `data` for `epochs`, in shuffled mini-batches (the same order for the
 * same seed), evaluating `validation` after each epoch. Returns the per-epoch logs.
 *
 * @throws GraphError if the model has no training updates, or the data does not fit its inputs (shapes, dtypes, missing columns); OptionsError for bad options, an empty dataset or an initialBatch past the epoch; FeedError for fed labels or indices out of range.
 * @example
 * const history = await fit(model, train, {
 *   epochs: 10, batchSize: 128, validation,
 *   callbacks: [earlyStopping({ patience: 2 })],
 * });
 */
export async function fit(model: Model, data: Dataset | RecordDataset, options: FitOptions = {}): Promise<History> {
  check('fit', [modelArg, dataset(), opts()], [model, data, options]);
  const o = parseOptions(fitSchema, options, 'fit');
  if (!model.trainable) throw new GraphError('fit: the model has no training updates (give buildModel an optimizer)');
  const records = asRecords(model, data, 'fit', true);
  const feeds = feeder(model, records, 'fit', inputsFor(model, [model.loss], true));
  if (o.validation) feeder(model, asRecords(model, o.validation, 'fit (validation)', true), 'fit (validation)', inputsFor(model, [model.loss, ...Object.values(model.metrics)], false));
  if (records.count === 0) throw new OptionsError('fit: the dataset is empty');
  const log = o.log ?? ((line: string) => console.log(line));
  const seed = o.seed ?? model.graph.seed;
  const perEpoch = batchCount(data.count, o.batchSize);
  if (o.initialBatch > perEpoch) throw new OptionsError(`fit: initialBatch ${o.initialBatch} is past the ${perEpoch} batches of an epoch`);
  const ctx: TrainContext = {
    model, epochs: o.epochs, batchSize: o.batchSize, batchesPerEpoch: perEpoch, epoch: o.initialEpoch, batch: 0,
    resume: { epoch: o.initialEpoch, batch: o.initialBatch }, stopTraining: false,
    log: (line) => { if (o.verbose) log(line); },
  };
  const history: History = { epochs: [] };
  const call = async <K extends keyof Callback>(k: K, ...args: Parameters<NonNullable<Callback[K]>>) => {
    for (const cb of o.callbacks) await (cb[k] as ((...a: unknown[]) => unknown) | undefined)?.call(cb, ...args);
  };

  const stats = model.statistics;
  // Fetch keys of the updated sums: 't:' + name for each total, and 'count'.
  const readBack: Record<string, Tensor> = { count: stats.updatedCount };
  for (const k of stats.names) readBack[`t:${k}`] = stats.updatedTotals[k]!;
  /** Per-sample means from the sums; empty when no sample was counted. */
  const means = (total: (k: string) => number, count: number): Record<string, number> =>
    count > 0 ? Object.fromEntries(stats.names.map((k) => [k, total(k) / count])) : {};
  const read = async (param: Tensor) => (await model.exe.getParam(param.node.attrs.name as string)).data[0]!;
  const readSums = async (): Promise<Record<string, number>> => {
    const count = await read(stats.count);
    const totals: Record<string, number> = {};
    for (const k of stats.names) totals[k] = await read(stats.totals[k]!);
    return means((k) => totals[k]!, count);
  };
  const resetSums = () => {
    for (const p of [stats.count, ...Object.values(stats.totals)]) model.exe.setParam(p.node.attrs.name as string, [0]);
  };

  // Queue the next step before waiting for this one, unless a callback looks at every batch.
  const overlap = !o.callbacks.some((cb) => typeof cb.onBatchEnd === 'function');

  await call('onTrainBegin', ctx);
  for (let epoch = o.initialEpoch; epoch < o.epochs && !ctx.stopTraining; epoch++) {
    ctx.epoch = epoch;
    const skip = epoch === o.initialEpoch ? o.initialBatch : 0;
    // The sums continue only where a checkpoint taken mid-epoch restored them (they then
    // count exactly the skipped batches); otherwise this epoch's means start from zero.
    const skipped = Math.min(skip * o.batchSize, data.count);
    if (skip === 0 || (await read(stats.count)) !== skipped) resetSums();
    ctx.resume = skip < perEpoch ? { epoch, batch: skip } : { epoch: epoch + 1, batch: 0 };
    await call('onEpochBegin', epoch, ctx);
    const bar = o.verbose ? new ProgressBar({ total: data.count, label: `epoch ${epoch + 1}/${o.epochs}`, ...(o.progressStream ? { stream: o.progressStream } : {}) }) : undefined;
    let samples = 0, done = 0, shown: Record<string, number> = {};
    let current: Record<string, number> | undefined; // the sums' means as of the last step, when it read them
    let lastRead = skip - 1;
    const t0 = performance.now();
    // Each step's train run counts one run and one step; the counters a mid-epoch resume
    // needs follow from these (the queue may already hold the next run).
    const base = { runs: model.exe.runs, steps: model.exe.steps };
    let finished = 0;
    type Step = { b: number; size: number; reading: boolean; out: Promise<Record<string, HostTensor>> };
    const finish = async ({ b, size, reading, out: pending }: Step): Promise<void> => {
      const out = await pending;
      finished++;
      const logs: BatchLogs = { size };
      current = undefined;
      if (reading) {
        current = means((k) => out[`t:${k}`]!.data[0]!, out['count']!.data[0]!);
        Object.assign(logs, current);
        shown = { loss: current['loss']! };
        if (!Number.isFinite(current['loss']) && !ctx.stopTraining) {
          ctx.stopTraining = true;
          const where = lastRead + 1 === b ? `batch ${b + 1}` : `one of batches ${lastRead + 2}-${b + 1}`;
          ctx.stopReason = `loss is ${current['loss']} at epoch ${epoch + 1}, ${where}`;
        }
        lastRead = b;
      }
      samples += size;
      done += size;
      bar?.update(done, shown);
      ctx.batch = b;
      ctx.resume = b + 1 < perEpoch
        ? { epoch, batch: b + 1, counters: { runs: base.runs + finished, steps: base.steps + finished } }
        : { epoch: epoch + 1, batch: 0 };
      await call('onBatchEnd', b, logs, ctx);
    };
    let queued: Step | undefined;
    let b = 0;
    for (const batch of recordBatches(records, { batchSize: o.batchSize, shuffle: o.shuffle, seed, epoch })) {
      if (b < skip) { b++; done += batch.size; continue; }
      // Read the sums back every logEvery-th step and at the end of the epoch; other steps
      // fetch nothing, and the sums still grow on the device.
      const reading = (b + 1) % o.logEvery === 0 || b === perEpoch - 1;
      const step: Step = { b, size: batch.size, reading, out: model.exe.run(feeds(batch), reading ? readBack : {}, { train: true }).catch((e: unknown) => { throw withSampleIndex(e, batch); }) };
      step.out.catch(() => undefined); // awaited in finish(); a failure must not go unhandled meanwhile
      b++;
      if (queued) await finish(queued);
      if (overlap) queued = step;
      else await finish(step);
      if (ctx.stopTraining) break;
    }
    if (queued) await finish(queued);
    bar?.finish();
    const seconds = (performance.now() - t0) / 1000;
    const logs: EpochLogs = { ...(current ?? (await readSums())) };
    if (o.validation) {
      const v = await evaluate(model, o.validation, { batchSize: o.validationBatchSize ?? o.batchSize });
      for (const [k, x] of Object.entries(v)) logs[`val_${k}`] = x;
    }
    logs['seconds'] = seconds;
    logs['samplesPerSecond'] = seconds > 0 ? samples / seconds : 0;
    history.epochs.push({ ...logs, epoch });
    if (o.verbose) log(epochLine(epoch, o.epochs, logs));
    await call('onEpochEnd', epoch, logs, ctx);
  }
  if (ctx.stopTraining) {
    history.stopReason = ctx.stopReason ?? 'stopped by a callback';
    if (o.verbose) log(`stopped: ${history.stopReason}`);
  }
  await call('onTrainEnd', ctx);
  return history;
}

/** Options of `evaluate`. */
export interface EvaluateOptions {
  /** Default 256. */
  batchSize?: number;
}

/**
 * Loss and metrics over a whole dataset (evaluation mode: dropout off, batchNorm on its
 * running statistics), as means over samples: each batch mean weighted by its size.
 *
 * @throws GraphError if the data does not fit the model's inputs; OptionsError for bad options or an empty dataset.
 * @example
 * const { loss, accuracy } = await evaluate(model, test);
 */
export async function evaluate(model: Model, data: Dataset | RecordDataset, options: EvaluateOptions = {}): Promise<Record<string, number>> {
  check('evaluate', [modelArg, dataset(), opts()], [model, data, options]);
  const { batchSize } = parseOptions(z.object({ batchSize: z.number().int().positive().default(256) }).strict(), options, 'evaluate');
  const fetches: Record<string, Tensor> = { loss: model.loss, ...model.metrics };
  const records = asRecords(model, data, 'evaluate', true);
  const feeds = feeder(model, records, 'evaluate', inputsFor(model, Object.values(fetches), false));
  if (records.count === 0) throw new OptionsError('evaluate: the dataset is empty');
  const sums: Record<string, number> = {};
  for (const batch of recordBatches(records, { batchSize })) {
    const out = await model.exe.run(feeds(batch), fetches).catch((e: unknown) => { throw withSampleIndex(e, batch); });
    for (const [k, v] of Object.entries(out)) sums[k] = (sums[k] ?? 0) + v.data[0]! * batch.size;
  }
  return Object.fromEntries(Object.keys(fetches).map((k) => [k, sums[k]! / records.count]));
}

/** Options of `predict`. */
export interface PredictOptions extends EvaluateOptions {
  /** `'all'`: every named output, as a record (default: the model's single or first output). */
  outputs?: 'all';
}

/** What `predict` returns: the model output for every example, in order, and its shape. */
export interface Predicted { data: Float32Array | Int32Array | Uint8Array; shape: number[] }

/**
 * The model's output for every sample, in order, batched through evaluation runs. `x` is
 * a Dataset, a flat Float32Array of whole samples of `x`, or a RecordDataset with a column
 * per input the outputs read (labels may be absent).
 *
 * @throws GraphError if the data does not fit the model's inputs; OptionsError for bad options or a Float32Array that is not whole samples.
 * @example
 * const { data: logits } = await predict(model, test.x);        // count * 10 values
 * const predicted = argMaxRows(logits, 10);
 * const { next, topic } = await predict(twoHeads, records, { outputs: 'all' });
 */
export async function predict(model: Model, x: Dataset | RecordDataset | Float32Array, options?: EvaluateOptions & { outputs?: undefined }): Promise<Predicted>;
export async function predict(model: Model, x: Dataset | RecordDataset | Float32Array, options: PredictOptions & { outputs: 'all' }): Promise<Record<string, Predicted>>;
export async function predict(model: Model, x: Dataset | RecordDataset | Float32Array, options: PredictOptions = {}): Promise<Predicted | Record<string, Predicted>> {
  check('predict', [modelArg, arg('x', 'a Dataset, a RecordDataset or a Float32Array', { value: z.union([z.instanceof(Float32Array), z.object({ count: z.number() }).passthrough()]) }), opts()], [model, x, options]);
  const o = parseOptions(z.object({ batchSize: z.number().int().positive().default(256), outputs: z.literal('all').optional() }).strict(), options, 'predict');
  let records: RecordDataset;
  if (x instanceof Float32Array) {
    if (!model.x) throw new GraphError(`predict: the model has no x input; give a RecordDataset with a column per input (${Object.keys(model.inputs).join(', ')})`);
    const per = model.x.shape.slice(1);
    if (per.some((d) => typeof d !== 'number')) throw new GraphError(`predict: input ${model.x} may have only its first dim symbolic`);
    const n = prod(per as number[]);
    if (x.length % n) throw new OptionsError(`predict: ${x.length} values are not whole samples of ${n} values for input ${model.x}`);
    records = asRecords(model, { x, y: new Int32Array(x.length / n), count: x.length / n, xShape: per as number[], yShape: [] }, 'predict', false);
  } else records = asRecords(model, x, 'predict', false);
  const wanted: Record<string, Tensor> = o.outputs === 'all' ? { ...model.outputs } : { output: model.output };
  const feeds = feeder(model, records, 'predict', inputsFor(model, Object.values(wanted), false));
  const chunks: Record<string, { data: Float32Array | Int32Array | Uint8Array; shape: readonly number[] }[]> = Object.fromEntries(Object.keys(wanted).map((k) => [k, []]));
  for (const batch of recordBatches(records, { batchSize: o.batchSize })) {
    const out = await model.exe.run(feeds(batch), wanted).catch((e: unknown) => { throw withSampleIndex(e, batch); });
    for (const k of Object.keys(wanted)) chunks[k]!.push(out[k]!);
  }
  const joined = (k: string): Predicted => {
    const cs = chunks[k]!;
    const rest = cs[0]?.shape.slice(1) ?? (wanted[k]!.shape.slice(1).filter((d): d is number => typeof d === 'number'));
    const per = prod(rest);
    const Ctor = (cs[0]?.data.constructor ?? Float32Array) as new (n: number) => Float32Array | Int32Array | Uint8Array;
    const data = new Ctor(records.count * per);
    let at = 0;
    for (const c of cs) { data.set(c.data, at); at += c.data.length; }
    return { data, shape: [records.count, ...rest] };
  };
  return o.outputs === 'all' ? Object.fromEntries(Object.keys(wanted).map((k) => [k, joined(k)])) : joined('output');
}
