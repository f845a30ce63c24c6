/**
 * Helpers shared by the passes that rewrite a Plan's steps (fuseEpilogues, fuseMultiTensor):
 * who reads a buffer, substituting expressions for arguments, dropping buffers no step uses.
 */
import type { Plan, PlanBuffer, PlanOperand, PlanStep } from '../backend';
import { type Expr, exprNodes, exprUses } from '../expr';

/** Equal shapes, dim by dim. */
export const sameShape = (a: readonly number[], b: readonly number[]): boolean => a.length === b.length && a.every((d, i) => d === b[i]);

/** Buffers a step reads (a prologue's inputs in place of the first input, an epilogue's inputs). */
export function stepReads(s: PlanStep): readonly PlanOperand[] {
  if (s.kind === 'assign') return [s.src];
  if (s.kind === 'op' && (s.prologue || s.epilogue)) return [...(s.prologue ? [...s.prologue.inputs, ...s.inputs.slice(1)] : s.inputs), ...(s.epilogue?.inputs ?? [])];
  return s.inputs;
}

/** For every buffer, the indices of the steps reading it (each step once). */
export function readersOf(plan: Plan): Map<number, number[]> {
  const m = new Map<number, number[]>();
  plan.steps.forEach((s, k) => {
    for (const b of new Set(stepReads(s).map((o) => o.buf))) {
      const l = m.get(b);
      if (l) l.push(k);
      else m.set(b, [k]);
    }
  });
  return m;
}

/** Buffers whose values leave the run: fetched ones and assign sources. */
export function pinnedBuffers(plan: Plan): Set<number> {
  return new Set([...plan.fetches.map((f) => f.operand.buf), ...plan.steps.flatMap((s) => (s.kind === 'assign' ? [s.src.buf] : []))]);
}

/** Whether an expression draws on the output index or the run counter (random numbers). */
export const exprIsPositional = (e: Expr): boolean => exprUses(e, 'index') || exprUses(e, 'step');

/**
 * The expression with every `arg i` replaced by `f(i)` (called once per distinct i); shared
 * subexpressions stay shared. Walks the DAG in topological order, without recursion of its own.
 */
export function substituteArgs(root: Expr, f: (i: number) => Expr): Expr {
  const done = new Map<Expr, Expr>();
  const args = new Map<number, Expr>();
  for (const e of exprNodes(root)) {
    let r: Expr;
    switch (e.k) {
      case 'arg': {
        if (!args.has(e.i)) args.set(e.i, f(e.i));
        r = args.get(e.i)!;
        break;
      }
      case 'call': r = { ...e, a: e.a.map((a) => done.get(a)!) }; break;
      case 'select': r = { ...e, c: done.get(e.c)!, a: done.get(e.a)!, b: done.get(e.b)! }; break;
      case 'cast': r = { ...e, a: done.get(e.a)! }; break;
      default: r = e;
    }
    done.set(e, r);
  }
  return done.get(root)!;
}

/** Distinct operands by buffer and shape, in first-seen order, and the position of each. */
export class OperandList {
  readonly list: PlanOperand[] = [];
  /** Position of `o` in the list, added if new. */
  at(o: PlanOperand): number {
    const k = this.list.findIndex((x) => x.buf === o.buf && x.shape.length === o.shape.length && x.shape.every((d, i) => d === o.shape[i]));
    if (k >= 0) return k;
    this.list.push(o);
    return this.list.length - 1;
  }
}

/** The plan without temps that no step writes or reads and no fetch or assign names. */
export function dropUnusedTemps(plan: Plan): Plan {
  const used = new Set<number>(plan.fetches.map((f) => f.operand.buf));
  for (const s of plan.steps) {
    stepReads(s).forEach((o) => used.add(o.buf));
    used.add(s.kind === 'assign' ? s.dst.buf : s.out.buf);
  }
  const buffers = new Map<number, PlanBuffer>();
  for (const [id, b] of plan.buffers) if (b.kind !== 'temp' || used.has(id)) buffers.set(id, b);
  return { ...plan, buffers };
}
