/**
 * matmul: batched, broadcast batch dims, transposed operands, all on one row-major GEMM.
 * Transposed operands go to the GEMM as they are stored (it packs them); when B carries no
 * batch of its own and A is not transposed, the batch folds into M and one GEMM does it all.
 */
import { shapeSize, shapeBroadcastStrides } from '@kiln/core';
import type { OpStep } from '@kiln/core';
import type { GemmCall } from '../gemm';
import { BYTES, type Kernel, type LowerContext, shapeStr } from '../kernel';

/** Run f(0..n-1) in order; continues asynchronously only if some call returns a Promise. */
export function sequence(n: number, f: (i: number) => void | Promise<void>): void | Promise<void> {
  let i = 0;
  const go = (): void | Promise<void> => {
    while (i < n) {
      const r = f(i++);
      if (r) return r.then(go);
    }
  };
  return go();
}

/** For each output batch index, the element offset of its matrix in an operand. */
export function batchOffsets(opBatch: readonly number[], outBatch: readonly number[], matrix: number): Int32Array {
  const st = shapeBroadcastStrides(opBatch, outBatch);
  const n = shapeSize(outBatch);
  const offs = new Int32Array(n);
  const c = new Array<number>(outBatch.length).fill(0);
  for (let q = 0; q < n; q++) {
    let o = 0;
    for (let d = 0; d < c.length; d++) o += c[d]! * st[d]!;
    offs[q] = o * matrix;
    for (let d = c.length - 1; d >= 0; d--) {
      if (++c[d]! < outBatch[d]!) break;
      c[d] = 0;
    }
  }
  return offs;
}

function lowerMatmul(step: OpStep, ctx: LowerContext): Kernel {
  const [ao, bo] = step.inputs as [typeof step.inputs[0], typeof step.inputs[0]];
  const ta = (step.attrs.transposeA as boolean | undefined) ?? false;
  const tb = (step.attrs.transposeB as boolean | undefined) ?? false;
  const os = step.out.shape;
  const M = os.at(-2)!, N = os.at(-1)!;
  const K = ta ? ao!.shape.at(-2)! : ao!.shape.at(-1)!;
  const batch = os.slice(0, -2);
  const nb = shapeSize(batch);
  const aBatch = ao!.shape.slice(0, -2), bBatch = bo!.shape.slice(0, -2);
  const a = ctx.view(ao!) as Float32Array, b = ctx.view(bo!) as Float32Array, out = ctx.view(step.out) as Float32Array;
  const meta = { name: `matmul:${ctx.gemm.formulation(M, K, N)}`, ops: step.ops, shapes: shapeStr([...step.inputs, step.out]), bytes: BYTES * (shapeSize(ao!.shape) + shapeSize(bo!.shape) + shapeSize(os)), flops: 2 * nb * M * N * K };
  if (nb * M * N === 0) return { ...meta, run: () => {} };
  if (K === 0) return { ...meta, run: () => void out.fill(0) };
  const fold = !ta && shapeSize(bBatch) === 1 && shapeSize(aBatch) === nb;
  if (fold) {
    const call = ctx.gemm.prepare(nb * M, K, N);
    return { ...meta, name: `matmul:${ctx.gemm.formulation(nb * M, K, N)}`, run: () => call.run(a, 0, b, 0, out, 0, false, false, tb), dispose: () => call.dispose() };
  }
  const ia = batchOffsets(aBatch, batch, M * K), ib = batchOffsets(bBatch, batch, K * N);
  const call: GemmCall = ctx.gemm.prepare(M, K, N);
  return {
    ...meta,
    run: () => sequence(nb, (q) => call.run(a, ia[q]!, b, ib[q]!, out, q * M * N, false, ta, tb)),
    dispose: () => call.dispose(),
  };
}

export const LINALG_KERNELS = { matmul: lowerMatmul };
