// The expression interpreter the reference backend runs fused kernels with.
import { compileWith, createReferenceBackend, E, type Expr, evaluate, exprEvaluator, Graph } from '@kiln/core';

describe('exprEvaluator', () => {
  it('evaluates a shared subexpression once: a 40-deep DAG of 2^40 paths is linear work', () => {
    const x = E.arg(0, 'f32');
    let e: Expr = x;
    for (let i = 0; i < 40; i++) e = E.mul(E.add(e, e), E.lit(0.5, 'f32')); // e stays x, through 2^40 paths
    const f = exprEvaluator(e);
    expect(f([3], 0, 0)).toBe(3);
    expect(f([-0.25], 0, 0)).toBe(-0.25);
  });

  it('select, casts, index and step read the values of their own operands', () => {
    const x = E.arg(0, 'f32');
    const f = exprEvaluator(E.select(E.lt(x, E.lit(0, 'f32')), E.cast(E.index(), 'f32'), E.cast(E.cast(x, 'i32'), 'f32')));
    expect(f([-1], 7, 0)).toBe(7);
    expect(f([2.9], 7, 0)).toBe(2);
    expect(f([NaN], 7, 0)).toBe(0); // NaN < 0 is false; cast of NaN to i32 is 0
  });

  it('a fused chain of tanh (each reuses its argument) runs on the reference backend', async () => {
    const g = new Graph();
    const x = g.input('x', [3]);
    let y = x;
    for (let i = 0; i < 24; i++) y = y.tanh().mul(1.5);
    const exe = await compileWith(g, createReferenceBackend());
    const xs = new Float32Array([-0.5, 0.1, 2]);
    const got = (await exe.run({ x: xs }, { y })).y.data as Float32Array;
    const want = evaluate(g, { x: xs }, { y }).y.data as ArrayLike<number>;
    for (let i = 0; i < 3; i++) expect(got[i]).toBeCloseTo(want[i]!, 5);
  });
});
