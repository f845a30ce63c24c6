/**
 * Prologue fusion: an elementwise kernel whose result only a reduction reads becomes the
 * reduction's prologue, computed as the reduction reads each element — `sum(exp(x - m))`,
 * `sum(neg(d))`, a cross-entropy's per-class terms summed per row — one kernel, and the
 * intermediate never written to memory.
 */
import type { OpStep, Plan, PlanStep, Prologue } from '../backend';
import type { KernelPrimitive } from '../ops/primitives';
import { shapeSize } from '../shape';
import { type FusionOptions, maxFusedInputs } from './lower';
import { dropUnusedTemps, exprIsPositional, pinnedBuffers, readersOf, sameShape, stepReads } from './plan-util';

/** Kernels that read their first input through a prologue on every backend (WebGPU: reduce.wgsl's load_x). */
export const PROLOGUE_OPS: ReadonlySet<KernelPrimitive> = new Set<KernelPrimitive>(['sum', 'prod', 'max', 'min']);

/**
 * Fuse each elementwise step into the PROLOGUE_OPS kernel that alone reads its result (f32, no
 * random numbers), when the kernel reads it at the step's shape — or through a reshape when each
 * of the step's inputs is one element or one per element — and binds at most `maxStorageBuffers`
 * storage buffers. The fused kernel stays where it was; its `ops` are the prologue's, then its own.
 *
 * @example
 *   // exp(x - m) -> sum   becomes  one OpStep: op 'sum', ops ['sub', 'exp', 'sum'],
 *   // prologue.expr = exp(arg0 - arg1), prologue.inputs = [x, m]
 */
export function fusePrologues(plan: Plan, options: FusionOptions = {}): Plan {
  if (options.fuse === false) return plan;
  const maxBuffers = maxFusedInputs(options) + 1;
  const readers = readersOf(plan);
  const pinned = pinnedBuffers(plan);
  const writer = new Map<number, number>();
  plan.steps.forEach((s, k) => { if (s.kind === 'elementwise') writer.set(s.out.buf, k); });
  const steps: (PlanStep | undefined)[] = [...plan.steps];
  plan.steps.forEach((s, k) => {
    if (s.kind !== 'op' || s.prologue || !PROLOGUE_OPS.has(s.op)) return;
    const x = s.inputs[0]!;
    const w = writer.get(x.buf);
    const e = w === undefined ? undefined : plan.steps[w];
    if (!e || e.kind !== 'elementwise' || e.out.dtype !== 'f32' || exprIsPositional(e.expr)) return;
    if (pinned.has(x.buf) || readers.get(x.buf)!.length !== 1) return;
    const n = shapeSize(x.shape);
    if (n === 0) return; // nothing to compute (and index arithmetic over a zero dim divides by it)
    const reshaped = !sameShape(x.shape, e.out.shape);
    if (reshaped && e.inputs.some((i) => shapeSize(i.shape) !== 1 && shapeSize(i.shape) !== n)) return;
    const prologue: Prologue = { expr: e.expr, inputs: reshaped ? e.inputs.map((i) => (shapeSize(i.shape) === n ? { ...i, shape: x.shape } : i)) : e.inputs };
    const fused: OpStep = { ...s, prologue, ops: [...e.ops, ...s.ops] };
    if (new Set(stepReads(fused).map((o) => o.buf)).size + 1 > maxBuffers) return;
    steps[k] = fused;
    steps[w!] = undefined;
  });
  return dropUnusedTemps({ ...plan, steps: steps.filter((s): s is PlanStep => s !== undefined) });
}
