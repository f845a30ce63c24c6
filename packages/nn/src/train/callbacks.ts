/**
 * The callback API of `fit`, and the built-in callbacks: early stopping and checkpointing.
 *
 *   await fit(model, train, { epochs: 50, validation, callbacks: [
 *     earlyStopping({ monitor: 'val_loss', patience: 3, restoreBestWeights: true }),
 *     modelCheckpoint({ path: 'ckpt/mlp.safetensors' }),
 *   ] });
 */
import { OptionsError, parseOptions } from '@kiln/core';
import { z } from 'zod';
import { NonFiniteCheckpointError, saveCheckpoint } from './checkpoint';
import type { Model } from './model';

/** Per-epoch numbers: `loss`, each metric, `val_loss`, `val_<metric>`, `seconds`, `samplesPerSecond`. */
export type EpochLogs = Record<string, number>;

/**
 * Per-batch numbers: `size` always; on the steps that read them back (every `logEvery`-th
 * and the last of an epoch), `loss` and each metric as running means over the epoch so far,
 * as Keras reports them.
 */
export interface BatchLogs {
  size: number;
  loss?: number;
  [metric: string]: number | undefined;
}

/** The state `fit` shares with callbacks. */
export interface TrainContext {
  readonly model: Model;
  readonly epochs: number;
  readonly batchSize: number;
  readonly batchesPerEpoch: number;
  /** The current epoch (0-based) and batch within it. */
  epoch: number;
  batch: number;
  /**
   * Where a run that continues this one starts: the epoch and batch after the last step
   * taken, as `fit({ initialEpoch, initialBatch })` takes them. Inside an epoch it also holds
   * the Executable's counters right after that step, because validation and callbacks may
   * run the model again before a checkpoint is written; at an epoch's end the counters then
   * are the ones to keep, and `counters` is absent.
   */
  resume: { epoch: number; batch: number; counters?: { runs: number; steps: number } };
  /** Prints a line in fit's log (nothing when fit is not verbose). */
  log(line: string): void;
  /** Set to stop training: checked after every batch and every epoch. */
  stopTraining: boolean;
  /** Why training stopped early, for the history (set it along with stopTraining). */
  stopReason?: string;
}

/** Hooks `fit` awaits at each stage; all optional. */
export interface Callback {
  /** Called once before the first epoch. */
  onTrainBegin?(ctx: TrainContext): void | Promise<void>;
  /** Called before each epoch (0-based). */
  onEpochBegin?(epoch: number, ctx: TrainContext): void | Promise<void>;
  /** Called after each training batch with its logs (loss, metrics). */
  onBatchEnd?(batch: number, logs: BatchLogs, ctx: TrainContext): void | Promise<void>;
  /** Called after each epoch with its logs (training and validation loss and metrics); may stop training through ctx. */
  onEpochEnd?(epoch: number, logs: EpochLogs, ctx: TrainContext): void | Promise<void>;
  /** Called once after training stops. */
  onTrainEnd?(ctx: TrainContext): void | Promise<void>;
}

type Mode = 'min' | 'max' | 'auto';
/** 'auto': accuracies are maximised, everything else minimised. */
const direction = (mode: Mode, monitor: string): 'min' | 'max' => (mode !== 'auto' ? mode : /acc|top/i.test(monitor) ? 'max' : 'min');

function monitored(logs: EpochLogs, monitor: string, who: string): number {
  const v = logs[monitor];
  if (v === undefined) throw new OptionsError(`${who}: monitor '${monitor}' is not in the epoch logs (${Object.keys(logs).join(', ')}); 'val_*' needs validation data`);
  return v;
}

/** Options of `earlyStopping`. */
export interface EarlyStoppingOptions {
  /** Which epoch log to watch (default 'val_loss'). */
  monitor?: string;
  /** Stop at the end of the `patience`-th epoch in a row without improvement (default 0: the first). */
  patience?: number;
  /** Smallest change that counts as an improvement (default 0). */
  minDelta?: number;
  mode?: Mode;
  /** At the end, put back the params of the best epoch (default false). */
  restoreBestWeights?: boolean;
}

/**
 * Stop when `monitor` has not improved for `patience` epochs in a row, counted as Keras's
 * `EarlyStopping` counts them: with `patience: 2` training stops at the end of the second
 * epoch without improvement (patience 0 and 1 both stop at the first). An improvement is a
 * change beyond `minDelta` in the `mode` direction; a NaN never improves.
 *
 * @example
 * earlyStopping({ monitor: 'val_accuracy', patience: 2, restoreBestWeights: true })
 */
export function earlyStopping(options: EarlyStoppingOptions = {}): Callback & { readonly bestEpoch: number; readonly best: number } {
  const o = parseOptions(z.object({
    monitor: z.string().default('val_loss'),
    patience: z.number().int().nonnegative().default(0),
    minDelta: z.number().nonnegative().default(0),
    mode: z.enum(['min', 'max', 'auto']).default('auto'),
    restoreBestWeights: z.boolean().default(false),
  }).strict(), options, 'earlyStopping');
  const dir = direction(o.mode, o.monitor);
  let best = dir === 'min' ? Infinity : -Infinity;
  let bestEpoch = -1;
  let wait = 0;
  let snapshot: Map<string, ArrayLike<number>> | undefined;
  return {
    get best() { return best; },
    get bestEpoch() { return bestEpoch; },
    onTrainBegin() { best = dir === 'min' ? Infinity : -Infinity; bestEpoch = -1; wait = 0; snapshot = undefined; },
    async onEpochEnd(epoch, logs, ctx) {
      const v = monitored(logs, o.monitor, 'earlyStopping');
      const improved = dir === 'min' ? v < best - o.minDelta : v > best + o.minDelta;
      if (improved) {
        best = v;
        bestEpoch = epoch;
        wait = 0;
        if (o.restoreBestWeights) {
          snapshot = new Map();
          for (const name of ctx.model.exe.paramNames) snapshot.set(name, (await ctx.model.exe.getParam(name)).data);
        }
        return;
      }
      // Keras: `wait += 1; if wait >= patience and epoch > 0: stop`.
      if (++wait >= o.patience && epoch > 0) {
        ctx.stopTraining = true;
        ctx.stopReason = `early stopping: ${o.monitor} did not improve for ${wait} epoch${wait > 1 ? 's' : ''} (best ${best} at epoch ${bestEpoch + 1})`;
      }
    },
    onTrainEnd(ctx) {
      if (snapshot && bestEpoch >= 0) for (const [name, data] of snapshot) ctx.model.exe.setParam(name, data);
    },
  };
}

/** Options of `modelCheckpoint`. */
export interface ModelCheckpointOptions {
  /** File to write; `{epoch}` is replaced by the 1-based number of the epoch just run. */
  path: string;
  /** Only save when `monitor` improves (default false: every epoch). */
  saveBestOnly?: boolean;
  monitor?: string;
  mode?: Mode;
  /**
   * Also save when the epoch's loss or any param is NaN or ±Infinity (default false: such
   * an epoch is skipped, so the last good file at `path` is kept).
   */
  saveNonFinite?: boolean;
  /** Extra metadata strings. */
  metadata?: Record<string, string>;
}

/**
 * Save a checkpoint at the end of each epoch (or of each improving epoch), including one
 * that training stopped part-way through. The file records where training continues
 * (`TrainContext.resume`): the next epoch after a whole one, or the next batch of an
 * unfinished one with the counters of its last step, so `loadCheckpoint` +
 * `fit({ initialEpoch, initialBatch })` resumes exactly as if never stopped. A diverged
 * epoch (non-finite loss or params) is not saved unless `saveNonFinite`, and says so in
 * fit's log.
 *
 * @example
 * modelCheckpoint({ path: 'ckpt/cnn-{epoch}.safetensors' })
 */
export function modelCheckpoint(options: ModelCheckpointOptions): Callback {
  const o = parseOptions(z.object({
    path: z.string().min(1),
    saveBestOnly: z.boolean().default(false),
    monitor: z.string().default('val_loss'),
    mode: z.enum(['min', 'max', 'auto']).default('auto'),
    saveNonFinite: z.boolean().default(false),
    metadata: z.record(z.string(), z.string()).optional(),
  }).strict(), options, 'modelCheckpoint');
  const dir = direction(o.mode, o.monitor);
  let best = dir === 'min' ? Infinity : -Infinity;
  return {
    onTrainBegin() { best = dir === 'min' ? Infinity : -Infinity; },
    async onEpochEnd(epoch, logs, ctx) {
      const path = o.path.replaceAll('{epoch}', String(epoch + 1));
      const loss = logs['loss'];
      if (!o.saveNonFinite && loss !== undefined && !Number.isFinite(loss)) {
        ctx.log(`modelCheckpoint: epoch ${epoch + 1} not saved to ${path}: loss is ${loss}`);
        return;
      }
      if (o.saveBestOnly) {
        const v = monitored(logs, o.monitor, 'modelCheckpoint');
        if (!(dir === 'min' ? v < best : v > best)) return;
        best = v;
      }
      const { epoch: at, batch, counters } = ctx.resume;
      try {
        await saveCheckpoint(ctx.model, path, {
          epoch: at, batch, ...(counters ? { counters } : {}), allowNonFinite: o.saveNonFinite, ...(o.metadata ? { metadata: o.metadata } : {}),
        });
      } catch (e) {
        if (!(e instanceof NonFiniteCheckpointError)) throw e;
        ctx.log(`modelCheckpoint: epoch ${epoch + 1} ${e.message.slice(path.length + 2)}`);
      }
    },
  };
}

/**
 * A callback from plain functions.
 *
 * @example
 * onEpoch((epoch, logs) => chart.push(logs.val_accuracy))
 */
export function onEpoch(fn: (epoch: number, logs: EpochLogs, ctx: TrainContext) => void | Promise<void>): Callback {
  return { onEpochEnd: fn };
}
