/**
 * Fusion and lowering to a Plan. Chains of elementwise nodes become one kernel whose scalar
 * expression is the composition of theirs; every other node becomes one OpStep; reshape is
 * an alias; assigns become copies at the end. Then temps get memory slots by liveness.
 */
import type { AssignStep, Plan, PlanBuffer, PlanOperand, PlanStep } from '../backend';
import { E, type Expr, exprUses } from '../expr';
import { toTyped } from '../host';
import type { MovementSpec } from '../ops/movement';
import { isKernelPrimitive, kernelParams, spec } from '../ops/primitives';
import { GraphError } from '../errors';
import { consumers, numel, type PGraph, type PNode } from './pgraph';

/** Most inputs a fused kernel may read (WebGPU guarantees 8 storage buffers per stage, one is the output). */
export const MAX_FUSED_INPUTS = 7;
/**
 * Most graph ops fused into one kernel. Bounds the depth of a kernel's expression, so a chain of
 * any length lowers, renders and compiles without deep recursion (a longer chain becomes
 * several kernels); real models fuse far fewer ops than this per kernel.
 */
export const MAX_FUSED_OPS = 64;

const isElementwise = (n: PNode) => spec(n.op).kind === 'elementwise';

export function lowerToPlan(pg: PGraph, options: { fuse?: boolean } = {}): Plan {
  const fuse = options.fuse ?? true;
  const byId = new Map(pg.nodes.map((n) => [n.id, n]));
  const cons = consumers(pg);
  const roots = new Set([...pg.fetches.map((f) => f.id), ...pg.assigns.map((a) => byId.get(a)!.inputs[1]!)]);

  // ---- buffers: one per materialised node; reshape aliases its input's buffer
  const bufOf = new Map<number, number>();
  const buffers = new Map<number, PlanBuffer>();
  const feeds: { buf: number; name: string }[] = [];
  const newBuffer = (n: PNode, extra: Partial<PlanBuffer> & Pick<PlanBuffer, 'kind'>): number => {
    const id = buffers.size;
    buffers.set(id, { id, dtype: n.dtype, size: numel(n.shape), ...extra });
    bufOf.set(n.id, id);
    return id;
  };
  const operand = (id: number): PlanOperand => {
    const n = byId.get(id)!;
    return { buf: bufOf.get(id)!, shape: n.shape, dtype: n.dtype };
  };

  // ---- fusion decisions, consumers before producers
  const materialise = new Set<number>(roots);
  const exprs = new Map<number, { expr: Expr; leaves: number[]; ops: string[] }>();
  const order = [...pg.nodes].reverse();
  for (const n of order) {
    if (n.op === 'assign' || !isElementwise(n)) {
      n.inputs.forEach((i) => materialise.add(i));
      if (n.op !== 'assign') materialise.add(n.id);
      continue;
    }
    if (!materialise.has(n.id)) continue; // inlined into a consumer already
    const leaves: number[] = [];
    const ops: string[] = [];
    const leaf = (id: number): Expr => {
      let k = leaves.indexOf(id);
      if (k < 0) { k = leaves.length; leaves.push(id); }
      return E.arg(k, byId.get(id)!.dtype);
    };
    const memo = new Map<number, Expr>();
    const build = (m: PNode): Expr => {
      const hit = memo.get(m.id);
      if (hit) return hit;
      ops.push(m.op);
      const args = m.inputs.map((i) => {
        const p = byId.get(i)!;
        return canInline(p, m) ? build(p) : leaf(i);
      });
      const e = spec(m.op).expr!(args, m.attrs, m.dtype);
      memo.set(m.id, e);
      return e;
    };
    const canInline = (p: PNode, user: PNode): boolean => {
      if (!fuse || !isElementwise(p) || roots.has(p.id)) return false;
      const users = cons.get(p.id) ?? [];
      if (p.inputs.length === 0 && p.op !== 'random') return true; // literals: copy into every user
      if (users.length !== 1 || users[0] !== user.id || ops.length >= MAX_FUSED_OPS) return false;
      const e = spec(p.op).expr!(p.inputs.map((_, k) => E.arg(k, 'f32')), p.attrs, p.dtype);
      if ((exprUses(e, 'index') || p.inputs.some((i) => !sameShape(byId.get(i)!, p))) && !sameShape(p, n)) return false;
      const extra = p.inputs.filter((i) => !leaves.includes(i)).length;
      return leaves.length + extra <= MAX_FUSED_INPUTS;
    };
    const expr = build(n);
    leaves.forEach((l) => materialise.add(l));
    exprs.set(n.id, { expr, leaves, ops: ops.reverse() });
  }

  // ---- buffers and steps in topological order
  const steps: PlanStep[] = [];
  for (const n of pg.nodes) {
    if (n.op === 'assign') continue;
    if (!materialise.has(n.id)) continue;
    switch (n.op) {
      case 'input': {
        const b = newBuffer(n, { kind: 'feed', name: n.attrs.name as string });
        feeds.push({ buf: b, name: n.attrs.name as string });
        continue;
      }
      case 'param': newBuffer(n, { kind: 'param', name: n.attrs.name as string }); continue;
      case 'constant': newBuffer(n, { kind: 'const', data: toTyped(n.dtype, n.attrs.value as number[]) }); continue;
      case 'reshape': bufOf.set(n.id, bufOf.get(n.inputs[0]!)!); continue;
    }
    const out = newBuffer(n, { kind: 'temp' });
    const outOp: PlanOperand = { buf: out, shape: n.shape, dtype: n.dtype };
    const fused = exprs.get(n.id);
    if (fused) {
      steps.push({ kind: 'elementwise', expr: fused.expr, inputs: fused.leaves.map(operand), out: outOp, ops: fused.ops });
      continue;
    }
    if (!isKernelPrimitive(n.op)) throw new GraphError(`lowerToPlan: '${n.op}' (${n.name}) is neither fused, a buffer nor a kernel`);
    const s = spec(n.op);
    const inputs = n.inputs.map(operand);
    const view = s.kind === 'movement' ? (s as unknown as MovementSpec<Record<string, unknown>>).view(byId.get(n.inputs[0]!)!.shape, n.attrs, n.shape) : undefined;
    steps.push({ kind: 'op', op: n.op, attrs: n.attrs, params: kernelParams(n.op, inputs, n.attrs, outOp), inputs, out: outOp, ops: [n.op], ...(view ? { view } : {}) });
  }
  for (const a of pg.assigns) {
    const n = byId.get(a)!;
    const step: AssignStep = { kind: 'assign', src: operand(n.inputs[1]!), dst: operand(n.inputs[0]!), ops: ['assign'] };
    steps.push(step);
  }

  const slots = planMemory(steps, buffers, new Set(pg.fetches.map((f) => bufOf.get(f.id)!)));
  return {
    buffers,
    steps,
    slots,
    feeds,
    fetches: pg.fetches.map((f) => ({ key: f.key, operand: operand(f.id) })),
    usesStep: steps.some((s) => s.kind === 'elementwise' && exprUses(s.expr, 'step')),
  };
}

const sameShape = (a: PNode, b: PNode) => a.shape.length === b.shape.length && a.shape.every((d, i) => d === b.shape[i]);

/**
 * Greedy liveness-based slot assignment: a temp's slot is free again after the last step
 * that reads it. Fetched temps and assign sources live to the end of the run.
 */
function planMemory(steps: readonly PlanStep[], buffers: Map<number, PlanBuffer>, keep: ReadonlySet<number>): number[] {
  const last = new Map<number, number>();
  const reads = (s: PlanStep) => (s.kind === 'assign' ? [s.src.buf] : s.inputs.map((i) => i.buf));
  steps.forEach((s, k) => reads(s).forEach((b) => last.set(b, k)));
  const assignSrc = new Set(steps.filter((s): s is AssignStep => s.kind === 'assign').map((s) => s.src.buf));
  const slots: number[] = [];
  const free: number[] = [];
  const slotOf = new Map<number, number>();
  const bytes = (b: PlanBuffer) => Math.max(4, b.size * 4);
  steps.forEach((s, k) => {
    if (s.kind !== 'assign') {
      const b = buffers.get(s.out.buf)!;
      if (b.kind === 'temp' && !slotOf.has(b.id)) {
        const need = bytes(b);
        let best = -1;
        for (const f of free) if (slots[f]! >= need && (best < 0 || slots[f]! < slots[best]!)) best = f;
        if (best < 0 && free.length) best = free.reduce((a, f) => (slots[f]! > slots[a]! ? f : a), free[0]!);
        if (best >= 0) {
          free.splice(free.indexOf(best), 1);
          slots[best] = Math.max(slots[best]!, need);
        } else {
          best = slots.length;
          slots.push(need);
        }
        slotOf.set(b.id, best);
        buffers.set(b.id, { ...b, slot: best });
      }
    }
    // Release what dies here (never the output just allocated, so in and out never share).
    for (const b of new Set(reads(s))) {
      if (last.get(b) === k && slotOf.has(b) && !keep.has(b) && !assignSrc.has(b)) free.push(slotOf.get(b)!);
    }
    if (s.kind !== 'assign' && !last.has(s.out.buf) && slotOf.has(s.out.buf) && !keep.has(s.out.buf)) free.push(slotOf.get(s.out.buf)!);
  });
  return slots;
}
