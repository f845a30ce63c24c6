// Elementwise fusion on its own (lowering a PGraph): chains become one kernel, shared values
// are computed once, the input limit holds, and a fused kernel computes what the ops do.
import { compileWith, createReferenceBackend, type ElementwiseStep, evaluate, Graph, MAX_FUSED_INPUTS } from '@kiln/core';
import { lowerToPlan, prune } from '../../packages/core/src/passes';
import { pgraphOf, planOf, stepOps } from './support';

describe('elementwise fusion', () => {
  it('a chain of elementwise ops becomes one kernel; without fusion, one kernel per op', () => {
    const g = new Graph();
    const x = g.input('x', [4, 8]);
    const b = g.input('b', [8]);
    const y = x.mul(2).add(b).relu().exp();
    const pg = prune(pgraphOf(g, { y }));
    const fused = lowerToPlan(pg, { fuse: true });
    expect(stepOps(fused)).toEqual([['mul', 'add', 'relu', 'exp']]);
    const step = fused.steps[0] as ElementwiseStep;
    expect(step.inputs.map((i) => fused.buffers.get(i.buf)!.kind).sort()).toEqual(['feed', 'feed']); // x and b; the constant 2 is a literal
    const unfused = lowerToPlan(pg, { fuse: false });
    expect(stepOps(unfused)).toEqual([['mul'], ['add'], ['relu'], ['exp']]);
  });

  it('a value read by two kernels is materialised once, not recomputed in each', () => {
    const g = new Graph();
    const x = g.input('x', [16]);
    const h = x.exp().mul(3);
    const y1 = h.add(1), y2 = h.sub(1).sum();
    const ops = stepOps(planOf(g, { y1, y2 }));
    expect(ops.flat().filter((o) => o === 'exp')).toHaveLength(1);
    expect(ops.find((o) => o.includes('exp'))).toEqual(['exp', 'mul']);
  });

  it('fusion stops at non-elementwise ops and at fetched values', () => {
    const g = new Graph();
    const x = g.input('x', [4, 4]);
    const a = x.neg().abs();
    const y = a.matmul(x).sigmoid().tanh();
    expect(stepOps(planOf(g, { a, y }))).toEqual([['neg', 'abs'], ['matmul', 'sigmoid', 'tanh']]); // the chain is matmul's epilogue
  });

  // A chain of 12 adds once fused into one kernel reading 13 buffers, past WebGPU's 8 storage
  // buffers per stage (test/passes/fusion-limits.test.ts tests other limits and chain shapes).
  it(`a fused kernel reads at most ${MAX_FUSED_INPUTS} buffers`, () => {
    const g = new Graph();
    const xs = Array.from({ length: 12 }, (_, i) => g.input(`x${i}`, [5]));
    const y = xs.slice(1).reduce((s, x) => s.add(x.mul(2)), xs[0]!);
    const plan = planOf(g, { y });
    const kernels = plan.steps.filter((s): s is ElementwiseStep => s.kind === 'elementwise');
    expect(kernels.length).toBeGreaterThan(1);
    for (const k of kernels) expect(k.inputs.length).toBeLessThanOrEqual(MAX_FUSED_INPUTS);
    expect(kernels.flatMap((k) => k.ops).filter((o) => o === 'add')).toHaveLength(11);
  });

  it('literals are copied into every user instead of being materialised', () => {
    const g = new Graph();
    const x = g.input('x', [3]);
    const two = g.fill([3], 2);
    const y = x.mul(two).add(x.div(two).matmul(g.input('w', [3, 3])).reshape([3]));
    const ops = stepOps(planOf(g, { y }));
    expect(ops.filter((o) => o.includes('fill'))).toHaveLength(2); // in the mul kernel and in the div kernel
    expect(ops.filter((o) => o.join() === 'fill')).toHaveLength(0);
  });

  it('fused kernels compute what the unfused ops compute (broadcasts, index-dependent ops)', async () => {
    const g = new Graph({ seed: 4 });
    const x = g.input('x', [3, 4]);
    const r = g.input('r', [4]);
    const y = x.greater(0).where(x.add(r).mul(x.sub(r)), x.neg()).add(g.randomUniform([3, 4])).exp();
    const feeds = { x: Float32Array.from({ length: 12 }, (_, i) => (i - 6) / 3), r: Float32Array.of(0.5, -1, 2, 0) };
    const plan = planOf(g, { y });
    expect(plan.steps.filter((s) => s.kind !== 'assign')).toHaveLength(1);
    const exe = await compileWith(g, createReferenceBackend());
    const got = (await exe.run(feeds, { y })).y.data;
    const want = evaluate(g, feeds, { y }).y.data;
    for (let i = 0; i < 12; i++) expect(got[i]).toBeCloseTo(want[i]!, 5);
  });
});
