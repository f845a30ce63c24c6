/**
 * The training loop and its two companions:
 *
 *   const history = await fit(model, train, { epochs: 5, batchSize: 128, validation: test });
 *   const { loss, accuracy } = await evaluate(model, test);
 *   const { data, shape } = await predict(model, test.x);   // [count, ...output dims]
 *
 * Each training step is one `run(..., { train: true })`. The epoch's loss and metrics are
 * summed on the device by the step itself (see `Model.statistics`) and read back only every
 * `logEvery` steps and at the end of the epoch; the other steps fetch nothing, so the host
 * never waits on the device for a number it does not show, and the reported epoch numbers
 * are still exact means over every sample (as Keras reports them). The last partial batch
 * is trained on, through the symbolic batch dimension (one more compiled variant).
 */
import { type FeedValue, GraphError, OptionsError, parseOptions, type Tensor } from '@kiln/core';
import { z } from 'zod';
import { type Batch, batchCount, batches, type Dataset } from '../data';
import { formatDuration, formatMetric, ProgressBar, type ProgressStream } from '../progress';
import type { BatchLogs, Callback, EpochLogs, TrainContext } from './callbacks';
import type { Model } from './model';

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
  validation?: Dataset;
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
  validation: z.custom<Dataset>((v) => isDataset(v), 'expected a Dataset ({ x, y, count, xShape, yShape })').optional(),
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

const prod = (s: readonly number[]) => s.reduce((a, b) => a * b, 1);

/** Per-sample static dims of a batch-first input, checked against the dataset's. */
function sampleShape(t: Tensor, dataShape: readonly number[], what: string): number[] {
  const [first, ...rest] = t.shape;
  if (typeof first !== 'string') throw new GraphError(`${what}: input '${t.node.attrs.name}' ${t} needs a symbolic batch dim first (g.input(name, ['batch', ...])) so the last partial batch fits`);
  if (rest.some((d) => typeof d !== 'number')) throw new GraphError(`${what}: input '${t.node.attrs.name}' ${t} may have only its first dim symbolic`);
  const dims = rest as number[];
  if (prod(dims) !== prod(dataShape)) throw new GraphError(`${what}: samples of shape [${dataShape.join(', ')}] do not fit input '${t.node.attrs.name}' ${t} (${prod(dataShape)} vs ${prod(dims)} values per sample)`);
  return dims;
}

/** Feeds for one batch: the data's rows, viewed in the model's per-sample shape. */
function feeder(model: Model, ds: Dataset, what: string, withLabels: boolean): (b: Batch) => Record<string, FeedValue> {
  if (!isDataset(ds)) throw new OptionsError(`${what}: data must be a Dataset ({ x, y, count, xShape, yShape }; see data.createDataset)`);
  if (model.x.dtype !== 'f32') throw new GraphError(`${what}: input '${model.inputName}' is ${model.x.dtype}; datasets hold f32 samples`);
  const xs = sampleShape(model.x, ds.xShape, what);
  if (!withLabels) return (b) => ({ [model.inputName]: { data: b.x, shape: [b.size, ...xs] } });
  const labelDType = ds.y instanceof Int32Array ? 'i32' : 'f32';
  if (model.y.dtype !== labelDType) throw new GraphError(`${what}: the data's labels are ${labelDType} (${ds.y.constructor.name}) but input '${model.labelName}' is ${model.y.dtype}`);
  const ys = sampleShape(model.y, ds.yShape, what);
  return (b) => ({ [model.inputName]: { data: b.x, shape: [b.size, ...xs] }, [model.labelName]: { data: b.y, shape: [b.size, ...ys] } });
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
 * @example
 * const history = await fit(model, train, {
 *   epochs: 10, batchSize: 128, validation,
 *   callbacks: [earlyStopping({ patience: 2 })],
 * });
 */
export async function fit(model: Model, data: Dataset, options: FitOptions = {}): Promise<History> {
  const o = parseOptions(fitSchema, options, 'fit');
  if (!model.trainable) throw new GraphError('fit: the model has no training updates (give buildModel an optimizer)');
  const feeds = feeder(model, data, 'fit', true);
  if (o.validation) feeder(model, o.validation, 'fit (validation)', true);
  if (data.count === 0) throw new OptionsError('fit: the dataset is empty');
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
    let b = 0;
    for (const batch of batches(data, { batchSize: o.batchSize, shuffle: o.shuffle, seed, epoch })) {
      if (b < skip) { b++; done += batch.size; continue; }
      // Read the sums back every logEvery-th step and at the end of the epoch; other steps
      // fetch nothing, and the sums still grow on the device.
      const reading = (b + 1) % o.logEvery === 0 || b === perEpoch - 1;
      const out = await model.exe.run(feeds(batch), reading ? readBack : {}, { train: true });
      const logs: BatchLogs = { size: batch.size };
      current = undefined;
      if (reading) {
        current = means((k) => out[`t:${k}`]!.data[0]!, out['count']!.data[0]!);
        Object.assign(logs, current);
        shown = { loss: current['loss']! };
        if (!Number.isFinite(current['loss'])) {
          ctx.stopTraining = true;
          const where = lastRead + 1 === b ? `batch ${b + 1}` : `one of batches ${lastRead + 2}-${b + 1}`;
          ctx.stopReason = `loss is ${current['loss']} at epoch ${epoch + 1}, ${where}`;
        }
        lastRead = b;
      }
      samples += batch.size;
      done += batch.size;
      bar?.update(done, shown);
      ctx.batch = b;
      ctx.resume = b + 1 < perEpoch
        ? { epoch, batch: b + 1, counters: { runs: model.exe.runs, steps: model.exe.steps } }
        : { epoch: epoch + 1, batch: 0 };
      await call('onBatchEnd', b, logs, ctx);
      b++;
      if (ctx.stopTraining) break;
    }
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

export interface EvaluateOptions {
  /** Default 256. */
  batchSize?: number;
}

/**
 * Loss and metrics over a whole dataset (evaluation mode: dropout off, batchNorm on its
 * running statistics), as means over samples: each batch mean weighted by its size.
 *
 * @example
 * const { loss, accuracy } = await evaluate(model, test);
 */
export async function evaluate(model: Model, data: Dataset, options: EvaluateOptions = {}): Promise<Record<string, number>> {
  const { batchSize } = parseOptions(z.object({ batchSize: z.number().int().positive().default(256) }).strict(), options, 'evaluate');
  const feeds = feeder(model, data, 'evaluate', true);
  if (data.count === 0) throw new OptionsError('evaluate: the dataset is empty');
  const fetches: Record<string, Tensor> = { loss: model.loss, ...model.metrics };
  const sums: Record<string, number> = {};
  for (const batch of batches(data, { batchSize })) {
    const out = await model.exe.run(feeds(batch), fetches);
    for (const [k, v] of Object.entries(out)) sums[k] = (sums[k] ?? 0) + v.data[0]! * batch.size;
  }
  return Object.fromEntries(Object.keys(fetches).map((k) => [k, sums[k]! / data.count]));
}

/**
 * The model's output for every sample, in order, batched through evaluation runs.
 * `x` is a Dataset or a flat Float32Array of whole samples.
 *
 * @example
 * const { data: logits } = await predict(model, test.x);        // count * 10 values
 * const predicted = argMaxRows(logits, 10);
 */
export async function predict(model: Model, x: Dataset | Float32Array, options: EvaluateOptions = {}): Promise<{ data: Float32Array | Int32Array | Uint8Array; shape: number[] }> {
  const { batchSize } = parseOptions(z.object({ batchSize: z.number().int().positive().default(256) }).strict(), options, 'predict');
  let ds: Dataset;
  if (x instanceof Float32Array) {
    const per = model.x.shape.slice(1);
    if (per.some((d) => typeof d !== 'number')) throw new GraphError(`predict: input ${model.x} may have only its first dim symbolic`);
    const n = prod(per as number[]);
    if (x.length % n) throw new OptionsError(`predict: ${x.length} values are not whole samples of ${n} values for input ${model.x}`);
    ds = { x, y: new Int32Array(x.length / n), count: x.length / n, xShape: per as number[], yShape: [] };
  } else ds = x;
  const feeds = feeder(model, ds, 'predict', false);
  const chunks: { data: Float32Array | Int32Array | Uint8Array; shape: readonly number[] }[] = [];
  for (const batch of batches(ds, { batchSize })) chunks.push((await model.exe.run(feeds(batch), { output: model.output })).output);
  const rest = chunks[0]?.shape.slice(1) ?? (model.output.shape.slice(1).filter((d): d is number => typeof d === 'number'));
  const per = prod(rest);
  const Ctor = (chunks[0]?.data.constructor ?? Float32Array) as new (n: number) => Float32Array | Int32Array | Uint8Array;
  const data = new Ctor(ds.count * per);
  let at = 0;
  for (const c of chunks) { data.set(c.data, at); at += c.data.length; }
  return { data, shape: [ds.count, ...rest] };
}
