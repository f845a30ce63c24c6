// Autodiff behaviour beyond the per-op table: stopGradient, second derivatives, errors.
import { evaluate, Graph, GradientError } from '@kiln/core';

describe('autodiff', () => {
  it('stopGradient blocks the gradient', () => {
    const g = new Graph();
    const x = g.input('x', [3]);
    const [dx] = g.grad(x.stopGradient().mul(x).sum(), [x]);
    expect(Array.from(evaluate(g, { x: [1, 2, 3] }, { dx: dx! }).dx.data)).toEqual([1, 2, 3]);
  });

  it('takes second derivatives of elementwise ops and matmul', () => {
    const g = new Graph();
    const x = g.input('x', [3]);
    const y = x.pow(3).add(x.sin()).sum(); // y' = 3x^2 + cos x, y'' = 6x - sin x
    const [d1] = g.grad(y, [x]);
    const [d2] = g.grad(d1!.sum(), [x]);
    const xs = [0.5, -1, 2];
    const r = evaluate(g, { x: xs }, { d1: d1!, d2: d2! });
    xs.forEach((v, i) => {
      expect(r.d1.data[i]).toBeCloseTo(3 * v * v + Math.cos(v), 10);
      expect(r.d2.data[i]).toBeCloseTo(6 * v - Math.sin(v), 10);
    });
    const a = g.input('a', [2, 2]);
    const q = a.matmul(a).sum(); // d/da sum(A A) = 1 A^T + A^T 1 ; second derivative w.r.t. a of sum(grad) is constant
    const [ga] = g.grad(q, [a]);
    const [gga] = g.grad(ga!.sum(), [a]);
    const rr = evaluate(g, { a: [1, 2, 3, 4] }, { ga: ga!, gga: gga! });
    expect(Array.from(rr.ga.data)).toEqual([1 + 2 + 1 + 3, 3 + 4 + 1 + 3, 1 + 2 + 2 + 4, 3 + 4 + 2 + 4]);
    expect(Array.from(rr.gga.data)).toEqual([4, 4, 4, 4]);
  });

  it('accumulates gradients of a tensor used twice and undoes broadcasting', () => {
    const g = new Graph();
    const b = g.input('b', [3]);
    const x = g.input('x', [4, 3]);
    const [db] = g.grad(x.add(b).mul(b).sum(), [b]); // d/db sum((x+b) b) = sum_rows(x + 2b)
    const xs = Array.from({ length: 12 }, (_, i) => i);
    const r = evaluate(g, { b: [1, 2, 3], x: xs }, { db: db! });
    expect(Array.from(r.db.data)).toEqual([0 + 3 + 6 + 9 + 8, 1 + 4 + 7 + 10 + 16, 2 + 5 + 8 + 11 + 24]);
  });

  it('refuses a non-scalar without a seed, another graph, and non-differentiable inputs', () => {
    const g = new Graph();
    const x = g.input('x', [3]);
    expect(() => g.grad(x.exp(), [x])).toThrow(GradientError);
    expect(() => g.grad(x.exp(), [x])).toThrow(/not a scalar; pass a seed/);
    const other = new Graph().input('z', []);
    expect(() => g.grad(x.sum(), [other])).toThrow(/another graph/);
    const i = g.input('i', [3], 'i32');
    expect(() => g.grad(x.gather(i).sum(), [i])).toThrow(/i32, which is not differentiable/);
    const seed = g.input('s', [3]);
    const [dx] = g.grad(x.exp(), [x], seed);
    expect(Array.from(evaluate(g, { x: [0, 0, 0], s: [1, 2, 3] }, { dx: dx! }).dx.data)).toEqual([1, 2, 3]);
  });

  it('gives zeros for an input that does not reach the output', () => {
    const g = new Graph();
    const x = g.input('x', [2]);
    const y = g.input('y', [2]);
    const [dy] = g.grad(x.sum(), [y]);
    expect(Array.from(evaluate(g, { y: [1, 1] }, { dy: dy! }).dy.data)).toEqual([0, 0]);
  });

  it('joins the gradients of disjoint slices along one axis with one concat (linear in the slices), and still adds the rest', () => {
    const g = new Graph();
    const x = g.input('x', [2, 8]);
    // Eight steps each reading one column (an unrolled loop), one overlapping slice, and a gap (column 7 unread by the loop).
    let y = x.slice({ begin: [0, 1], size: [-1, 3] }).sum();
    for (let t = 0; t < 7; t++) y = y.add(x.slice({ begin: [0, t], size: [-1, 1] }).mul(t + 1).sum());
    const before = g.nodes.length;
    const [dx] = g.grad(y, [x]);
    const made = g.nodes.slice(before);
    // One concat of the 7 column pieces and the zero gap; full-size adds only for the overlapping slice.
    expect(made.filter((n) => n.op === 'concat')).toHaveLength(1);
    expect(made.filter((n) => n.op === 'add' && n.shape.join() === '2,8')).toHaveLength(1);
    const want = [1, 3, 4, 5, 5, 6, 7, 0];
    expect(Array.from(evaluate(g, { x: new Array(16).fill(0) }, { dx: dx! }).dx.data)).toEqual([...want, ...want]);
  });
});
