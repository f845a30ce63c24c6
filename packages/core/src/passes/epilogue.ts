/**
 * Epilogue fusion: an elementwise kernel that is the only reader of a GEMM-family kernel's
 * result (matmul, the convolutions), a reduction's or max pooling's (and its gradient's) becomes
 * that kernel's epilogue, applied as each result is stored — `matmul + add(bias) + relu`, a
 * residual add, a scale, the relu mask of a backward pass, a mean's division, the max-shift of
 * a stable softmax — one kernel and one trip through memory instead of two.
 */
import type { Epilogue, ElementwiseStep, OpStep, Plan, PlanStep } from '../backend';
import { E } from '../expr';
import type { KernelPrimitive } from '../ops/primitives';
import { shapeSize } from '../shape';
import { type FusionOptions, maxFusedInputs } from './lower';
import { dropUnusedTemps, exprIsPositional, OperandList, pinnedBuffers, readersOf, sameShape, substituteArgs } from './plan-util';

/** Kernels whose stores apply an epilogue on every backend (WebGPU: the GEMM family's, the reductions' and max pooling's stores). */
export const EPILOGUE_OPS: ReadonlySet<KernelPrimitive> = new Set<KernelPrimitive>(['matmul', 'conv2d', 'conv2dTranspose', 'conv2dBackpropFilter', 'sum', 'prod', 'max', 'min', 'maxPool2d', 'maxPool2dGrad']);

/**
 * Fuse each elementwise step into the EPILOGUE_OPS kernel whose result it alone reads, when it
 * reads that result at its own shape (no broadcast), keeps its dtype, draws no random numbers,
 * and the fused kernel binds at most `maxStorageBuffers` storage buffers. The fused step takes
 * the elementwise step's place and output (every input of both is defined by then); its `ops`
 * are the kernel's followed by the epilogue's. Returns the plan unchanged when `fuse` is false.
 *
 * @example
 *   // matmul -> add(bias)+relu  becomes  one OpStep: op 'matmul', ops ['matmul', 'add', 'relu'],
 *   // epilogue.expr = relu(arg0 + arg1), epilogue.inputs = [bias]
 */
export function fuseEpilogues(plan: Plan, options: FusionOptions = {}): Plan {
  if (options.fuse === false) return plan;
  const maxBuffers = maxFusedInputs(options) + 1;
  const readers = readersOf(plan);
  const pinned = pinnedBuffers(plan);
  const producer = new Map<number, number>();
  plan.steps.forEach((s, k) => {
    if (s.kind === 'op' && !s.epilogue && EPILOGUE_OPS.has(s.op) && s.out.dtype === 'f32') producer.set(s.out.buf, k);
  });
  const steps: (PlanStep | undefined)[] = [...plan.steps];
  for (let k = 0; k < steps.length; k++) {
    const s = steps[k]!;
    if (s.kind !== 'elementwise' || exprIsPositional(s.expr) || s.out.dtype !== 'f32') continue;
    for (const buf of new Set(s.inputs.map((i) => i.buf))) {
      const p = producer.get(buf);
      if (p === undefined || pinned.has(buf) || readers.get(buf)!.length !== 1) continue;
      if (!s.inputs.every((i) => i.buf !== buf || sameShape(i.shape, s.out.shape))) continue;
      const op = steps[p] as OpStep;
      const fused = withEpilogue(op, s, buf);
      if (!fused) continue;
      const bound = new Set([...fused.inputs, ...fused.epilogue!.inputs].map((i) => i.buf)).size + 1;
      if (bound > maxBuffers) continue;
      steps[k] = fused;
      steps[p] = undefined;
      producer.delete(buf);
      break;
    }
  }
  return dropUnusedTemps({ ...plan, steps: steps.filter((s): s is PlanStep => s !== undefined) });
}

/**
 * `op` storing `ew` of its result (read by `ew` from buffer `buf`) into `ew`'s output, which
 * keeps `op`'s shape (its kernel's parameters depend on it). When `ew` reads the result through a
 * reshape (same elements, other shape), each other input must be one element or one per
 * output element, read at `op`'s shape; otherwise undefined.
 */
function withEpilogue(op: OpStep, ew: ElementwiseStep, buf: number): OpStep | undefined {
  const shape = op.out.shape;
  const n = shapeSize(shape);
  const reshaped = !sameShape(shape, ew.out.shape);
  if (shapeSize(ew.out.shape) !== n) return undefined;
  if (reshaped && ew.inputs.some((i) => i.buf !== buf && shapeSize(i.shape) !== 1 && shapeSize(i.shape) !== n)) return undefined;
  const extra = new OperandList();
  const args = ew.inputs.map((i) => {
    if (i.buf === buf) return E.arg(0, i.dtype);
    return E.arg(1 + extra.at(reshaped && shapeSize(i.shape) === n ? { ...i, shape } : i), i.dtype);
  });
  const epilogue: Epilogue = { expr: substituteArgs(ew.expr, (i) => args[i]!), inputs: extra.list };
  return { ...op, out: { ...ew.out, shape }, epilogue, ops: [...op.ops, ...ew.ops] };
}

