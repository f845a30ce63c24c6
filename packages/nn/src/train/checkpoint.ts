/**
 * Checkpoints of a whole Executable: every param — weights, batchNorm running statistics,
 * optimizer slots, the epoch sums `fit` reports — as a safetensors tensor under its param
 * name, plus metadata strings with the run/step counters and the training position (epoch,
 * batch), so that `loadCheckpoint` + `fit({ initialEpoch, initialBatch })` continues
 * exactly where the saved run stopped. The params and counters are one snapshot taken
 * between runs (Executable.snapshot), and params that are not finite are not saved unless
 * asked for, so a diverged run never replaces a good file.
 *
 *   await saveCheckpoint(model, 'mlp.safetensors', { epoch: 3 });
 *   const { epoch, batch } = await loadCheckpoint(model, 'mlp.safetensors');
 *
 * Loading checks the whole file against the model first — every param present, no
 * unknown tensor, dtypes and shapes equal, counters well-formed — and only then writes;
 * a refused file leaves the model exactly as it was.
 */
import type { DType, Executable, Graph } from '@kiln/core';
import { CheckpointError, decodeSafetensors, encodeSafetensors, loadSafetensors, saveSafetensors, type SafetensorsFile, type SafetensorsTensor } from '../checkpoint';
import { Model, STATISTICS_PREFIX } from './model';
import { bytesArg, check, optional, opts, pathArg } from '../args';
import { targetArg } from './args';

/** The format tag written into every checkpoint's metadata (checked when loading). */
export const CHECKPOINT_FORMAT = 'kiln-checkpoint';
const VERSION = '1';
/** Metadata keys the checkpoint itself writes; user metadata may not use them. */
const RESERVED = ['format', 'version', 'runs', 'steps', 'epoch', 'batch'] as const;

const TO_FILE: Record<DType, 'F32' | 'I32' | 'BOOL'> = { f32: 'F32', i32: 'I32', bool: 'BOOL' };

/** Options of `saveCheckpoint`. */
export interface SaveCheckpointOptions {
  /** The epoch to resume at (the next one to run); default 0. */
  epoch?: number;
  /** The batch within `epoch` to resume at; default 0. */
  batch?: number;
  /**
   * The run and step counters to record; default the Executable's own at the snapshot.
   * `fit` passes the ones right after the last step taken when it saves mid-epoch
   * (`TrainContext.resume.counters`), as validation runs may have come after it.
   */
  counters?: { runs: number; steps: number };
  /**
   * Write params that hold NaN or ±Infinity (default false: refuse, so a diverged run
   * never replaces a good checkpoint).
   */
  allowNonFinite?: boolean;
  /** Extra strings stored in the header's `__metadata__`. */
  metadata?: Record<string, string>;
}

/** Options of `loadCheckpoint`. */
export interface LoadCheckpointOptions {
  /** Refuse tensors the model does not have (default true). */
  strict?: boolean;
}

/** What a checkpoint records besides params: epoch, batch, the step and run counters, and user metadata. */
export interface CheckpointInfo {
  epoch: number;
  batch: number;
  /** Training steps and runs the Executable had done when saved (now restored). */
  steps: number;
  runs: number;
  metadata: Record<string, string>;
}

const exeOf = (target: Model | Executable): Executable => (target instanceof Model ? target.exe : target);

function count(v: number | undefined, what: string): number {
  const n = v ?? 0;
  if (!Number.isSafeInteger(n) || n < 0) throw new CheckpointError(`saveCheckpoint: ${what} must be a non-negative integer, got ${String(v)}`);
  return n;
}

/** Whether a param is one of the epoch sums `Model` adds (`metrics/count`, `metrics/<name>/total`). */
const isEpochSum = (name: string, trainable: boolean): boolean =>
  !trainable && name.startsWith(STATISTICS_PREFIX) && (name === `${STATISTICS_PREFIX}count` || name.endsWith('/total'));

/** A save refused because params are not finite (a subclass, so modelCheckpoint can tell it apart). */
export class NonFiniteCheckpointError extends CheckpointError {
  constructor(message: string) {
    super(message);
    this.name = 'NonFiniteCheckpointError';
  }
}

/** The first param holding NaN or ±Infinity, described, or undefined when all are finite. */
function firstNonFinite(g: Graph, tensors: Record<string, SafetensorsTensor>): string | undefined {
  for (const [name, t] of Object.entries(tensors)) {
    // A NaN metric (say 0/0 on some batch) leaves the model intact: the epoch sums are not checked.
    if (t.dtype !== 'F32' || isEpochSum(name, g.params.get(name)!.trainable)) continue;
    const i = t.data.findIndex((v) => !Number.isFinite(v));
    if (i >= 0) return `param '${name}' holds ${t.data[i]} at element ${i}`;
  }
  return undefined;
}

/**
 * The checkpoint's tensors and metadata, from one consistent snapshot of the Executable:
 * it waits for the runs queued before it, and runs queued after it wait for it.
 */
async function collect(target: Model | Executable, options: SaveCheckpointOptions, where: string): Promise<SafetensorsFile> {
  const exe = exeOf(target);
  const user = options.metadata ?? {};
  for (const k of RESERVED) if (Object.hasOwn(user, k)) throw new CheckpointError(`saveCheckpoint: metadata key '${k}' is reserved`);
  const epoch = count(options.epoch, 'epoch');
  const batch = count(options.batch, 'batch');
  if (options.counters !== undefined) { count(options.counters.runs, 'counters.runs'); count(options.counters.steps, 'counters.steps'); }
  const state = await exe.snapshot();
  const counters = options.counters ?? state;
  const metadata: Record<string, string> = {
    ...user,
    format: CHECKPOINT_FORMAT,
    version: VERSION,
    runs: String(counters.runs),
    steps: String(counters.steps),
    epoch: String(epoch),
    batch: String(batch),
  };
  const tensors: Record<string, SafetensorsTensor> = {};
  for (const [name, p] of state.params) {
    // A fresh array of the param's dtype: f32 -> Float32Array, i32 -> Int32Array, bool -> Uint8Array.
    tensors[name] = { dtype: TO_FILE[p.dtype], shape: [...p.shape], data: p.data } as SafetensorsTensor;
  }
  const bad = options.allowNonFinite ? undefined : firstNonFinite(exe.graph, tensors);
  if (bad !== undefined) {
    throw new NonFiniteCheckpointError(`${where}: not saved: ${bad} (the model has diverged; pass { allowNonFinite: true } to save it anyway)`);
  }
  return { tensors, metadata };
}

/**
 * The checkpoint as safetensors bytes (for browsers, or to store elsewhere).
 *
 * @throws CheckpointError for reserved metadata keys or bad positions;
 *   NonFiniteCheckpointError when a param holds NaN or ±Infinity (unless allowNonFinite).
 * @example
 * const bytes = await checkpointBytes(model, { epoch: 1 });
 */
export async function checkpointBytes(target: Model | Executable, options: SaveCheckpointOptions = {}): Promise<Uint8Array> {
  check('checkpointBytes', [targetArg, opts()], [target, options]);
  const { tensors, metadata } = await collect(target, options, 'checkpointBytes');
  return encodeSafetensors(tensors, metadata);
}

/**
 * Save every param and the training position to a safetensors file. The params and
 * counters are one consistent snapshot between runs (runs called before the save finish
 * first; runs called after wait for the snapshot). The file is written atomically and
 * durably (see {@link saveSafetensors}); missing folders are created.
 *
 * @throws CheckpointError for reserved metadata keys, bad positions, or a failed write
 *   (naming `path` and the operation, the Node error as cause); NonFiniteCheckpointError,
 *   leaving any file at `path` as it was, when a param holds NaN or ±Infinity (unless
 *   allowNonFinite).
 * @example
 * await saveCheckpoint(model, 'checkpoints/mnist-mlp.safetensors', { epoch: 5 });
 */
export async function saveCheckpoint(target: Model | Executable, path: string, options: SaveCheckpointOptions = {}): Promise<void> {
  check('saveCheckpoint', [targetArg, pathArg(), opts()], [target, path, options]);
  const { tensors, metadata } = await collect(target, options, path);
  await saveSafetensors(path, tensors, metadata);
}

/** A counter from the metadata (absent: 0), or a description of what is wrong with it. */
function parseCounter(meta: Record<string, string>, key: string): number | string {
  const v = meta[key];
  if (v === undefined) return 0;
  if (!/^\d+$/.test(v) || !Number.isSafeInteger(Number(v))) return `metadata '${key}' is '${v}', expected a non-negative integer`;
  return Number(v);
}

/**
 * Check a decoded checkpoint against the Executable and, only if everything matches,
 * write it in: params and counters as one step between runs (runs called before the load
 * use the old params, runs called after it the loaded ones).
 *
 * @throws CheckpointError listing every problem at once (missing or unknown tensors, wrong
 *   dtypes or shapes, bad counters, another format); the model is then left unchanged.
 * @example
 * const info = await restoreCheckpoint(model, decodeSafetensors(bytes));
 */
export async function restoreCheckpoint(target: Model | Executable, file: SafetensorsFile, options: LoadCheckpointOptions & { source?: string } = {}): Promise<CheckpointInfo> {
  check('restoreCheckpoint', [targetArg, opts('file'), opts()], [target, file, options]);
  const exe = exeOf(target);
  const src = options.source ?? 'checkpoint';
  const strict = options.strict ?? true;
  const g = exe.graph;
  const problems: string[] = [];
  const meta = file.metadata;
  if (meta['format'] !== undefined && meta['format'] !== CHECKPOINT_FORMAT) problems.push(`metadata format is '${meta['format']}', expected '${CHECKPOINT_FORMAT}'`);
  if (meta['version'] !== undefined && meta['version'] !== VERSION) problems.push(`checkpoint version ${meta['version']} is not supported (this reader knows ${VERSION})`);
  const counters: Record<string, number> = {};
  for (const k of ['runs', 'steps', 'epoch', 'batch']) {
    const c = parseCounter(meta, k);
    if (typeof c === 'string') problems.push(c); else counters[k] = c;
  }
  const writes: [string, ArrayLike<number>][] = [];
  for (const [name, p] of g.params) {
    const node = g.nodes[p.id]!;
    const t = Object.hasOwn(file.tensors, name) ? file.tensors[name]! : undefined;
    if (!t && isEpochSum(name, p.trainable)) {
      // Reporting state only (Model.statistics): a checkpoint written before it existed starts the sums at zero.
      writes.push([name, [0]]);
      continue;
    }
    if (!t) { problems.push(`missing tensor '${name}' (${TO_FILE[node.dtype]} [${node.shape.join(', ')}])`); continue; }
    const want = node.shape as number[];
    const bad: string[] = [];
    if (t.dtype !== TO_FILE[node.dtype]) bad.push(`dtype ${t.dtype}, the model's is ${TO_FILE[node.dtype]}`);
    if (t.shape.length !== want.length || t.shape.some((d, i) => d !== want[i])) bad.push(`shape [${t.shape.join(', ')}], the model's is [${want.join(', ')}]`);
    if (bad.length) { problems.push(`tensor '${name}' has ${bad.join(' and ')}`); continue; }
    writes.push([name, t.data as ArrayLike<number>]);
  }
  if (strict) {
    const unknown = Object.keys(file.tensors).filter((k) => !g.params.has(k));
    if (unknown.length) problems.push(`tensor${unknown.length > 1 ? 's' : ''} not in the model: ${unknown.map((k) => `'${k}'`).join(', ')} (pass { strict: false } to ignore)`);
  }
  if (problems.length) throw new CheckpointError(`${src} does not fit this model, nothing was loaded: ${problems.join('; ')}`);
  await exe.restore({ params: new Map(writes), runs: counters['runs']!, steps: counters['steps']! });
  return { epoch: counters['epoch']!, batch: counters['batch']!, steps: counters['steps']!, runs: counters['runs']!, metadata: { ...meta } };
}

/**
 * Load a checkpoint written by {@link saveCheckpoint} into a model built the same way.
 * A truncated/corrupt file or one that does not match the model is refused with a
 * CheckpointError, and the model is left unchanged. Once the file is read, params and
 * counters are written as one step between runs (see {@link restoreCheckpoint}); await
 * the load before running the model on.
 *
 * @example
 * const { epoch, batch } = await loadCheckpoint(model, 'mlp.safetensors');
 * await fit(model, train, { epochs: 10, initialEpoch: epoch, initialBatch: batch });
 */
export async function loadCheckpoint(target: Model | Executable, path: string, options: LoadCheckpointOptions = {}): Promise<CheckpointInfo> {
  check('loadCheckpoint', [targetArg, pathArg(), opts()], [target, path, options]);
  const file = await loadSafetensors(path);
  return restoreCheckpoint(target, file, { ...options, source: path });
}

/**
 * {@link loadCheckpoint} on bytes.
 *
 * @example
 * const { epoch } = await loadCheckpointBytes(model, await checkpointBytes(other));
 */
export async function loadCheckpointBytes(target: Model | Executable, bytes: Uint8Array, options: LoadCheckpointOptions = {}): Promise<CheckpointInfo> {
  check('loadCheckpointBytes', [targetArg, bytesArg(), opts()], [target, bytes, options]);
  return restoreCheckpoint(target, decodeSafetensors(bytes, 'checkpoint'), { ...options, source: 'checkpoint' });
}
