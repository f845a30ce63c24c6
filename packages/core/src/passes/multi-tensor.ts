/**
 * Multi-tensor updates (PyTorch's `_foreach`/multi_tensor_apply): the elementwise kernels whose
 * results only assigns read — an optimizer's new params and slots — run as one kernel per group
 * of segments that fits the storage-buffer limit, writing one packed buffer that the assigns
 * copy from at their offsets. Before grouping, each update absorbs what it alone needs: the
 * updates it reads (Adam's new `m` and `v` inside the new param) and cheap one-element kernels
 * that only updates read (the step count as f32), recomputed per element instead of written
 * and read back; one-element kernels absorb each other, so Adam's two bias corrections are two
 * kernels that read the step param, not a chain of five.
 */
import type { ElementwiseStep, PackedElementwiseStep, PackedSegment, Plan, PlanOperand, PlanStep } from '../backend';
import { GraphError } from '../errors';
import { E, type Expr, exprNodes, type Fn } from '../expr';
import { shapeSize } from '../shape';
import { type FusionOptions, MAX_FUSED_OPS, maxFusedInputs } from './lower';
import { dropUnusedTemps, exprIsPositional, OperandList, readersOf, sameShape, stepReads, substituteArgs } from './plan-util';

/** Calls that cost far more than arithmetic: scalars calling them are not recomputed per element. */
const TRANSCENDENTAL: ReadonlySet<Fn> = new Set<Fn>(['exp', 'expm1', 'log', 'log1p', 'sin', 'cos', 'erf', 'erfc', 'ndtr', 'pow']);

/** Largest expression (distinct nodes) absorbing producers may build: bounds per-element work and render depth. */
export const MAX_ABSORBED_NODES = 4 * MAX_FUSED_OPS;
/** Segments start at multiples of this many elements (16-byte aligned, so a device may use vec4). */
export const SEGMENT_ALIGN = 4;

/** An update or absorbed kernel after absorbing: its expression over the inputs, and which steps it covers. */
interface Absorbed { readonly expr: Expr; readonly inputs: readonly PlanOperand[]; readonly steps: ReadonlySet<number> }

/**
 * Group the plan's update kernels (see the module comment) into PackedElementwiseSteps of at
 * most `maxStorageBuffers` bindings (inputs plus the packed output) per dtype, in plan order; an
 * update that fits no group with others stays an ElementwiseStep (still with what it absorbed).
 * A packed step takes the place of its last member. Returns the plan unchanged when `fuse` is false.
 *
 * @example
 *   // Adam on W and b: 6 update kernels (m, v, param of each) + bias-correction scalars
 *   // become one packed step with 6 segments, and the assigns read it at 6 offsets.
 */
export function fuseMultiTensor(plan: Plan, options: FusionOptions = {}): Plan {
  if (options.fuse === false) return plan;
  const maxInputs = maxFusedInputs(options);
  const { steps } = plan;
  const readers = readersOf(plan);
  const fetched = new Set(plan.fetches.map((f) => f.operand.buf));
  const assignSrc = new Set(steps.flatMap((s) => (s.kind === 'assign' ? [s.src.buf] : [])));
  const writer = new Map<number, number>();
  steps.forEach((s, k) => { if (s.kind !== 'assign') writer.set(s.out.buf, k); });
  const plain = (k: number): ElementwiseStep | undefined => {
    const s = steps[k]!;
    return s.kind === 'elementwise' && !exprIsPositional(s.expr) ? s : undefined;
  };
  const kernelReaders = (buf: number) => (readers.get(buf) ?? []).filter((r) => steps[r]!.kind !== 'assign');

  // Updates: read by an assign, not fetched, and read by no kernel but other updates.
  const update = new Set<number>();
  steps.forEach((s, k) => { if (plain(k) && s.kind === 'elementwise' && assignSrc.has(s.out.buf) && !fetched.has(s.out.buf)) update.add(k); });
  for (let changed = true; changed;) {
    changed = false;
    for (const k of update) {
      if (kernelReaders((steps[k] as ElementwiseStep).out.buf).some((r) => !update.has(r))) { update.delete(k); changed = true; }
    }
  }
  if (update.size === 0) return plan;
  // Absorbable one-element kernels: every kernel reading them is an update or absorbable itself.
  const scalar = new Set<number>();
  for (let k = steps.length - 1; k >= 0; k--) {
    const s = plain(k);
    if (!s || update.has(k) || shapeSize(s.out.shape) !== 1) continue;
    const rs = kernelReaders(s.out.buf);
    if (rs.length && rs.every((r) => update.has(r) || scalar.has(r))) scalar.add(k);
  }

  // Absorb, in plan order (producers first).
  const absorbed = new Map<number, Absorbed>();
  // An update absorbs only cheap scalars: it recomputes them for every element it writes, where
  // a scalar kernel computes them once (Adam's bias corrections call exp and expm1).
  const absorbable = (consumer: number, producer: number) => scalar.has(consumer) || !exprNodes((steps[producer] as ElementwiseStep).expr).some((e) => e.k === 'call' && TRANSCENDENTAL.has(e.f));
  steps.forEach((_, k) => {
    if (update.has(k) || scalar.has(k)) absorbed.set(k, absorb(k, steps[k] as ElementwiseStep, writer, absorbed, steps, absorbable));
  });

  // Which absorbed steps must still run: updates, and absorbed kernels whose result is still read.
  const needed = new Set<number>([...fetched, ...assignSrc]);
  steps.forEach((s, k) => { if (!absorbed.has(k)) stepReads(s).forEach((o) => needed.add(o.buf)); });
  const keep = new Set<number>();
  for (let k = steps.length - 1; k >= 0; k--) {
    const a = absorbed.get(k);
    if (!a || !(update.has(k) || needed.has((steps[k] as ElementwiseStep).out.buf))) continue;
    keep.add(k);
    a.inputs.forEach((o) => needed.add(o.buf));
  }
  const readByKernels = new Set<number>();
  steps.forEach((s, k) => {
    if (s.kind === 'assign') return;
    (absorbed.has(k) ? (keep.has(k) ? absorbed.get(k)!.inputs : []) : stepReads(s)).forEach((o) => readByKernels.add(o.buf));
  });

  // Group the updates that only assigns read and whose inputs a segment can index directly.
  const groupable = (k: number): boolean => {
    const s = steps[k] as ElementwiseStep;
    const n = shapeSize(s.out.shape);
    return !readByKernels.has(s.out.buf) && n > 0 && absorbed.get(k)!.inputs.every((i) => { const m = shapeSize(i.shape); return m === 1 || m === n; });
  };
  const groups: number[][] = [];
  const open = new Map<string, { members: number[]; bufs: Set<number> }>();
  for (const k of [...update].sort((a, b) => a - b)) {
    if (!groupable(k)) continue;
    const dtype = (steps[k] as ElementwiseStep).out.dtype;
    const bufs = absorbed.get(k)!.inputs.map((i) => i.buf);
    let g = open.get(dtype);
    if (g && new Set([...g.bufs, ...bufs]).size > maxInputs) g = undefined;
    if (!g) {
      g = { members: [], bufs: new Set() };
      groups.push(g.members);
      open.set(dtype, g);
    }
    g.members.push(k);
    bufs.forEach((b) => g.bufs.add(b));
  }

  // Rebuild: absorbed steps that stay, packed steps at their last member, assigns re-pointed.
  let nextBuf = Math.max(-1, ...plan.buffers.keys()) + 1;
  const buffers = new Map(plan.buffers);
  const packedAt = new Map<number, PackedElementwiseStep>();
  const packedMember = new Set<number>();
  const moved = new Map<number, { buf: number; offset: number }>();
  for (const members of groups.filter((g) => g.length > 1)) {
    const segments: PackedSegment[] = [];
    let size = 0;
    const inputs = new OperandList();
    for (const k of members) {
      const s = steps[k] as ElementwiseStep;
      const a = absorbed.get(k)!;
      segments.push({ expr: a.expr, inputs: a.inputs, offset: size, shape: s.out.shape, ops: opsOf(a, steps) });
      a.inputs.forEach((i) => inputs.at(i));
      moved.set(s.out.buf, { buf: nextBuf, offset: size });
      size += Math.ceil(shapeSize(s.out.shape) / SEGMENT_ALIGN) * SEGMENT_ALIGN;
      packedMember.add(k);
    }
    const dtype = (steps[members[0]!] as ElementwiseStep).out.dtype;
    buffers.set(nextBuf, { id: nextBuf, dtype, size, kind: 'temp' });
    packedAt.set(members.at(-1)!, { kind: 'packed', segments, inputs: inputs.list, out: { buf: nextBuf, shape: [size], dtype }, ops: segments.flatMap((s) => s.ops) });
    nextBuf++;
  }
  const out: PlanStep[] = [];
  steps.forEach((s, k) => {
    if (packedAt.has(k)) out.push(packedAt.get(k)!);
    if (packedMember.has(k)) return;
    const a = absorbed.get(k);
    if (!a) {
      const to = s.kind === 'assign' ? moved.get(s.src.buf) : undefined;
      out.push(s.kind === 'assign' && to ? { ...s, src: { ...s.src, buf: to.buf }, srcOffset: to.offset } : s);
    } else if (keep.has(k)) {
      out.push({ ...(s as ElementwiseStep), expr: a.expr, inputs: a.inputs, ops: opsOf(a, steps) });
    }
  });
  return dropUnusedTemps({ ...plan, buffers, steps: out });
}

/**
 * Step k's expression with the absorbed steps it reads substituted for their arguments: a
 * one-element result anywhere, an update of k's own shape read at that shape. Falls back to
 * reading them when the result would exceed MAX_ABSORBED_NODES.
 */
function absorb(k: number, s: ElementwiseStep, writer: ReadonlyMap<number, number>, done: ReadonlyMap<number, Absorbed>, steps: readonly PlanStep[], absorbable: (consumer: number, producer: number) => boolean): Absorbed {
  const from = new Set<number>([k]);
  const inputs = new OperandList();
  const args = s.inputs.map((o) => {
    const w = writer.get(o.buf);
    const a = w === undefined || !done.has(w) || !absorbable(k, w) ? undefined : done.get(w);
    const wOut = w === undefined ? undefined : (steps[w] as ElementwiseStep).out;
    if (a && wOut && (shapeSize(wOut.shape) === 1 || (sameShape(o.shape, s.out.shape) && sameShape(wOut.shape, o.shape)))) {
      a.steps.forEach((x) => from.add(x));
      return substituteArgs(a.expr, (i) => E.arg(inputs.at(a.inputs[i]!), a.inputs[i]!.dtype));
    }
    return E.arg(inputs.at(o), o.dtype);
  });
  const expr = substituteArgs(s.expr, (i) => args[i]!);
  if (exprNodes(expr).length > MAX_ABSORBED_NODES) return { expr: s.expr, inputs: s.inputs, steps: new Set([k]) };
  return { expr, inputs: inputs.list, steps: from };
}

/** The graph ops a kernel covers, in plan order. */
const opsOf = (a: Absorbed, steps: readonly PlanStep[]): string[] => [...a.steps].sort((x, y) => x - y).flatMap((k) => steps[k]!.ops);

/**
 * Validate packed steps (`{ debug: true }`): segments lie inside the packed output without
 * overlapping, read only the step's inputs, each input of one element or the segment's count,
 * and expressions read no argument beyond their inputs; a step binds at most `maxStorageBuffers`.
 */
export function validatePacked(plan: Plan, options: FusionOptions = {}): void {
  const maxInputs = maxFusedInputs(options);
  plan.steps.forEach((s, k) => {
    if (s.kind !== 'packed') return;
    const name = `plan: packed step ${k} (${s.ops.slice(0, 6).join('+')})`;
    if (new Set(s.inputs.map((i) => i.buf)).size > maxInputs) throw new GraphError(`${name} binds ${s.inputs.length} inputs and its output: more than the ${maxInputs + 1} storage buffers allowed`);
    const bufs = new Set(s.inputs.map((i) => i.buf));
    const total = shapeSize(s.out.shape);
    let end = 0;
    for (const seg of [...s.segments].sort((a, b) => a.offset - b.offset)) {
      const n = shapeSize(seg.shape);
      if (seg.offset < end || seg.offset + n > total) throw new GraphError(`${name}: segment at ${seg.offset} (${n} elements) overlaps another or leaves the ${total}-element output`);
      end = seg.offset + n;
      for (const i of seg.inputs) {
        if (!bufs.has(i.buf)) throw new GraphError(`${name}: a segment reads buffer #${i.buf}, which is not an input of the step`);
        const m = shapeSize(i.shape);
        if (m !== 1 && m !== n) throw new GraphError(`${name}: a segment of ${n} elements reads an input of ${m}`);
      }
      if (exprNodes(seg.expr).some((e) => e.k === 'arg' && e.i >= seg.inputs.length)) throw new GraphError(`${name}: a segment reads an argument beyond its ${seg.inputs.length} inputs`);
    }
  });
}
