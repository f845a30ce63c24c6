/**
 * Reverse-mode autodiff as a graph transformation: gradient nodes are added to the same
 * graph, built from each primitive's gradient rule. Broadcasting is undone in one place
 * (sumToShape); gradients are ordinary nodes, so grad of a grad works.
 */
import { GradientError } from './errors';
import type { Graph } from './graph';
import { spec } from './ops/primitives';
import { type Shape, shapesEqual, shapeToString } from './shape';
import { Tensor } from './tensor';

/** Sum a broadcast gradient back down to `shape` (the one unbroadcast of the codebase). */
export function sumToShape(g: Tensor, shape: Shape): Tensor {
  if (shapesEqual(g.shape, shape)) return g;
  const lead = g.rank - shape.length;
  if (lead < 0) return g.broadcastTo(shape);
  const axes: number[] = [];
  for (let i = 0; i < g.rank; i++) if (i < lead || (shape[i - lead] === 1 && g.shape[i] !== 1)) axes.push(i);
  const s = axes.length ? g.sum({ axes }) : g;
  return shapesEqual(s.shape, shape) ? s : s.reshape(shape);
}

export function gradients(g: Graph, y: Tensor, xs: readonly Tensor[], seed?: Tensor): Tensor[] {
  for (const t of [y, ...xs, ...(seed ? [seed] : [])]) {
    if (!(t instanceof Tensor)) throw new GradientError(`grad: expected Tensors, got ${String(t)}`);
    if (t.graph !== g) throw new GradientError(`grad: ${t} belongs to another graph`);
  }
  for (const x of xs) {
    if (x.dtype !== 'f32') throw new GradientError(`grad: ${x} is ${x.dtype}, which is not differentiable (only f32 tensors have gradients)`);
  }
  if (y.dtype !== 'f32') throw new GradientError(`grad: ${y} is ${y.dtype}; only f32 outputs can be differentiated`);
  if (seed) {
    if (!shapesEqual(seed.shape, y.shape)) throw new GradientError(`grad: seed ${shapeToString(seed.shape)} must have the shape of ${y} ${shapeToString(y.shape)}`);
  } else if (y.rank !== 0) {
    throw new GradientError(`grad: ${y} is not a scalar; pass a seed gradient of shape ${shapeToString(y.shape)} or reduce it first (e.g. .sum() or .mean())`);
  }

  // Nodes on a path from some x to y: descendants of xs that are ancestors of y.
  const fromX = new Set<number>(xs.map((x) => x.id));
  for (let id = Math.min(...xs.map((x) => x.id)); id <= y.id; id++) {
    if (g.nodes[id]!.inputs.some((i) => fromX.has(i))) fromX.add(id);
  }
  const onPath = new Set<number>();
  if (fromX.has(y.id)) onPath.add(y.id);
  for (let id = y.id; id >= 0; id--) {
    if (!onPath.has(id)) continue;
    for (const i of g.nodes[id]!.inputs) if (fromX.has(i)) onPath.add(i);
  }

  const acc = new Map<number, Tensor>([[y.id, seed ?? g.fill([], 1)]]);
  for (let id = y.id; id >= 0; id--) {
    if (!onPath.has(id)) continue;
    const dy = acc.get(id);
    const node = g.nodes[id]!;
    const s = spec(node.op);
    if (!dy || !node.inputs.some((i) => onPath.has(i))) continue;
    if (!s.grad) continue; // non-differentiable op (comparison, argMax, ...): no gradient flows through it
    const inputs = node.inputs.map((i) => g.tensor(i));
    const grads = s.grad({ inputs, output: g.tensor(id), dy, attrs: node.attrs });
    grads.forEach((gi, k) => {
      const inId = node.inputs[k]!;
      if (!gi || !onPath.has(inId) || g.nodes[inId]!.dtype !== 'f32') return;
      const r = sumToShape(gi, g.nodes[inId]!.shape);
      const prev = acc.get(inId);
      acc.set(inId, prev ? prev.add(r) : r);
    });
  }
  return xs.map((x) => acc.get(x.id) ?? g.zeros(x.shape));
}
