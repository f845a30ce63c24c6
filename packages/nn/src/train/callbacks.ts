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
import { saveCheckpoint } from './checkpoint';
import type { Model } from './model';

/** Per-epoch numbers: `loss`, each metric, `val_loss`, `val_<metric>`, `seconds`, `samplesPerSecond`. */
export type EpochLogs = Record<string, number>;

/** Per-batch numbers: `size` always; `loss` and metrics only on the steps that read them back. */
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
  /** Set to stop training: checked after every batch and every epoch. */
  stopTraining: boolean;
  /** Why training stopped early, for the history (set it along with stopTraining). */
  stopReason?: string;
}

/** Hooks `fit` awaits at each stage; all optional. */
export interface Callback {
  onTrainBegin?(ctx: TrainContext): void | Promise<void>;
  onEpochBegin?(epoch: number, ctx: TrainContext): void | Promise<void>;
  onBatchEnd?(batch: number, logs: BatchLogs, ctx: TrainContext): void | Promise<void>;
  onEpochEnd?(epoch: number, logs: EpochLogs, ctx: TrainContext): void | Promise<void>;
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

export interface EarlyStoppingOptions {
  /** Which epoch log to watch (default 'val_loss'). */
  monitor?: string;
  /** Epochs without improvement before stopping (default 0). */
  patience?: number;
  /** Smallest change that counts as an improvement (default 0). */
  minDelta?: number;
  mode?: Mode;
  /** At the end, put back the params of the best epoch (default false). */
  restoreBestWeights?: boolean;
}

/**
 * Stop when `monitor` has not improved for `patience` epochs.
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
      if (++wait > o.patience) {
        ctx.stopTraining = true;
        ctx.stopReason = `early stopping: ${o.monitor} did not improve for ${wait} epoch${wait > 1 ? 's' : ''} (best ${best} at epoch ${bestEpoch + 1})`;
      }
    },
    onTrainEnd(ctx) {
      if (snapshot && bestEpoch >= 0) for (const [name, data] of snapshot) ctx.model.exe.setParam(name, data);
    },
  };
}

export interface ModelCheckpointOptions {
  /** File to write; `{epoch}` is replaced by the 1-based epoch number. */
  path: string;
  /** Only save when `monitor` improves (default false: every epoch). */
  saveBestOnly?: boolean;
  monitor?: string;
  mode?: Mode;
  /** Extra metadata strings. */
  metadata?: Record<string, string>;
}

/**
 * Save a checkpoint at the end of each epoch (or of each improving epoch). The file
 * records the next epoch to run, so `loadCheckpoint` + `fit({ initialEpoch })` resumes.
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
    metadata: z.record(z.string(), z.string()).optional(),
  }).strict(), options, 'modelCheckpoint');
  const dir = direction(o.mode, o.monitor);
  let best = dir === 'min' ? Infinity : -Infinity;
  return {
    onTrainBegin() { best = dir === 'min' ? Infinity : -Infinity; },
    async onEpochEnd(epoch, logs, ctx) {
      if (o.saveBestOnly) {
        const v = monitored(logs, o.monitor, 'modelCheckpoint');
        if (!(dir === 'min' ? v < best : v > best)) return;
        best = v;
      }
      await saveCheckpoint(ctx.model, o.path.replaceAll('{epoch}', String(epoch + 1)), { epoch: epoch + 1, batch: 0, ...(o.metadata ? { metadata: o.metadata } : {}) });
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
