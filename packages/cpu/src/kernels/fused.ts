/**
 * Kernels of core's plan fusions on the CPU: a kernel with an epilogue (fuseEpilogues) runs its
 * primitive, then the epilogue in place over the result; one with a prologue (fusePrologues)
 * first computes its input into scratch memory; a packed step (fuseMultiTensor) runs
 * one generated elementwise loop per segment into its part of the packed buffer. Both reuse the
 * elementwise code generator, so the CPU computes exactly what an unfused plan would.
 */
import { type ElementwiseStep, type OpStep, type PackedElementwiseStep, type PlanOperand, shapeSize } from '@kiln/core';
import type { Kernel, LowerContext } from '../kernel';
import { lowerElementwise } from './elementwise';

/** A buffer id no plan uses: the view of a segment's part of the packed output. */
const PART = -1;

/** Kernels run one after the other as one (profiles show one entry with every op). */
function sequence(name: string, ops: readonly string[], shapes: string, kernels: readonly Kernel[]): Kernel {
  return {
    name, ops, shapes,
    bytes: kernels.reduce((a, k) => a + k.bytes, 0),
    flops: kernels.reduce((a, k) => a + k.flops, 0),
    run(step) {
      for (let i = 0; i < kernels.length; i++) {
        const r = kernels[i]!.run(step);
        // An asynchronous kernel (a threaded GEMM): the rest run after it settles.
        if (r) return r.then(async () => { for (let j = i + 1; j < kernels.length; j++) await kernels[j]!.run(step); });
      }
    },
    dispose() { kernels.forEach((k) => k.dispose?.()); },
  };
}

/**
 * `base` (the kernel of `step` without its epilogue, writing `step.out`) followed by the
 * epilogue in place: out[i] = epilogue(out[i], inputs broadcast).
 */
export function withEpilogue(base: Kernel, step: OpStep, ctx: LowerContext): Kernel {
  const epilogue = step.epilogue;
  if (!epilogue) return base;
  const apply: ElementwiseStep = { kind: 'elementwise', expr: epilogue.expr, inputs: [step.out, ...epilogue.inputs], out: step.out, ops: step.ops.slice(1) };
  return sequence(`${base.name}+epilogue`, step.ops, base.shapes, [base, lowerElementwise(apply, ctx)]);
}

/**
 * A kernel whose first input comes from a prologue: the prologue's loop writes a scratch array
 * (the first input as an unfused plan would hold it), then `lower` builds the kernel reading it.
 */
export function withPrologue(lower: (step: OpStep, ctx: LowerContext) => Kernel, step: OpStep, ctx: LowerContext): Kernel {
  const prologue = step.prologue;
  if (!prologue) return lower(step, ctx);
  const x = step.inputs[0]!;
  const scratch = ctx.scratchF32(shapeSize(x.shape));
  const view: LowerContext['view'] = (o) => ((typeof o === 'number' ? o : o.buf) === PART ? scratch : ctx.view(o));
  const first = lowerElementwise({ kind: 'elementwise', expr: prologue.expr, inputs: prologue.inputs, out: { ...x, buf: PART }, ops: [] }, { ...ctx, view });
  const base = lower({ ...step, inputs: [{ ...x, buf: PART }, ...step.inputs.slice(1)] }, { ...ctx, view });
  return sequence(`prologue+${base.name}`, step.ops, base.shapes, [first, base]);
}

/** One elementwise loop per segment, each writing its part of the packed output. */
export function lowerPacked(step: PackedElementwiseStep, ctx: LowerContext): Kernel {
  const out = ctx.view(step.out);
  const kernels = step.segments.map((g) => {
    const part: PlanOperand = { buf: PART, shape: g.shape, dtype: step.out.dtype };
    const view: LowerContext['view'] = (o) => ((typeof o === 'number' ? o : o.buf) === PART ? out.subarray(g.offset, g.offset + shapeSize(g.shape)) : ctx.view(o));
    return lowerElementwise({ kind: 'elementwise', expr: g.expr, inputs: g.inputs, out: part, ops: g.ops }, { ...ctx, view });
  });
  return sequence('packed', step.ops, `${step.segments.length} segments -> [${shapeSize(step.out.shape)}]`, kernels);
}
