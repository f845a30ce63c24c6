/** Composing layers, and counting what they created. */
import { type Graph, OptionsError, type Tensor } from '@kiln/core';
import type { Layer } from './common';
import { check, graph, optional, opts } from '../args';

/**
 * Chain layers: `sequential([a, b, c])(x)` is `c(b(a(x)))`. Params are created when the
 * result is applied, in order, so names count up in the order the layers run.
 *
 * @throws OptionsError unless given an array of layers (functions of a tensor).
 * @example
 * const mlp = sequential([flatten(), dense(128, { activation: 'relu' }), dropout(0.2), dense(10)]);
 * const logits = mlp(x);
 */
export function sequential(layers: readonly Layer[]): Layer {
  if (!Array.isArray(layers)) throw new OptionsError('sequential: expected an array of layers');
  layers.forEach((l, i) => {
    if (typeof l !== 'function') throw new OptionsError(`sequential: item ${i} is not a layer (a function of a tensor), got ${typeof l}`);
  });
  return (x: Tensor) => layers.reduce((h, layer) => {
    const trace = layerTrace(h.graph);
    const before = trace.length;
    const params = new Set(h.graph.params.keys());
    const out = layer(h);
    // A layer that is itself a sequential has recorded its own layers: keep those, not it.
    if (trace.length === before) trace.push({ output: out, params: [...out.graph.params.keys()].filter((p) => !params.has(p)) });
    return out;
  }, x);
}

/** One layer applied by {@link sequential}: its output and the params its call made. */
export interface LayerCall {
  readonly output: Tensor;
  /** Names of the params made during the call (empty for a layer without params, or one reused). */
  readonly params: readonly string[];
}

const traces = new WeakMap<Graph, LayerCall[]>();

/** The layers {@link sequential} applied in `g`, in call order (what `Model.summary` lists). */
export function layerTrace(g: Graph): LayerCall[] {
  let t = traces.get(g);
  if (!t) traces.set(g, (t = []));
  return t;
}

/**
 * Number of parameter elements in `g`: trainable only (default) or all of them (running
 * statistics and optimizer slots included). `prefix` counts one layer, e.g. `'dense_1/'`.
 *
 * @example
 * paramCount(g); // 101770 for 784-128-10
 */
export function paramCount(g: Graph, options: { trainable?: boolean; prefix?: string } = {}): number {
  check('paramCount', [graph('g'), opts()], [g, options]);
  const onlyTrainable = options.trainable ?? true;
  let n = 0;
  for (const [name, p] of g.params) {
    if (onlyTrainable && !p.trainable) continue;
    if (options.prefix !== undefined && !name.startsWith(options.prefix)) continue;
    n += (g.nodes[p.id]!.shape as number[]).reduce((a, b) => a * b, 1);
  }
  return n;
}
