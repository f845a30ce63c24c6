/**
 * A Model bundles what training needs: the graph, its input and label tensors, the output,
 * the scalar loss, scalar metrics, and the compiled Executable that holds the params.
 */
import { type Backend, compileWith, type Executable, Graph, GraphError, OptionsError, type Optimizer, shapeToString, Tensor, TRAINING_INPUT } from '@kiln/core';
import { layerKinds } from '../layers/naming';
import { layerTrace } from '../layers/sequential';

/** What the build function of {@link buildModel} returns. */
export interface ModelSpec {
  /** The input that a dataset's `x` feeds, batch first (`['batch', ...]`). */
  x?: Tensor;
  /** The input that a dataset's `y` (labels or targets) feeds, batch first. */
  y?: Tensor;
  /**
   * Graph inputs fed by name from a {@link data.RecordDataset}'s columns, of any dtype (i32 token
   * ids, bool masks), labels included; batch first. With `x`/`y` or instead of them.
   */
  inputs?: Tensor[];
  /** What `predict` returns, e.g. logits; several outputs by name. */
  output: Tensor | Record<string, Tensor>;
  /**
   * The training objective: a scalar, the mean over the batch; or one such loss per name,
   * trained on as `sum(lossWeights[k] * loss[k])` and reported as `loss` (the weighted sum)
   * and `<k>_loss` each (as Keras names them).
   */
  loss: Tensor | Record<string, Tensor>;
  /** Weights of named losses (default 1 each). */
  lossWeights?: Record<string, number>;
  /** Scalar batch means reported by `fit`/`evaluate`, e.g. `{ accuracy: accuracy(logits, y) }`. */
  metrics?: Record<string, Tensor>;
  /** Adds the update nodes (`g.minimize(loss, optimizer)`); without one the model only evaluates. */
  optimizer?: Optimizer;
}

export interface ModelParts {
  exe: Executable;
  x?: Tensor;
  y?: Tensor;
  /** More inputs fed by name from record datasets (see {@link ModelSpec.inputs}). */
  inputs?: Tensor[];
  output: Tensor | Record<string, Tensor>;
  loss: Tensor;
  metrics?: Record<string, Tensor>;
}

/**
 * Sums over an epoch that live on the device, like Keras's `Mean` metrics: for the loss and
 * each metric a non-trainable f32 param `metrics/<name>/total` (the batch mean times the
 * batch size, summed), and `metrics/count` (the samples). Every training run adds to them
 * through assign nodes, so `fit` reports exact per-sample epoch means while reading the
 * device back only when it shows a number. They are params, so checkpoints carry them and
 * a run resumed mid-epoch reports the same epoch means as an uninterrupted one.
 * NOTE: f32 sums: the count is exact up to 2**24 samples an epoch, and the totals carry
 * the usual f32 rounding of a running sum (relative error about 1e-7 per step at worst).
 */
export interface EpochStatistics {
  /** 'loss', then the metric names. */
  readonly names: readonly string[];
  /** The running sums (params), by name. */
  readonly totals: Readonly<Record<string, Tensor>>;
  /** The number of samples summed (a param). */
  readonly count: Tensor;
  /** What a training run writes into each total and the count: fetch these to read the sums after that run. */
  readonly updatedTotals: Readonly<Record<string, Tensor>>;
  readonly updatedCount: Tensor;
}

export const STATISTICS_PREFIX = 'metrics/';

/** The epoch statistics of `g` for this loss and these metrics: found (made before), else added. */
function epochStatistics(g: Graph, x: Tensor, loss: Tensor, metrics: Record<string, Tensor>, canAdd: boolean): EpochStatistics {
  const values: Record<string, Tensor> = { loss, ...metrics };
  const names = Object.keys(values);
  const countName = `${STATISTICS_PREFIX}count`;
  const totalName = (k: string) => `${STATISTICS_PREFIX}${k}/total`;
  const assigned = (param: Tensor): Tensor | undefined => {
    const id = g.updates.find((u) => g.nodes[u]!.inputs[0] === param.id);
    return id === undefined ? undefined : g.tensor(g.nodes[id]!.inputs[1]!);
  };
  if (g.params.has(countName)) {
    const count = g.tensor(g.params.get(countName)!.id);
    const totals: Record<string, Tensor> = {};
    const updatedTotals: Record<string, Tensor> = {};
    // The sum of `k` is `total + value * n`, with value possibly cast to f32: it must sum this Model's tensor.
    const sums = (next: Tensor, v: Tensor): boolean => {
      const src = g.nodes[g.nodes[next.node.inputs[1]!]!.inputs[0]!]!;
      return src.id === v.id || (src.op === 'cast' && src.inputs[0] === v.id);
    };
    for (const k of names) {
      const p = g.params.get(totalName(k));
      const next = p && assigned(g.tensor(p.id));
      if (!p || !next || !sums(next, values[k]!)) {
        throw new GraphError(`Model: the graph's epoch sum '${totalName(k)}' is missing or sums another tensor: wrap one graph in Models of the same loss and metrics`);
      }
      totals[k] = g.tensor(p.id);
      updatedTotals[k] = next;
    }
    return { names, totals, count, updatedTotals, updatedCount: assigned(count)! };
  }
  if (!canAdd) {
    throw new GraphError('Model: wrap the Executable in a Model before its first run (the epoch statistics fit reports are graph updates)');
  }
  // The batch size as an f32 scalar, bound at run time like any symbolic dim.
  const n = g.addNode('dimSize', [], { dims: [x.shape[0]!] });
  const count = g.param(countName, [], { trainable: false });
  const updatedCount = count.add(n);
  g.assign(count, updatedCount);
  const totals: Record<string, Tensor> = {};
  const updatedTotals: Record<string, Tensor> = {};
  for (const k of names) {
    const total = g.param(totalName(k), [], { trainable: false });
    const v = values[k]!;
    const next = total.add((v.dtype === 'f32' ? v : v.cast('f32')).mul(n));
    g.assign(total, next);
    totals[k] = total;
    updatedTotals[k] = next;
  }
  return { names, totals, count, updatedTotals, updatedCount };
}

export class Model {
  readonly exe: Executable;
  /** The device-side epoch sums `fit` reports; see {@link EpochStatistics}. */
  readonly statistics: EpochStatistics;
  /** Every input data feeds, by input name: `x`, `y` and `inputs`. */
  readonly inputs: Readonly<Record<string, Tensor>>;
  readonly x?: Tensor;
  readonly y?: Tensor;
  /** The outputs by name (a single output is named `output`). */
  readonly outputs: Readonly<Record<string, Tensor>>;
  /** The single output, or the first named one. */
  readonly output: Tensor;
  readonly loss: Tensor;
  readonly metrics: Readonly<Record<string, Tensor>>;

  /**
   * Wrap an Executable you compiled yourself; {@link buildModel} is the usual way. Adds the
   * epoch statistics to its graph, so wrap it before its first run.
   *
   * @throws GraphError for tensors of another graph, inputs that are not graph inputs (or
   *   are given twice), a non-scalar loss or metric, or an Executable that has run already.
   */
  constructor(parts: ModelParts) {
    const { exe, x, y, inputs: more = [], output, loss, metrics = {} } = parts;
    const g = exe.graph;
    const own = (t: Tensor, what: string) => {
      if (!t || t.graph !== g) throw new GraphError(`Model: ${what} must be a Tensor of the Executable's graph`);
    };
    const outputs: Record<string, Tensor> = output instanceof Tensor ? { output } : { ...output };
    if (!Object.keys(outputs).length) throw new GraphError('Model: needs at least one output');
    for (const [k, t] of Object.entries(outputs)) own(t, `output '${k}'`);
    own(loss, 'loss');
    const fed: [string, Tensor][] = [...(x ? [['x', x] as [string, Tensor]] : []), ...(y ? [['y', y] as [string, Tensor]] : []), ...(Array.isArray(more) ? more : []).map((t, i) => [`inputs[${i}]`, t] as [string, Tensor])];
    if (!fed.length) throw new GraphError('Model: needs the inputs data feeds (x and y, or inputs)');
    const inputs: Record<string, Tensor> = {};
    for (const [k, t] of fed) {
      own(t, k);
      if (t.op !== 'input') throw new GraphError(`Model: ${k} must be a graph input (g.input), got ${t}`);
      if (t.rank < 1) throw new GraphError(`Model: ${k} ${t} needs a leading batch dimension`);
      const name = t.node.attrs.name as string;
      if (inputs[name]) throw new GraphError(`Model: input '${name}' is given twice${x && y && x.id === y.id ? ' (x and y must be different inputs)' : ''}`);
      inputs[name] = t;
    }
    if (loss.rank !== 0 || loss.dtype !== 'f32') throw new GraphError(`Model: loss must be an f32 scalar (a mean over the batch), got ${loss}`);
    for (const [k, t] of Object.entries(metrics)) {
      own(t, `metric '${k}'`);
      if (k === 'loss' || k.startsWith('val_')) throw new OptionsError(`Model: metric name '${k}' is reserved`);
      if (t.rank !== 0) throw new GraphError(`Model: metric '${k}' must be a scalar batch mean, got ${t}`);
    }
    this.statistics = epochStatistics(g, fed[0]![1], loss, metrics, exe.runs === 0);
    this.exe = exe;
    this.inputs = inputs;
    if (x) this.x = x;
    if (y) this.y = y;
    this.outputs = outputs;
    this.output = Object.values(outputs)[0]!;
    this.loss = loss;
    this.metrics = { ...metrics };
  }

  /** The model's graph. */
  get graph(): Graph { return this.exe.graph; }
  /** Feed names of `x` and `y` (undefined for a model fed only by record). */
  get inputName(): string | undefined { return this.x?.node.attrs.name as string | undefined; }
  /** The name of the label input, if the model has one. */
  get labelName(): string | undefined { return this.y?.node.attrs.name as string | undefined; }
  /** Whether training runs do anything (the graph has optimizer or batchNorm updates besides the epoch statistics). */
  get trainable(): boolean {
    const own = new Set([this.statistics.count.id, ...Object.values(this.statistics.totals).map((t) => t.id)]);
    return this.graph.updates.some((u) => !own.has(this.graph.nodes[u]!.inputs[0]!));
  }

  /**
   * A Keras-like table of the layers: name (kind), output shape (symbolic dims by name) and
   * param count (running statistics included), then the totals. Layers applied through
   * `sequential` are listed in call order with their output shapes, those without params
   * (pooling, flatten, dropout) by the op they end in; layers called directly on a tensor are
   * listed by their params with output shape `?` (a plain function call leaves no record of
   * which tensor is its output). The last line is the totals: trainable params, non-trainable
   * layer params, and other state (optimizer slots, epoch sums).
   *
   * @example
   * console.log(model.summary());
   * // Layer (type)          Output shape     Param #
   * // ==============================================
   * // dense_1 (dense)       [batch, 128]     100,480
   * // (relu)                [batch, 128]           0
   * // dense_2 (dense)       [batch, 10]        1,290
   * // ==============================================
   * // trainable params: 101,770; non-trainable: 0; optimizer state and epoch sums: 203,546
   */
  summary(): string {
    const g = this.graph;
    const size = (name: string) => (g.nodes[g.params.get(name)!.id]!.shape as number[]).reduce((a, b) => a * b, 1);
    const count = (names: Iterable<string>) => { let n = 0; for (const p of names) n += size(p); return n; };
    // Each param belongs to the layer whose name is its longest `<layer>/` prefix.
    const kinds = layerKinds(g);
    const owner = (p: string) => [...kinds.keys()].filter((l) => p.startsWith(`${l}/`)).sort((a, b) => b.length - a.length)[0];
    const byLayer = new Map<string, string[]>();
    for (const p of g.params.keys()) {
      const l = owner(p);
      if (l !== undefined) byLayer.set(l, [...(byLayer.get(l) ?? []), p]);
    }
    const rows: { order: number; name: string; shape: string; params: number }[] = [];
    const listed = new Set<string>();
    for (const call of layerTrace(g)) {
      const layers = [...new Set(call.params.map(owner).filter((l) => l !== undefined))];
      for (const l of layers) listed.add(l);
      const name = layers.length ? layers.map((l) => `${l} (${kinds.get(l)})`).join(' + ') : `(${opKind(call.output)})`;
      rows.push({ order: call.output.id, name, shape: shapeToString(call.output.shape), params: count(layers.flatMap((l) => byLayer.get(l)!)) });
    }
    for (const [l, params] of byLayer) {
      if (!listed.has(l)) rows.push({ order: Math.max(...params.map((p) => g.params.get(p)!.id)), name: `${l} (${kinds.get(l)})`, shape: '?', params: count(params) });
    }
    rows.sort((a, b) => a.order - b.order);
    let trainable = 0, frozen = 0, state = 0;
    for (const [p, entry] of g.params) {
      if (entry.trainable) trainable += size(p);
      else if (owner(p) !== undefined) frozen += size(p);
      else state += size(p);
    }
    const n = (v: number) => v.toLocaleString('en-US');
    const head = ['Layer (type)', 'Output shape', 'Param #'];
    const cells = [head, ...rows.map((r) => [r.name, r.shape, n(r.params)])];
    const w = head.map((_, c) => Math.max(...cells.map((r) => r[c]!.length)));
    const line = (r: string[]) => `${r[0]!.padEnd(w[0]!)}  ${r[1]!.padEnd(w[1]!)}  ${r[2]!.padStart(w[2]!)}`;
    const rule = '='.repeat(w[0]! + w[1]! + w[2]! + 4);
    return [line(head), rule, ...cells.slice(1).map(line), rule,
      `trainable params: ${n(trainable)}; non-trainable: ${n(frozen)}; optimizer state and epoch sums: ${n(state)}`].join('\n');
  }

  /** Free the Executable (and the backend it owns). */
  async dispose(): Promise<void> { await this.exe.dispose(); }
}

/**
 * What a layer without params did, from the op it ends in; the composites that end in another
 * primitive are named: a train-flag `where` is dropout's, a `div` of a `sum` is a mean (global
 * average pooling).
 */
function opKind(t: Tensor): string {
  const first = t.graph.nodes[t.node.inputs[0]!];
  if (t.op === 'where' && first?.op === 'input' && first.attrs.name === TRAINING_INPUT) return 'dropout';
  if (t.op === 'div' && first?.op === 'sum') return 'mean';
  return t.op;
}

export interface BuildModelOptions {
  /** Graph seed: initial params and on-device random streams (default 0). */
  seed?: number;
  /**
   * How to compile the graph: a function (e.g. `(g) => compile(g, { backend: 'auto' })` from
   * 'kiln'), or a Backend instance for `compileWith`.
   */
  compile: ((g: Graph) => Promise<Executable>) | Backend;
}

/**
 * Build a graph with `build`, add the optimizer's updates, compile, and wrap it all.
 *
 * @example
 * const model = await buildModel((g) => {
 *   const x = g.input('x', ['batch', 784]);
 *   const y = g.input('y', ['batch'], 'i32');
 *   const logits = sequential([dense(128, { activation: 'relu' }), dense(10)])(x);
 *   return { x, y, output: logits, loss: softmaxCrossEntropy(logits, y),
 *            metrics: { accuracy: accuracy(logits, y) }, optimizer: adam({ lr: 1e-3 }) };
 * }, { seed: 1, compile: (g) => compile(g, { backend: 'auto' }) });
 */
export async function buildModel(build: (g: Graph) => ModelSpec, options: BuildModelOptions): Promise<Model> {
  if (typeof build !== 'function') throw new OptionsError('buildModel: first argument must be a function (g) => ModelSpec');
  if (!options || (typeof options.compile !== 'function' && typeof options.compile !== 'object')) {
    throw new OptionsError('buildModel: options.compile must be a function (g) => Promise<Executable> or a Backend');
  }
  const g = new Graph(options.seed === undefined ? {} : { seed: options.seed });
  const spec = build(g);
  if (!spec || typeof spec !== 'object') throw new OptionsError('buildModel: the build function must return { x, y, output, loss, ... }');
  const { loss, metrics } = weightedLoss(spec);
  if (spec.optimizer) g.minimize(loss, spec.optimizer);
  const c = options.compile;
  const exe = typeof c === 'function' ? await c(g) : await compileWith(g, c);
  if (exe.graph !== g) throw new GraphError('buildModel: compile returned an Executable of another graph');
  try {
    return new Model({
      exe, output: spec.output, loss, metrics,
      ...(spec.x ? { x: spec.x } : {}), ...(spec.y ? { y: spec.y } : {}), ...(spec.inputs ? { inputs: spec.inputs } : {}),
    });
  } catch (e) {
    await exe.dispose();
    throw e;
  }
}

/** The loss to train on (named losses weighted and summed) and the metrics with each named loss as `<k>_loss`. */
function weightedLoss(spec: ModelSpec): { loss: Tensor; metrics: Record<string, Tensor> } {
  const metrics = { ...(spec.metrics ?? {}) };
  const l = spec.loss as Tensor | Record<string, Tensor> | undefined;
  if (!l || typeof l !== 'object') throw new OptionsError('buildModel: loss must be a scalar Tensor or a record of them');
  const weights = spec.lossWeights ?? {};
  if (l instanceof Tensor) {
    if (spec.lossWeights) throw new OptionsError('buildModel: lossWeights needs named losses (loss: { name: tensor, ... })');
    return { loss: l, metrics };
  }
  const named = Object.entries(l);
  if (!named.length) throw new OptionsError('buildModel: loss is an empty record');
  for (const k of Object.keys(weights)) {
    if (!Object.hasOwn(l, k)) throw new OptionsError(`buildModel: lossWeights names '${k}', which is not a loss (losses: ${named.map(([n]) => n).join(', ')})`);
    const w = weights[k];
    if (typeof w !== 'number' || !Number.isFinite(w) || w < 0) throw new OptionsError(`buildModel: lossWeights['${k}'] must be a finite number >= 0, got ${String(w)}`);
  }
  let total: Tensor | undefined;
  for (const [k, t] of named) {
    if (!(t instanceof Tensor) || t.rank !== 0 || t.dtype !== 'f32') throw new GraphError(`buildModel: loss '${k}' must be an f32 scalar, got ${String(t)}`);
    if (Object.hasOwn(metrics, `${k}_loss`)) throw new OptionsError(`buildModel: metric '${k}_loss' clashes with the report of loss '${k}'`);
    metrics[`${k}_loss`] = t;
    const w = weights[k] ?? 1;
    const term = w === 1 ? t : t.mul(w);
    total = total ? total.add(term) : term;
  }
  return { loss: total!, metrics };
}
