/** Specialise a graph for one run: bind symbolic dims, fix the train flag, keep what is needed. */
import { bindAttrs } from '../feeds';
import { type Graph, TRAINING_INPUT } from '../graph';
import { ancestors } from '../reference';
import { shapeBind } from '../shape';
import type { PGraph, PNode } from './pgraph';

export function specialize(g: Graph, fetches: readonly { key: string; id: number }[], train: boolean, bindings: ReadonlyMap<string, number>): PGraph {
  const assigns = train ? [...g.updates] : [];
  const order = ancestors(g, [...fetches.map((f) => f.id), ...assigns]);
  const nodes: PNode[] = order.map((id) => {
    const n = g.nodes[id]!;
    const shape = shapeBind(n.shape, bindings);
    if (n.op === 'input' && n.attrs.name === TRAINING_INPUT) {
      // The train flag is known per specialisation: a constant lets folding drop dead branches.
      return { id, op: 'constant', inputs: [], attrs: { value: [train ? 1 : 0], shape: [], dtype: 'bool' }, shape, dtype: 'bool', name: n.name };
    }
    return { id, op: n.op, inputs: n.inputs, attrs: bindAttrs(n.attrs, bindings), shape, dtype: n.dtype, name: n.name };
  });
  return { nodes, fetches, assigns };
}
