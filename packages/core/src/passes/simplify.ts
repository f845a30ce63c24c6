/**
 * Algebraic clean-ups: constant folding (small all-constant subgraphs evaluated on the host
 * with the float64 reference), identities (stopGradient, same-dtype cast, where on a known
 * condition), common subexpressions, and broadcasts that elementwise consumers do for free.
 */
import { toDType } from '../ops/elementwise';
import { spec } from '../ops/primitives';
import { shapeSize } from '../shape';
import { consumers, type PGraph, type PNode, prune, rewrite } from './pgraph';

/**
 * Most elements folding may touch for one node, inputs and output together: folding runs on
 * the host in float64, so `fill([2 ** 31], 1).sum()` must stay a device reduction instead
 * of building its input here.
 */
const FOLD_LIMIT = 1 << 16;
const isConst = (n: PNode) => n.op === 'constant' || n.op === 'fill' || n.op === 'dimSize';

function constValues(n: PNode): Float64Array {
  return spec(n.op).ref([], n.attrs, { out: { shape: n.shape, dtype: n.dtype }, step: 0 });
}

export function foldConstants(pg: PGraph): PGraph {
  return rewrite(pg, (n, get) => {
    const s = spec(n.op);
    if (n.op === 'stopGradient') return n.inputs[0]!;
    if (n.op === 'cast' && get(n.inputs[0]!).dtype === n.dtype) return n.inputs[0]!;
    if (n.op === 'where') {
      const c = get(n.inputs[0]!);
      if (isConst(c) && shapeSize(c.shape) === 1) {
        const pick = get(n.inputs[constValues(c)[0] ? 1 : 2]!);
        if (pick.shape.length === n.shape.length && pick.shape.every((d, i) => d === n.shape[i])) return pick.id;
        return { ...n, op: 'broadcastTo', inputs: [pick.id], attrs: { shape: [...n.shape] } };
      }
    }
    const foldable = s.kind !== 'source' && s.kind !== 'state' && n.op !== 'random' && n.op !== 'dimSize' && n.op !== 'fill'
      && n.inputs.length > 0 && n.inputs.every((i) => isConst(get(i)))
      && n.inputs.reduce((cost, i) => cost + shapeSize(get(i).shape), shapeSize(n.shape)) <= FOLD_LIMIT;
    if (!foldable) return n;
    const ins = n.inputs.map((i) => {
      const p = get(i);
      return { shape: p.shape, dtype: p.dtype, data: constValues(p) };
    });
    const data = s.ref(ins, n.attrs, { out: { shape: n.shape, dtype: n.dtype }, step: 0 });
    const value = Array.from(data, (v) => toDType(n.dtype === 'f32' ? Math.fround(v) : v, n.dtype));
    return { ...n, op: 'constant', inputs: [], attrs: { value, shape: [...n.shape], dtype: n.dtype } };
  });
}

/**
 * A key equal for equal attributes. NOTE: not JSON.stringify, which writes NaN, Infinity and
 * -Infinity all as `null` (a NaN constant was merged with an Infinity one) and -0 as 0.
 */
export function attrsKey(attrs: unknown): string {
  return JSON.stringify(attrs, (_, v: unknown) =>
    typeof v === 'number' && (!Number.isFinite(v) || Object.is(v, -0)) ? `#num:${Object.is(v, -0) ? '-0' : String(v)}` : v);
}

/** Merge nodes with the same op, inputs and attributes (params/inputs are unique by name). */
export function eliminateCommonSubexpressions(pg: PGraph): PGraph {
  const seen = new Map<string, number>();
  return rewrite(pg, (n) => {
    if (n.op === 'input' || n.op === 'param' || n.op === 'assign') return n;
    const attrs = n.op === 'constant' && (n.attrs.value as number[]).length > 64 ? `#${n.id}` : attrsKey(n.attrs);
    const key = `${n.op}|${n.inputs.join(',')}|${attrs}|${n.shape.join('x')}|${n.dtype}`;
    const prev = seen.get(key);
    if (prev !== undefined) return prev;
    seen.set(key, n.id);
    return n;
  });
}

/** A broadcastTo read only by elementwise ops is dropped: they broadcast their inputs anyway. */
export function elideBroadcasts(pg: PGraph): PGraph {
  const cons = consumers(pg);
  const roots = new Set([...pg.fetches.map((f) => f.id), ...pg.assigns]);
  const byId = new Map(pg.nodes.map((n) => [n.id, n]));
  return prune(rewrite(pg, (n) => {
    if (n.op !== 'broadcastTo' || roots.has(n.id)) return n;
    const users = cons.get(n.id) ?? [];
    const ok = users.every((u) => {
      const un = byId.get(u)!;
      return spec(un.op).kind === 'elementwise' && un.shape.length === n.shape.length && un.shape.every((d, i) => d === n.shape[i]);
    });
    return ok ? n.inputs[0]! : n;
  }));
}
