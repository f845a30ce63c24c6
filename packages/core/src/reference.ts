/**
 * The float64 reference evaluator: runs any graph on the host with every primitive's
 * `ref`. It is the oracle of the parity and gradient tests, and a debugging backend.
 */
import { bindAttrs, checkFeeds } from './feeds';
import { type Graph, TRAINING_INPUT } from './graph';
import type { FeedValue } from './host';
import { hashString, initValues } from './init';
import { spec } from './ops/primitives';
import { type DType, shapeBind } from './shape';
import type { RefValue } from './spec';
import type { Tensor } from './tensor';

/** A float64 result of the reference evaluator, with its shape and dtype. */
export interface RefResult { readonly data: Float64Array; readonly shape: number[]; readonly dtype: DType }

/** Deterministic initial value of a param: seeded by the graph seed and the param's name. */
export function initialParam(g: Graph, name: string): Float64Array {
  const entry = g.params.get(name)!;
  const node = g.nodes[entry.id]!;
  return initValues(entry.init, node.shape as number[], hashString(name, g.seed), `param '${name}'`);
}

/** Nodes needed to compute `roots`, in topological (id) order. */
export function ancestors(g: Graph, roots: readonly number[]): number[] {
  const need = new Set<number>(roots);
  for (let id = Math.max(-1, ...roots); id >= 0; id--) {
    if (need.has(id)) for (const i of g.nodes[id]!.inputs) need.add(i);
  }
  return [...need].sort((a, b) => a - b);
}

/** The float64 reference evaluator with state: params persist and train runs apply the graph's updates, like an Executable. */
export class ReferenceSession {
  readonly params = new Map<string, Float64Array>();
  step = 0;

  constructor(readonly graph: Graph) {
    for (const name of graph.params.keys()) this.params.set(name, initialParam(graph, name));
  }

  /** Evaluate `fetches` from `feeds` (checked as Executable.run checks them); with train: true, apply the updates after. */
  run<K extends string>(feeds: Record<string, FeedValue>, fetches: Record<K, Tensor>, options: { train?: boolean } = {}): Record<K, RefResult> {
    const g = this.graph;
    const train = options.train ?? false;
    const roots = [...Object.values<Tensor>(fetches).map((t) => t.id), ...(train ? g.updates : [])];
    const order = ancestors(g, roots);
    const needed = new Set(order.map((id) => g.nodes[id]!).filter((n) => n.op === 'input').map((n) => n.attrs.name as string));
    const { bindings, values: fed } = checkFeeds(g, feeds, needed, { [TRAINING_INPUT]: Uint8Array.of(train ? 1 : 0) }, new Set(order));
    const vals = new Map<number, RefValue>();
    for (const id of order) {
      const node = g.nodes[id]!;
      const shape = shapeBind(node.shape, bindings);
      let data: Float64Array;
      if (node.op === 'input') {
        const f = fed.get(id)!;
        data = Float64Array.from(f.exact ?? f.data);
      }
      else if (node.op === 'param') data = this.params.get(node.attrs.name as string)!.slice();
      else {
        const ins = node.inputs.map((i) => vals.get(i)!);
        data = spec(node.op).ref(ins, bindAttrs(node.attrs, bindings), { out: { shape, dtype: node.dtype }, step: this.step });
      }
      if (node.dtype === 'f32' && node.op !== 'input') data = Float64Array.from(data); // keep float64: this is the oracle
      vals.set(id, { shape, dtype: node.dtype, data });
    }
    const out = {} as Record<K, RefResult>;
    for (const [k, t] of Object.entries<Tensor>(fetches)) {
      const v = vals.get(t.id)!;
      out[k as K] = { data: v.data, shape: [...v.shape], dtype: v.dtype };
    }
    if (train) {
      for (const id of g.updates) {
        const target = g.nodes[g.nodes[id]!.inputs[0]!]!;
        this.params.set(target.attrs.name as string, vals.get(id)!.data.slice());
      }
    }
    this.step++;
    return out;
  }
}

/** One-shot float64 evaluation of `fetches`. */
export function evaluate<K extends string>(g: Graph, feeds: Record<string, FeedValue>, fetches: Record<K, Tensor>, options: { train?: boolean } = {}): Record<K, RefResult> {
  return new ReferenceSession(g).run(feeds, fetches, options);
}
