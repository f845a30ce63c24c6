/** matmul as a GEMM: batched with broadcast batch dims, transposed operands read in place. */
import { type OpStep, type PlanOperand, shapeToString } from '@kiln/core';
import type { BuildContext, Kernel } from '../kernel';
import { broadcastStrides, numel } from '../layout';
import { batchBaseFn, gemmKernel, type GemmIO, type SubgroupTiles } from './gemm';

export function matmulIO(step: Pick<OpStep, 'attrs' | 'inputs' | 'out'>): GemmIO {
  const [a, b] = step.inputs as [PlanOperand, PlanOperand];
  const ta = !!step.attrs.transposeA, tb = !!step.attrs.transposeB;
  const out = step.out.shape;
  const M = out.at(-2)!, N = out.at(-1)!;
  const K = ta ? a.shape.at(-2)! : a.shape.at(-1)!;
  const batch = out.slice(0, -2);
  const sa = broadcastStrides(a.shape.slice(0, -2), batch).map((s) => s * M * K);
  const sb = broadcastStrides(b.shape.slice(0, -2), batch).map((s) => s * K * N);
  const vec4 = N % 4 === 0;
  const bVec = vec4 && !tb;
  return {
    M, N, K, batch: numel(batch),
    buffers: [
      { name: 'A', access: 'read', target: { buf: a.buf } },
      { name: 'B', access: 'read', target: { buf: b.buf }, vec4: bVec },
      { name: 'C', access: 'read_write', target: { buf: step.out.buf }, vec4 },
    ],
    helpers: [batchBaseFn('a_base', batch, sa), batchBaseFn('b_base', batch, sb)].join('\n\n'),
    a: (bb, m, k) => (ta ? `A[a_base(${bb}) + ${k} * ${M}u + ${m}]` : `A[a_base(${bb}) + ${m} * ${K}u + ${k}]`),
    b: (bb, k, n) => (bVec ? `B[(b_base(${bb}) + ${k} * ${N}u + ${n}) / 4u][(${n}) % 4u]` : tb ? `B[b_base(${bb}) + ${n} * ${K}u + ${k}]` : `B[b_base(${bb}) + ${k} * ${N}u + ${n}]`),
    ...(bVec ? { b4: (bb: string, k: string, n4: string) => `B[(b_base(${bb}) + ${k} * ${N}u) / 4u + ${n4}]` } : {}),
    store: (bb, m, n, v) => (vec4 ? `C[(${bb} * ${M * N}u + ${m} * ${N}u + ${n}) / 4u][(${n}) % 4u] = ${v};` : `C[${bb} * ${M * N}u + ${m} * ${N}u + ${n}] = ${v};`),
    ...(vec4 ? { store4: (bb: string, m: string, n4: string, v: string) => `C[(${bb} * ${M * N}u + ${m} * ${N}u) / 4u + ${n4}] = ${v};` } : {}),
  };
}

export function matmulKernel(step: OpStep, ctx: BuildContext, tiles?: Partial<SubgroupTiles>): Kernel {
  const io = matmulIO(step);
  const [a, b] = step.inputs as [PlanOperand, PlanOperand];
  const ta = !!step.attrs.transposeA, tb = !!step.attrs.transposeB;
  return gemmKernel(io, {
    name: 'matmul',
    key: `${shapeToString(a.shape)}${ta ? 'T' : ''}x${shapeToString(b.shape)}${tb ? 'T' : ''}`,
    ops: step.ops,
    shapes: `${shapeToString(a.shape)}${ta ? 'ᵀ' : ''} x ${shapeToString(b.shape)}${tb ? 'ᵀ' : ''} -> ${shapeToString(step.out.shape)}`,
  }, ctx, tiles);
}
