/**
 * The memory-plan validator: checks that a Plan's slot assignment is safe to execute.
 *
 * Temps that share a slot share memory, so the plan is correct only if
 *  - every temp with a slot fits it and the slot exists;
 *  - no two temps whose live ranges overlap share a slot (a temp is live from the step that
 *    writes it to the last step that reads it; fetched temps and assign sources to the end);
 *  - every read of a temp sees the value that temp's own step wrote (simulating the slots:
 *    no other temp wrote the slot in between), and a step never reads the slot it writes;
 *  - every temp is written by exactly one step, before it is read; feeds, params and
 *    constants are never written by a kernel.
 *
 * `buildPlan(..., { debug: true })` runs it after lowering; tests run it over every op-table
 * row and the model graphs. It throws GraphError naming the step, the buffers and the slot.
 */
import type { Plan, PlanBuffer, PlanStep } from '../backend';
import { GraphError } from '../errors';
import { stepReads } from './plan-util';

const bytesOf = (b: PlanBuffer): number => Math.max(4, b.size * 4);

const reads = (s: PlanStep): number[] => stepReads(s).map((i) => i.buf);
const writes = (s: PlanStep): number | undefined => (s.kind === 'assign' ? undefined : s.out.buf);

const stepName = (s: PlanStep, k: number): string => `step ${k} (${s.ops.join('+') || s.kind})`;

/** A temp's live range in step indices: [written, last read]. */
export interface LiveRange {
  readonly buf: number;
  readonly slot: number | undefined;
  readonly from: number;
  readonly to: number;
}

/**
 * Live ranges of every temp of a plan. A fetched temp, or one an assign reads, lives to the
 * end (backends read fetches back after the last step; assigns run after the fetches).
 */
export function liveRanges(plan: Plan): LiveRange[] {
  const end = plan.steps.length;
  const from = new Map<number, number>();
  const to = new Map<number, number>();
  plan.steps.forEach((s, k) => {
    for (const b of reads(s)) to.set(b, k);
    const w = writes(s);
    if (w !== undefined && !from.has(w)) from.set(w, k);
  });
  const pinned = new Set([...plan.fetches.map((f) => f.operand.buf), ...plan.steps.flatMap((s) => (s.kind === 'assign' ? [s.src.buf] : []))]);
  const out: LiveRange[] = [];
  for (const b of plan.buffers.values()) {
    if (b.kind !== 'temp' || !from.has(b.id)) continue;
    const f = from.get(b.id)!;
    out.push({ buf: b.id, slot: b.slot, from: f, to: pinned.has(b.id) ? end : Math.max(f, to.get(b.id) ?? f) });
  }
  return out;
}

/**
 * Throw GraphError if the plan's memory slots are unsafe (see the module comment).
 *
 * @example
 * const plan = exe.plan({ y });
 * validatePlan(plan); // throws GraphError: "plan: temps #3 (live steps 1..4) and #5 (live steps 2..6) share slot 0"
 */
export function validatePlan(plan: Plan): void {
  const buf = (id: number, where: string): PlanBuffer => {
    const b = plan.buffers.get(id);
    if (!b) throw new GraphError(`plan: ${where} names buffer #${id}, which the plan does not have`);
    return b;
  };

  // Slots exist and are big enough.
  for (const b of plan.buffers.values()) {
    if (b.kind !== 'temp' || b.slot === undefined) continue;
    const size = plan.slots[b.slot];
    if (size === undefined) throw new GraphError(`plan: temp #${b.id} names slot ${b.slot}; the plan has ${plan.slots.length} slots`);
    if (size < bytesOf(b)) throw new GraphError(`plan: temp #${b.id} (${bytesOf(b)} bytes) does not fit slot ${b.slot} (${size} bytes)`);
  }

  // Simulate the slots: which temp's value each slot holds now.
  const holder = new Map<number, number>();
  const written = new Set<number>();
  const where = (b: PlanBuffer) => (b.slot === undefined ? `#${b.id}` : `slot ${b.slot}`);
  const holds = (b: PlanBuffer) => (b.slot === undefined ? written.has(b.id) : holder.get(b.slot) === b.id);
  plan.steps.forEach((s, k) => {
    const name = stepName(s, k);
    for (const id of reads(s)) {
      const b = buf(id, name);
      if (b.kind !== 'temp') continue;
      if (!written.has(id)) throw new GraphError(`plan: ${name} reads temp #${id} before any step writes it`);
      if (!holds(b)) throw new GraphError(`plan: ${name} reads temp #${id} from ${where(b)}, but temp #${holder.get(b.slot!)} overwrote it since`);
    }
    if (s.kind === 'assign') {
      if (buf(s.dst.buf, name).kind !== 'param') throw new GraphError(`plan: ${name} assigns to buffer #${s.dst.buf}, which is not a param`);
      return;
    }
    const out = buf(s.out.buf, name);
    if (out.kind !== 'temp') throw new GraphError(`plan: ${name} writes ${out.kind} buffer #${out.id}; kernels write temps only`);
    if (written.has(out.id)) throw new GraphError(`plan: ${name} writes temp #${out.id} a second time`);
    for (const id of reads(s)) {
      const b = buf(id, name);
      if (b.kind === 'temp' && out.slot !== undefined && b.slot === out.slot) {
        throw new GraphError(`plan: ${name} reads temp #${id} and writes temp #${out.id} in the same slot ${out.slot}`);
      }
    }
    written.add(out.id);
    if (out.slot !== undefined) holder.set(out.slot, out.id);
  });

  // Fetched temps still hold their values when the run reads them back.
  for (const f of plan.fetches) {
    const b = buf(f.operand.buf, `fetch '${f.key}'`);
    if (b.kind !== 'temp') continue;
    if (!written.has(b.id)) throw new GraphError(`plan: fetch '${f.key}' reads temp #${b.id}, which no step writes`);
    if (!holds(b)) throw new GraphError(`plan: fetch '${f.key}' reads temp #${b.id} from ${where(b)}, but temp #${holder.get(b.slot!)} overwrote it`);
  }

  // No two temps live at once share a slot (also catches overlaps a read pattern could hide).
  const bySlot = new Map<number, LiveRange[]>();
  for (const r of liveRanges(plan)) {
    if (r.slot === undefined) continue;
    const list = bySlot.get(r.slot) ?? [];
    for (const o of list) {
      if (r.from <= o.to && o.from <= r.to) {
        throw new GraphError(`plan: temps #${o.buf} (live steps ${o.from}..${o.to}) and #${r.buf} (live steps ${r.from}..${r.to}) share slot ${r.slot}`);
      }
    }
    list.push(r);
    bySlot.set(r.slot, list);
  }
}

/** Peak temp memory of a plan (the slots' bytes) and what it would be without sharing. */
export function planMemory(plan: Plan): { peakBytes: number; unsharedBytes: number } {
  const temps = [...plan.buffers.values()].filter((b) => b.kind === 'temp');
  return {
    peakBytes: plan.slots.reduce((a, b) => a + b, 0),
    unsharedBytes: temps.reduce((a, b) => a + bytesOf(b), 0),
  };
}
