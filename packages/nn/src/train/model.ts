/**
 * A Model bundles what training needs: the graph, its input and label tensors, the output,
 * the scalar loss, scalar metrics, and the compiled Executable that holds the params.
 */
import { type Backend, compileWith, type Executable, Graph, GraphError, OptionsError, type Optimizer, shapeToString, type Tensor } from '@kiln/core';

/** What the build function of {@link buildModel} returns. */
export interface ModelSpec {
  /** The input that a dataset's `x` feeds, batch first (`['batch', ...]`). */
  x: Tensor;
  /** The input that a dataset's `y` (labels or targets) feeds, batch first. */
  y: Tensor;
  /** What `predict` returns, e.g. logits. */
  output: Tensor;
  /** The training objective: a scalar, the mean over the batch. */
  loss: Tensor;
  /** Scalar batch means reported by `fit`/`evaluate`, e.g. `{ accuracy: accuracy(logits, y) }`. */
  metrics?: Record<string, Tensor>;
  /** Adds the update nodes (`g.minimize(loss, optimizer)`); without one the model only evaluates. */
  optimizer?: Optimizer;
}

export interface ModelParts {
  exe: Executable;
  x: Tensor;
  y: Tensor;
  output: Tensor;
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
  readonly x: Tensor;
  readonly y: Tensor;
  readonly output: Tensor;
  readonly loss: Tensor;
  readonly metrics: Readonly<Record<string, Tensor>>;

  /**
   * Wrap an Executable you compiled yourself; {@link buildModel} is the usual way. Adds the
   * epoch statistics to its graph, so wrap it before its first run.
   *
   * @throws GraphError for tensors of another graph, non-input x/y, a non-scalar loss or
   *   metric, or an Executable that has run already.
   */
  constructor(parts: ModelParts) {
    const { exe, x, y, output, loss, metrics = {} } = parts;
    const g = exe.graph;
    const own = (t: Tensor, what: string) => {
      if (!t || t.graph !== g) throw new GraphError(`Model: ${what} must be a Tensor of the Executable's graph`);
    };
    own(x, 'x'); own(y, 'y'); own(output, 'output'); own(loss, 'loss');
    for (const [k, t] of [['x', x], ['y', y]] as const) {
      if (t.op !== 'input') throw new GraphError(`Model: ${k} must be a graph input (g.input), got ${t}`);
      if (t.rank < 1) throw new GraphError(`Model: ${k} ${t} needs a leading batch dimension`);
    }
    if (x.id === y.id) throw new GraphError('Model: x and y must be different inputs');
    if (loss.rank !== 0 || loss.dtype !== 'f32') throw new GraphError(`Model: loss must be an f32 scalar (a mean over the batch), got ${loss}`);
    for (const [k, t] of Object.entries(metrics)) {
      own(t, `metric '${k}'`);
      if (k === 'loss' || k.startsWith('val_')) throw new OptionsError(`Model: metric name '${k}' is reserved`);
      if (t.rank !== 0) throw new GraphError(`Model: metric '${k}' must be a scalar batch mean, got ${t}`);
    }
    this.statistics = epochStatistics(g, x, loss, metrics, exe.runs === 0);
    this.exe = exe;
    this.x = x;
    this.y = y;
    this.output = output;
    this.loss = loss;
    this.metrics = { ...metrics };
  }

  get graph(): Graph { return this.exe.graph; }
  /** Feed names of `x` and `y`. */
  get inputName(): string { return this.x.node.attrs.name as string; }
  get labelName(): string { return this.y.node.attrs.name as string; }
  /** Whether training runs do anything (the graph has optimizer or batchNorm updates besides the epoch statistics). */
  get trainable(): boolean {
    const own = new Set([this.statistics.count.id, ...Object.values(this.statistics.totals).map((t) => t.id)]);
    return this.graph.updates.some((u) => !own.has(this.graph.nodes[u]!.inputs[0]!));
  }

  /** One line per param: name, shape, size; then totals. */
  summary(): string {
    const g = this.graph;
    const rows: string[] = [];
    let trainable = 0, other = 0;
    for (const [name, p] of g.params) {
      const shape = g.nodes[p.id]!.shape as number[];
      const n = shape.reduce((a, b) => a * b, 1);
      if (p.trainable) trainable += n; else other += n;
      rows.push(`${name.padEnd(40)} ${shapeToString(shape).padEnd(20)} ${String(n).padStart(10)}${p.trainable ? '' : '  (not trainable)'}`);
    }
    rows.push(`trainable params: ${trainable}; other (running statistics, optimizer state, epoch sums): ${other}`);
    return rows.join('\n');
  }

  async dispose(): Promise<void> { await this.exe.dispose(); }
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
  if (spec.optimizer) g.minimize(spec.loss, spec.optimizer);
  const c = options.compile;
  const exe = typeof c === 'function' ? await c(g) : await compileWith(g, c);
  if (exe.graph !== g) throw new GraphError('buildModel: compile returned an Executable of another graph');
  try {
    return new Model({ exe, x: spec.x, y: spec.y, output: spec.output, loss: spec.loss, ...(spec.metrics ? { metrics: spec.metrics } : {}) });
  } catch (e) {
    await exe.dispose();
    throw e;
  }
}
