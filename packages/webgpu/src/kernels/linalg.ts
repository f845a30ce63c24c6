/** matmul as a GEMM: batched with broadcast batch dims, transposed operands read in place. */
import { type OpStep, type PlanOperand, shapeBroadcastStrides, shapeSize, shapeToString } from '@kiln/core';
import { type BuildContext, type Kernel, single } from '../kernel';
import { batchBaseFn, gemmKernel, type GemmIO, param } from './gemm';

export function matmulIO(step: Pick<OpStep, 'attrs' | 'inputs' | 'out'>, allowVec4 = true): GemmIO {
  const [a, b] = step.inputs as [PlanOperand, PlanOperand];
  const ta = !!step.attrs.transposeA, tb = !!step.attrs.transposeB;
  const out = step.out.shape;
  const M = out.at(-2)!, N = out.at(-1)!;
  const K = ta ? a.shape.at(-2)! : a.shape.at(-1)!;
  const batch = out.slice(0, -2);
  const sa = shapeBroadcastStrides(a.shape.slice(0, -2), batch).map((s) => s * M * K);
  const sb = shapeBroadcastStrides(b.shape.slice(0, -2), batch).map((s) => s * K * N);
  const vec4 = allowVec4 && N % 4 === 0;
  const bVec = vec4 && !tb;
  const aVec = allowVec4 && K % 4 === 0 && !ta;
  const helpers = [batchBaseFn('a_base', batch, sa), batchBaseFn('b_base', batch, sb)].join('\n\n');
  // Transposes are strides (uniforms): NN, TN, NT and TT share a pipeline.
  const [sam, sak] = ta ? [1, M] : [K, 1];
  const [sbk, sbn] = tb ? [1, K] : [N, 1];
  const mn = param(0), p = (i: number) => param(i);
  return {
    M, N, K, batch: shapeSize(batch), params: [M * N, sam, sak, sbk, sbn],
    buffers: [
      { name: 'A', access: 'read', target: { buf: a.buf }, vec4: aVec },
      { name: 'B', access: 'read', target: { buf: b.buf }, vec4: bVec },
      { name: 'C', access: 'read_write', target: { buf: step.out.buf }, vec4 },
    ],
    helpers,
    variant: `${aVec ? 'A4' : 'A1'}${bVec ? 'B4' : 'B1'}${vec4 ? 'C4' : 'C1'}${shapeSize(batch) > 1 ? ` ${helpers.replace(/\s+/g, ' ')}` : ''}`,
    a: (bb, m, k) => (aVec ? `A[(a_base(${bb}) + ${m} * dims.k + ${k}) / 4u][(${k}) % 4u]` : `A[a_base(${bb}) + ${m} * ${p(1)} + ${k} * ${p(2)}]`),
    ...(aVec ? { a4: (bb: string, m: string, k4: string) => `A[(a_base(${bb}) + ${m} * dims.k) / 4u + ${k4}]` } : {}),
    b: (bb, k, n) => (bVec ? `B[(b_base(${bb}) + ${k} * dims.n + ${n}) / 4u][(${n}) % 4u]` : `B[b_base(${bb}) + ${k} * ${p(3)} + ${n} * ${p(4)}]`),
    ...(bVec ? { b4: (bb: string, k: string, n4: string) => `B[(b_base(${bb}) + ${k} * dims.n) / 4u + ${n4}]` } : {}),
    store: (bb, m, n, v) => (vec4 ? `C[(${bb} * ${mn} + ${m} * dims.n + ${n}) / 4u][(${n}) % 4u] = ${v};` : `C[${bb} * ${mn} + ${m} * dims.n + ${n}] = ${v};`),
    ...(vec4 ? { store4: (bb: string, m: string, n4: string, v: string) => `C[(${bb} * ${mn} + ${m} * dims.n) / 4u + ${n4}] = ${v};` } : {}),
    scalar: () => matmulIO(step, false),
  };
}

export function matmulKernel(step: OpStep, ctx: BuildContext): Kernel {
  const [a, b] = step.inputs as [PlanOperand, PlanOperand];
  const ta = !!step.attrs.transposeA, tb = !!step.attrs.transposeB;
  return gemmKernel(matmulIO(step), {
    name: 'matmul',
    ops: step.ops,
    step,
    shapes: `${shapeToString(a.shape)}${ta ? 'ᵀ' : ''} x ${shapeToString(b.shape)}${tb ? 'ᵀ' : ''} -> ${shapeToString(step.out.shape)}`,
  }, ctx);
}

/** This file's rows of the kernel table (kernels/index.ts). */
export const LINALG_KERNELS = { matmul: single(matmulKernel) };
