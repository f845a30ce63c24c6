/**
 * Lowering a specialised graph to a Plan, as three named passes (buildPlan runs them in order,
 * validating between them with `{ debug: true }`):
 *   fuseElementwise    which nodes get a buffer, and one scalar expression per elementwise
 *                      kernel (chains of elementwise nodes composed into one);
 *   assignBuffers      a buffer per materialised node (reshape aliases its input), the steps in
 *                      topological order, assigns last;
 *   assignMemorySlots  temps share memory slots by liveness.
 * Every walk is a loop over the topologically ordered nodes or an explicit stack: nothing
 * recurses as deep as the graph.
 */
import type { AssignStep, Plan, PlanBuffer, PlanOperand, PlanStep } from '../backend';
import { GraphError, OptionsError } from '../errors';
import { E, type Expr, exprUses } from '../expr';
import { toTyped } from '../host';
import type { MovementSpec } from '../ops/movement';
import { isKernelPrimitive, kernelParams, spec } from '../ops/primitives';
import { shapeSize } from '../shape';
import { consumers, type PGraph, type PNode } from './pgraph';
import { stepReads } from './plan-util';

/**
 * Storage buffers a kernel may bind when the backend reports no limit of its own: the 8 per
 * shader stage that every WebGPU device guarantees (Chromium's SwiftShader offers 10, lavapipe 16).
 */
export const DEFAULT_MAX_STORAGE_BUFFERS = 8;
/** Most inputs a fused kernel reads under the default limit (one storage buffer is the output). */
export const MAX_FUSED_INPUTS = DEFAULT_MAX_STORAGE_BUFFERS - 1;
/** The smallest storage-buffer limit lowering accepts: a `where` (3 inputs) and its output. */
export const MIN_STORAGE_BUFFERS = 4;
/**
 * Most graph ops fused into one kernel. Bounds the depth of a kernel's expression, so a chain of
 * any length lowers, renders and compiles without deep recursion (a longer chain becomes
 * several kernels); real models fuse far fewer ops than this per kernel.
 */
export const MAX_FUSED_OPS = 64;

const isElementwise = (n: PNode) => spec(n.op).kind === 'elementwise';
const sameShape = (a: PNode, b: PNode) => a.shape.length === b.shape.length && a.shape.every((d, i) => d === b.shape[i]);

/** One fused elementwise kernel: out = expr(leaves), its ops in graph order. */
export interface FusedKernel {
  readonly expr: Expr;
  /** Node ids read by the kernel; `arg k` of the expression is leaves[k]. */
  readonly leaves: readonly number[];
  readonly ops: readonly string[];
}

/** What fusion may do: fuse at all, and how many storage buffers (inputs plus output) a kernel may bind. */
export interface FusionOptions {
  readonly fuse?: boolean;
  /** Default DEFAULT_MAX_STORAGE_BUFFERS; a backend's own limit comes from `Backend.limits`. */
  readonly maxStorageBuffers?: number;
}

/** Inputs a fused kernel may read under `options`; throws OptionsError for a limit below MIN_STORAGE_BUFFERS. */
export function maxFusedInputs(options: FusionOptions = {}): number {
  const m = options.maxStorageBuffers ?? DEFAULT_MAX_STORAGE_BUFFERS;
  if (!Number.isSafeInteger(m) || m < MIN_STORAGE_BUFFERS) throw new OptionsError(`lowering: maxStorageBuffers must be an integer >= ${MIN_STORAGE_BUFFERS} (an elementwise kernel binds up to 3 inputs and its output), got ${String(m)}`);
  return m - 1;
}

/** A node whose expression fusion is composing: its inputs in visiting order, the args so far, the arg an inlined input fills. */
interface Frame { readonly node: PNode; readonly order: readonly number[]; next: number; readonly args: Expr[]; slot?: number }

/** The state of fusion composing one kernel: leaves and ops so far, the inlined nodes' expressions, the open frames. */
interface Composing { readonly leaves: number[]; readonly ops: string[]; readonly memo: Map<number, Expr>; readonly stack: Frame[] }

/** The result of fusion: the nodes that get a buffer, and the kernel of each materialised elementwise node. */
export interface Fusion {
  readonly materialise: ReadonlySet<number>;
  readonly kernels: ReadonlyMap<number, FusedKernel>;
}

/**
 * Fusion, consumers before producers. A node is materialised when a fetch, an assign or a
 * non-elementwise node reads it, or it is a leaf of a fused kernel; an elementwise producer is
 * inlined into its one consumer when shapes allow and the kernel stays within the storage
 * buffers the device allows (maxFusedInputs) and MAX_FUSED_OPS. Literals (fill, dimSize) are
 * copied into every user.
 *
 * The input bound counts every value the kernel may still read, not only the leaves so far:
 * inlining a producer is allowed when the leaves, the inputs not yet visited on the stack (each
 * becomes at most one leaf) and the producer's own inputs fit. Counting only the producer's
 * inputs let a 12-input chain fuse into one kernel of 12 inputs: the siblings visited after a
 * deep subtree became leaves without a check.
 */
export function fuseElementwise(pg: PGraph, options: FusionOptions = {}): Fusion {
  const fuse = options.fuse ?? true;
  const maxInputs = maxFusedInputs(options);
  const byId = new Map(pg.nodes.map((n) => [n.id, n]));
  const cons = consumers(pg);
  const roots = new Set([...pg.fetches.map((f) => f.id), ...pg.assigns.map((a) => byId.get(a)!.inputs[1]!)]);
  const materialise = new Set<number>(roots);
  const kernels = new Map<number, FusedKernel>();
  // Ops in the elementwise single-consumer subtree under each node (capped): a visiting order.
  const size = new Map<number, number>();
  for (const p of pg.nodes) {
    const inner = p.inputs.filter((i) => isElementwise(byId.get(i)!) && (cons.get(i)?.length ?? 0) === 1);
    size.set(p.id, isElementwise(p) ? Math.min(MAX_FUSED_OPS, 1 + inner.reduce((a, i) => a + size.get(i)!, 0)) : 0);
  }
  // Constants of one repeated value are literals in the kernels that read them (no binding).
  const splats = new Map<number, Expr | undefined>();
  const splat = (p: PNode): Expr | undefined => {
    if (p.op !== 'constant') return undefined;
    if (!splats.has(p.id)) splats.set(p.id, constantLiteral(p));
    return splats.get(p.id);
  };
  const visitOrder = (p: PNode) => p.inputs.map((_, k) => k).sort((a, b) => size.get(p.inputs[a]!)! - size.get(p.inputs[b]!)!);
  for (let at = pg.nodes.length - 1; at >= 0; at--) {
    const n = pg.nodes[at]!;
    if (n.op === 'assign' || !isElementwise(n)) {
      n.inputs.forEach((i) => materialise.add(i));
      if (n.op !== 'assign') materialise.add(n.id);
      continue;
    }
    if (!materialise.has(n.id)) continue; // inlined into a consumer already
    const isLiteral = (p: PNode) => fuse && ((isElementwise(p) && !roots.has(p.id) && p.inputs.length === 0 && p.op !== 'random') || splat(p) !== undefined);
    // Compose the expression depth-first with an explicit stack: a frame per node being built,
    // its inputs visited in `order` (each either inlined, i.e. a new frame, or read as a leaf).
    const compose = (order: (p: PNode) => number[], inline: (p: PNode, user: PNode, c: Composing) => boolean): Composing & { expr: Expr } => {
      const c: Composing = { leaves: [], ops: [n.op], memo: new Map(), stack: [] };
      const frame = (node: PNode): Frame => ({ node, order: order(node), next: 0, args: [] });
      const leaf = (id: number): Expr => {
        const v = fuse ? splat(byId.get(id)!) : undefined;
        if (v !== undefined) return v;
        let k = c.leaves.indexOf(id);
        if (k < 0) { k = c.leaves.length; c.leaves.push(id); }
        return E.arg(k, byId.get(id)!.dtype);
      };
      c.stack.push(frame(n));
      let expr: Expr | undefined;
      while (c.stack.length) {
        const f = c.stack[c.stack.length - 1]!;
        if (f.next < f.order.length) {
          const k = f.order[f.next++]!;
          const id = f.node.inputs[k]!;
          const p = byId.get(id)!;
          if (!inline(p, f.node, c)) f.args[k] = leaf(id);
          else if (c.memo.has(id)) f.args[k] = c.memo.get(id)!;
          else {
            c.ops.push(p.op);
            f.slot = k;
            c.stack.push(frame(p));
          }
          continue;
        }
        c.stack.pop();
        const e = spec(f.node.op).expr!(f.args, f.node.attrs, f.node.dtype);
        c.memo.set(f.node.id, e);
        if (c.stack.length) {
          const parent = c.stack[c.stack.length - 1]!;
          parent.args[parent.slot!] = e;
        } else expr = e;
      }
      return { ...c, expr: expr! };
    };
    const canInline = (p: PNode, user: PNode, c: Composing): boolean => {
      if (!fuse || !isElementwise(p) || roots.has(p.id)) return false;
      if (isLiteral(p)) return true; // literals: copy into every user
      const users = cons.get(p.id) ?? [];
      if (users.length !== 1 || users[0] !== user.id || c.ops.length >= MAX_FUSED_OPS) return false;
      const e = spec(p.op).expr!(p.inputs.map((_, k) => E.arg(k, 'f32')), p.attrs, p.dtype);
      if ((exprUses(e, 'index') || p.inputs.some((i) => !sameShape(byId.get(i)!, p))) && !sameShape(p, n)) return false;
      // Values that may still become leaves: not inlined already, not literals (those are copied).
      const mayBeLeaf = (id: number) => !c.memo.has(id) && !isLiteral(byId.get(id)!);
      const reads = new Set(c.leaves);
      for (const f of c.stack) for (const k of f.order.slice(f.next)) if (mayBeLeaf(f.node.inputs[k]!)) reads.add(f.node.inputs[k]!);
      for (const i of p.inputs) if (mayBeLeaf(i)) reads.add(i);
      return reads.size <= maxInputs;
    };
    // Decide what to inline visiting the smallest fusable subtree first, so that a deep chain is
    // composed while few siblings wait on the stack (a waiting sibling may need more than one
    // input of its own); then compose again in input order, so that leaves come in the order
    // the expression reads them.
    const decided = compose(visitOrder, canInline).memo;
    const { expr, leaves, ops } = compose((p) => p.inputs.map((_, k) => k), (p) => decided.has(p.id));
    leaves.forEach((l) => materialise.add(l));
    kernels.set(n.id, { expr, leaves, ops: ops.reverse() });
  }
  return { materialise, kernels };
}

/**
 * A constant whose elements all hold one value, as a literal of its dtype (f32 rounded, as its
 * buffer would store it); undefined for an empty or varying constant.
 */
function constantLiteral(p: PNode): Expr | undefined {
  const values = p.attrs.value as readonly number[];
  if (values.length === 0 || shapeSize(p.shape) === 0) return undefined;
  const v = values[0]!;
  for (const x of values) if (!Object.is(x, v)) return undefined;
  const stored = p.dtype === 'f32' ? Math.fround(v) : p.dtype === 'i32' ? v | 0 : v ? 1 : 0;
  return E.lit(stored, p.dtype);
}

/**
 * Buffer assignment: feeds, params and constants get their buffers, every other materialised
 * node a temp written by one step (a fused kernel or the node's own OpStep, with the kernel
 * parameters its spec computes); reshape aliases its input's buffer; assigns come last. The
 * plan has no memory slots yet (each temp its own memory).
 */
export function assignBuffers(pg: PGraph, fusion: Fusion): Plan {
  const byId = new Map(pg.nodes.map((n) => [n.id, n]));
  const bufOf = new Map<number, number>();
  const buffers = new Map<number, PlanBuffer>();
  const feeds: { buf: number; name: string }[] = [];
  const newBuffer = (n: PNode, extra: Partial<PlanBuffer> & Pick<PlanBuffer, 'kind'>): number => {
    const id = buffers.size;
    buffers.set(id, { id, dtype: n.dtype, size: shapeSize(n.shape), ...extra });
    bufOf.set(n.id, id);
    return id;
  };
  const operand = (id: number): PlanOperand => {
    const n = byId.get(id)!;
    const buf = bufOf.get(id);
    if (buf === undefined) throw new GraphError(`assignBuffers: node ${n.name} is read but was not materialised`);
    return { buf, shape: n.shape, dtype: n.dtype };
  };

  const steps: PlanStep[] = [];
  for (const n of pg.nodes) {
    if (n.op === 'assign' || !fusion.materialise.has(n.id)) continue;
    switch (n.op) {
      case 'input': {
        const b = newBuffer(n, { kind: 'feed', name: n.attrs.name as string });
        feeds.push({ buf: b, name: n.attrs.name as string });
        continue;
      }
      case 'param': newBuffer(n, { kind: 'param', name: n.attrs.name as string }); continue;
      case 'constant': newBuffer(n, { kind: 'const', data: toTyped(n.dtype, n.attrs.value as number[]) }); continue;
      case 'reshape': bufOf.set(n.id, operand(n.inputs[0]!).buf); continue;
    }
    const out: PlanOperand = { buf: newBuffer(n, { kind: 'temp' }), shape: n.shape, dtype: n.dtype };
    const fused = fusion.kernels.get(n.id);
    if (fused) {
      steps.push({ kind: 'elementwise', expr: fused.expr, inputs: fused.leaves.map(operand), out, ops: fused.ops });
      continue;
    }
    if (!isKernelPrimitive(n.op)) throw new GraphError(`assignBuffers: '${n.op}' (${n.name}) is neither fused, a buffer nor a kernel`);
    const s = spec(n.op);
    const inputs = n.inputs.map(operand);
    const view = s.kind === 'movement' ? (s as unknown as MovementSpec<Record<string, unknown>>).view(byId.get(n.inputs[0]!)!.shape, n.attrs, n.shape) : undefined;
    steps.push({ kind: 'op', op: n.op, attrs: n.attrs, params: kernelParams(n.op, inputs, n.attrs, out), inputs, out, ops: [n.op], ...(view ? { view } : {}) });
  }
  // Assigns run last, after the fetches are read, and each reads start-of-step values. A source
  // that is itself an assigned param (a swap) is first copied into a temp by an ordinary kernel,
  // and so is a source of another size (broadcast into the target): every AssignStep is then a
  // plain copy of equal size, which backends run in any order.
  const assigned = new Set(pg.assigns.map((a) => operand(byId.get(a)!.inputs[0]!).buf));
  const assigns: AssignStep[] = [];
  for (const a of pg.assigns) {
    const n = byId.get(a)!;
    const dst = operand(n.inputs[0]!);
    let src = operand(n.inputs[1]!);
    if (assigned.has(src.buf) || shapeSize(src.shape) !== shapeSize(dst.shape)) {
      const copy: PlanOperand = { buf: buffers.size, shape: dst.shape, dtype: dst.dtype };
      buffers.set(copy.buf, { id: copy.buf, dtype: dst.dtype, size: shapeSize(dst.shape), kind: 'temp' });
      steps.push({ kind: 'elementwise', expr: E.arg(0, src.dtype), inputs: [src], out: copy, ops: ['assign'] });
      src = copy;
    }
    assigns.push({ kind: 'assign', src, dst, ops: ['assign'] });
  }
  steps.push(...assigns);
  return {
    buffers,
    steps,
    slots: [],
    feeds,
    fetches: pg.fetches.map((f) => ({ key: f.key, operand: operand(f.id) })),
    usesStep: steps.some((s) => s.kind === 'elementwise' && exprUses(s.expr, 'step')),
  };
}

/**
 * Memory planning: greedy liveness-based slot assignment. A temp's slot is free again after
 * the last step that reads it; fetched temps and assign sources live to the end of the run.
 * A slot is reused best-fit (the smallest free one that is big enough, else the largest free
 * one, grown), and a step's output never shares a slot with its inputs.
 */
export function assignMemorySlots(plan: Plan): Plan {
  const { steps } = plan;
  const buffers = new Map(plan.buffers);
  const keep = new Set(plan.fetches.map((f) => f.operand.buf));
  const last = new Map<number, number>();
  const reads = (s: PlanStep) => stepReads(s).map((i) => i.buf);
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
  return { ...plan, buffers, slots };
}

/**
 * Validate a fusion (`{ debug: true }`): every kernel belongs to a materialised elementwise
 * node, reads only materialised nodes defined before it and no more of them than the storage
 * buffer limit allows, and its expression reads no argument beyond its leaves; every
 * materialised elementwise node has its kernel.
 */
export function validateFusion(pg: PGraph, fusion: Fusion, options: FusionOptions = {}): void {
  const at = new Map(pg.nodes.map((n, k) => [n.id, k]));
  const maxInputs = maxFusedInputs(options);
  for (const [id, k] of fusion.kernels) {
    const n = pg.nodes[at.get(id) ?? -1];
    if (!n || !fusion.materialise.has(id) || !isElementwise(n)) throw new GraphError(`fusion invalid: kernel of #${id}, which is not a materialised elementwise node`);
    if (k.leaves.length > maxInputs) throw new GraphError(`fusion invalid: kernel of ${n.name} (${k.ops.join('+')}) reads ${k.leaves.length} buffers; with its output that is more than the ${maxInputs + 1} storage buffers allowed`);
    for (const l of k.leaves) {
      if (!fusion.materialise.has(l) || !(at.get(l)! < at.get(id)!)) throw new GraphError(`fusion invalid: kernel of ${n.name} reads #${l}, which is not a materialised earlier node`);
    }
    const args = new Set<number>();
    const stack: Expr[] = [k.expr];
    const seen = new Set<Expr>();
    while (stack.length) {
      const e = stack.pop()!;
      if (seen.has(e)) continue;
      seen.add(e);
      if (e.k === 'arg') args.add(e.i);
      else if (e.k === 'call') stack.push(...e.a);
      else if (e.k === 'select') stack.push(e.c, e.a, e.b);
      else if (e.k === 'cast') stack.push(e.a);
    }
    if ([...args].some((i) => i >= k.leaves.length)) throw new GraphError(`fusion invalid: kernel of ${n.name} reads args [${[...args].join(', ')}] of ${k.leaves.length} leaves`);
  }
  for (const n of pg.nodes) {
    if (fusion.materialise.has(n.id) && isElementwise(n) && !fusion.kernels.has(n.id)) {
      throw new GraphError(`fusion invalid: ${n.name} is materialised but has no kernel`);
    }
  }
}

/**
 * Validate the assign contract backends rely on (`{ debug: true }`): every AssignStep copies a
 * source of its target's size and dtype, reads no param that an assign of the plan writes, and
 * comes after every kernel.
 */
export function validateAssigns(plan: Plan): void {
  const assigned = new Set(plan.steps.flatMap((s) => (s.kind === 'assign' ? [s.dst.buf] : [])));
  let seenAssign = false;
  plan.steps.forEach((s, k) => {
    if (s.kind !== 'assign') {
      if (seenAssign) throw new GraphError(`plan: step ${k} (${s.ops.join('+')}) runs after an assign`);
      return;
    }
    seenAssign = true;
    const src = plan.buffers.get(s.src.buf);
    if (src && (s.srcOffset ?? 0) + shapeSize(s.dst.shape) > src.size) throw new GraphError(`plan: assign at step ${k} reads ${shapeSize(s.dst.shape)} elements at ${s.srcOffset ?? 0} of buffer #${s.src.buf}, which has ${src.size}`);
    if (shapeSize(s.src.shape) !== shapeSize(s.dst.shape) || s.src.dtype !== s.dst.dtype) throw new GraphError(`plan: assign at step ${k} copies ${s.src.dtype}[${s.src.shape.join(', ')}] into ${s.dst.dtype}[${s.dst.shape.join(', ')}]`);
    if (assigned.has(s.src.buf)) throw new GraphError(`plan: assign at step ${k} reads buffer #${s.src.buf}, which an assign of the plan writes (it needs a snapshot copy)`);
  });
}


