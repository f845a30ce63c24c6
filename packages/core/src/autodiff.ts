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

/** Reverse-mode gradients of y with respect to xs, added to g (Graph.grad calls this). Throws GradientError for a non-scalar y without a seed, a y or x that is not f32, or a tensor of another graph. */
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

  // Every contribution to a node's gradient, summed once all are in (consumers have larger ids).
  const acc = new Map<number, Tensor[]>([[y.id, [seed ?? g.fill([], 1)]]]);
  const sums = new Map<number, Tensor>();
  const total = (id: number): Tensor | undefined => {
    const parts = acc.get(id);
    if (!parts) return undefined;
    if (!sums.has(id)) sums.set(id, sumContributions(g, parts));
    return sums.get(id);
  };
  for (let id = y.id; id >= 0; id--) {
    if (!onPath.has(id)) continue;
    const dy = total(id);
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
      if (prev) prev.push(r); else acc.set(inId, [r]);
    });
  }
  return xs.map((x) => total(x.id) ?? g.zeros(x.shape));
}

/**
 * The sum of a node's gradient contributions. A slice's gradient is its piece zero-padded to
 * the full shape; pieces of one tensor along one axis that do not overlap are joined by one
 * concat (zeros in the gaps) instead of added pad by pad. NOTE: an unrolled loop that slices
 * one tensor at each of T steps would otherwise add T full-size tensors: quadratic in T.
 */
function sumContributions(g: Graph, parts: readonly Tensor[]): Tensor {
  if (parts.length === 1) return parts[0]!;
  const byAxis = new Map<number, { lo: number; piece: Tensor; padded: Tensor }[]>();
  const rest: Tensor[] = [];
  for (const p of parts) {
    const n = p.node;
    const pads = n.op === 'pad' && n.attrs['value'] === 0 ? (n.attrs['pads'] as [number, number][]) : undefined;
    const axes = pads ? pads.flatMap(([lo, hi], i) => (lo || hi ? [i] : [])) : [];
    if (axes.length !== 1) { rest.push(p); continue; }
    const list = byAxis.get(axes[0]!) ?? [];
    list.push({ lo: pads![axes[0]!]![0], piece: g.tensor(n.inputs[0]!), padded: p });
    byAxis.set(axes[0]!, list);
  }
  for (const [axis, all] of byAxis) {
    all.sort((a, b) => a.lo - b.lo);
    const size = (t: Tensor) => t.shape[axis] as number;
    // Pieces in order that do not overlap the last one taken join; the others are added.
    const list: typeof all = [];
    for (const e of all) {
      const last = list.at(-1);
      if (!last || last.lo + size(last.piece) <= e.lo) list.push(e); else rest.push(e.padded);
    }
    if (list.length < 2) { rest.push(...list.map((e) => e.padded)); continue; }
    const full = list[0]!.padded.shape;
    const joined: Tensor[] = [];
    let at = 0;
    for (const e of [...list, { lo: full[axis] as number, piece: undefined }]) {
      if (e.lo > at) joined.push(g.zeros(full.map((d, i) => (i === axis ? e.lo - at : d))));
      if (e.piece) { joined.push(e.piece); at = e.lo + size(e.piece); }
    }
    rest.push(joined.length === 1 ? joined[0]! : g.addNode('concat', joined, { axis }));
  }
  return rest.reduce((a, b) => a.add(b));
}
