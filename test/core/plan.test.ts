// The compiler: fusion, folding, memory planning, and plan execution vs the evaluator.
import { compileWith, createReferenceBackend, type ElementwiseStep, evaluate, Graph } from '@kiln/core';
import { checkParity, OP_CASES } from '../support/harness';

describe('passes', () => {
  it('fuses an elementwise chain into one kernel and aliases reshape', async () => {
    const g = new Graph();
    const x = g.input('x', [4, 8]);
    const b = g.input('b', [8]);
    const y = x.mul(2).add(b).relu().exp().reshape([32]).neg();
    const exe = await compileWith(g, createReferenceBackend());
    const plan = exe.plan({ y });
    const kernels = plan.steps.filter((s) => s.kind !== 'assign');
    expect(kernels.length).toBe(2); // neg after the reshape stays separate only because reshape is materialised as an alias
    expect((kernels[0] as ElementwiseStep).ops).toEqual(expect.arrayContaining(['mul', 'add', 'relu', 'exp']));
  });

  it('folds constants and drops dead train-only branches at eval', async () => {
    const g = new Graph({ seed: 1 });
    const x = g.input('x', [10]);
    const c = g.constant([1, 2]).mul(3).sum(); // folds to 9
    const y = x.dropout({ rate: 0.5 }).add(c);
    const exe = await compileWith(g, createReferenceBackend());
    const plan = exe.plan({ y });
    const all = plan.steps.flatMap((s) => s.ops);
    expect(all).not.toContain('random');
    expect(all).not.toContain('sum');
    const r = await exe.run({ x: new Float32Array(10) }, { y });
    expect(Array.from(r.y.data)).toEqual(new Array(10).fill(9));
  });

  it('reuses memory: peak temp bytes far below the sum of intermediates', async () => {
    const g = new Graph();
    let h = g.input('x', [64, 64]);
    for (let i = 0; i < 12; i++) h = h.matmul(h).mul(0.01).tanh();
    const exe = await compileWith(g, createReferenceBackend());
    const plan = exe.plan({ h });
    const temps = [...plan.buffers.values()].filter((b) => b.kind === 'temp');
    const sum = temps.reduce((a, b) => a + b.size * 4, 0);
    const peak = plan.slots.reduce((a, b) => a + b, 0);
    expect(temps.length).toBeGreaterThanOrEqual(12); // each mul+tanh is its matmul's epilogue
    expect(peak).toBeLessThanOrEqual(3 * 64 * 64 * 4);
    expect(peak * 4).toBeLessThan(sum);
  });

  it('specialises per batch size and caches the program', async () => {
    const g = new Graph();
    const x = g.input('x', ['batch', 3]);
    const y = x.mean({ axes: [0] });
    const backend = createReferenceBackend();
    let lowered = 0;
    const lower0 = backend.lower.bind(backend);
    (backend as { lower: typeof lower0 }).lower = (plan) => { lowered++; return lower0(plan); };
    const exe = await compileWith(g, backend);
    expect(Array.from((await exe.run({ x: Float32Array.of(1, 2, 3, 3, 4, 5) }, { y })).y.data)).toEqual([2, 3, 4]);
    expect(Array.from((await exe.run({ x: Float32Array.of(1, 2, 3) }, { y })).y.data)).toEqual([1, 2, 3]);
    await exe.run({ x: Float32Array.of(0, 0, 0, 0, 0, 0) }, { y });
    expect(lowered).toBe(2);
  });

  it('runs training updates at the end of a step, reading start-of-step values', async () => {
    const g = new Graph();
    const p = g.param('p', [2], { init: [1, 2] });
    const q = g.param('q', [2], { init: [10, 20] });
    g.assign(p, q);
    g.assign(q, p.add(q));
    const exe = await compileWith(g, createReferenceBackend());
    await exe.run({}, { p }, { train: true });
    expect(Array.from((await exe.getParam('p')).data)).toEqual([10, 20]);
    expect(Array.from((await exe.getParam('q')).data)).toEqual([11, 22]);
    exe.resetParams();
    expect(Array.from((await exe.getParam('q')).data)).toEqual([10, 20]);
    expect(evaluate(g, {}, { p }).p.data[0]).toBe(1);
  });
});

// Every row of the op table through the compiler (fusion, folding, planning) on the host backend.
describe.each(OP_CASES.filter((c) => !c.large).map((c) => [c.label ? `${c.op} (${c.label})` : c.op, c] as const))('plan parity %s', (_, c) => {
  it('matches the evaluator', () => checkParity(c, async () => createReferenceBackend()));
});
