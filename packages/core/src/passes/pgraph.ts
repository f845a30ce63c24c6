/**
 * The IR the passes work on: a graph specialised to concrete shapes for one run
 * configuration (symbol bindings, fetches, train flag). Nodes are in topological order.
 */
import type { DType } from '../shape';
import type { PrimitiveName } from '../ops/primitives';

export interface PNode {
  readonly id: number;
  readonly op: PrimitiveName;
  readonly inputs: readonly number[];
  readonly attrs: Readonly<Record<string, unknown>>;
  readonly shape: readonly number[];
  readonly dtype: DType;
  readonly name: string;
}

export interface PGraph {
  readonly nodes: readonly PNode[];
  readonly fetches: readonly { readonly key: string; readonly id: number }[];
  /** assign node ids, run at the end of a training step. */
  readonly assigns: readonly number[];
}

/**
 * Rewrite each node in order. `f` sees the node with inputs already remapped and returns
 * a replacement node (same id) or the id of an earlier node to alias it to.
 */
export function rewrite(pg: PGraph, f: (n: PNode, get: (id: number) => PNode) => PNode | number): PGraph {
  const alias = new Map<number, number>();
  const byId = new Map<number, PNode>();
  const resolve = (id: number): number => alias.get(id) ?? id;
  const out: PNode[] = [];
  for (const n0 of pg.nodes) {
    const n = n0.inputs.some((i) => alias.has(i)) ? { ...n0, inputs: n0.inputs.map(resolve) } : n0;
    const r = f(n, (id) => byId.get(id)!);
    if (typeof r === 'number') alias.set(n.id, resolve(r));
    else {
      byId.set(r.id, r);
      out.push(r);
    }
  }
  return {
    nodes: out,
    fetches: pg.fetches.map((x) => ({ key: x.key, id: resolve(x.id) })),
    assigns: pg.assigns.map(resolve),
  };
}

/** Drop nodes that no fetch or assign needs. */
export function prune(pg: PGraph): PGraph {
  const live = new Set<number>([...pg.fetches.map((x) => x.id), ...pg.assigns]);
  for (let k = pg.nodes.length - 1; k >= 0; k--) {
    const n = pg.nodes[k]!;
    if (live.has(n.id)) n.inputs.forEach((i) => live.add(i));
  }
  return { ...pg, nodes: pg.nodes.filter((n) => live.has(n.id)) };
}

/** consumers[id] = distinct ids of nodes reading id. */
export function consumers(pg: PGraph): Map<number, number[]> {
  const m = new Map<number, number[]>();
  for (const n of pg.nodes) for (const i of new Set(n.inputs)) {
    const l = m.get(i);
    if (l) l.push(n.id);
    else m.set(i, [n.id]);
  }
  return m;
}
